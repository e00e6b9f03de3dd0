// Every htmx request carries the page's CSRF token (forms carry it as a hidden field).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (meta) {
      event.detail.headers["X-CSRF-Token"] = meta.content;
    }
  });
})();
