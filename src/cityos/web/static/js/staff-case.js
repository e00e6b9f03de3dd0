// The staff case page: a map of the case (and of nearby open cases of the same kind), and
// the status form showing the close reason and photo fields only when they apply.
(function () {
  "use strict";
  var element = document.getElementById("case-map");
  if (element && window.L) {
    var L = window.L;
    var point = [parseFloat(element.dataset.lat), parseFloat(element.dataset.lon)];
    var map = L.map(element, { preferCanvas: true }).setView(point, 16);
    if (element.dataset.tileUrl) {
      L.tileLayer(element.dataset.tileUrl, {
        attribution: element.dataset.tileAttribution,
        maxZoom: 19,
      }).addTo(map);
    }
    L.circleMarker(point, { radius: 9, color: "#fff", weight: 2, fillColor: "#1f6feb", fillOpacity: 1 })
      .bindTooltip(element.dataset.label, { permanent: false })
      .addTo(map);
    fetch("/api/geo/areas?level=district")
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (collection) {
        if (collection) {
          L.geoJSON(collection, {
            style: { color: "#1f6feb", weight: 1, fill: false },
            interactive: false,
          })
            .addTo(map)
            .bringToBack();
        }
      })
      .catch(function () {});
    var bounds = L.latLngBounds([point]);
    document.querySelectorAll(".candidates li[data-lat]").forEach(function (item) {
      var where = [parseFloat(item.dataset.lat), parseFloat(item.dataset.lon)];
      L.circleMarker(where, { radius: 6, color: "#fff", weight: 1, fillColor: "#868e96", fillOpacity: 0.9 })
        .bindTooltip("#" + item.dataset.id)
        .addTo(map);
      bounds.extend(where);
    });
    if (bounds.isValid() && !bounds.getNorthEast().equals(bounds.getSouthWest())) {
      map.fitBounds(bounds, { maxZoom: 17, padding: [24, 24] });
    }
    element.dataset.ready = "true";
  }

  var choice = document.getElementById("status-choice");
  if (choice) {
    var form = choice.closest("form");
    var reason = form.querySelector(".close-reason");
    var photos = form.querySelector(".resolution-photos");
    var update = function () {
      reason.hidden = choice.value !== "closed";
      photos.hidden = choice.value !== "resolved";
    };
    choice.addEventListener("change", update);
    update();
  }
})();
