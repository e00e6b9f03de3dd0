// Starts Swagger UI from our own copy (no CDN, no inline script).
window.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var element = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: element.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
  });
});
