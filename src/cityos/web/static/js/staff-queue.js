// The staff work queue: "select all" for bulk actions, and a map of the filtered cases
// (markers coloured by SLA state) that follows the filters as htmx swaps the list.
(function () {
  "use strict";
  var COLOURS = { ok: "#2b8a3e", at_risk: "#e67700", breached: "#c92a2a", none: "#868e96" };
  var element = document.getElementById("queue-map");
  var toggle = document.getElementById("queue-map-toggle");
  var note = document.getElementById("queue-map-note");
  var legend = document.getElementById("queue-map-legend");
  var map = null;
  var layer = null;

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.classList || !box.classList.contains("queue-select-all")) {
      return;
    }
    var form = box.closest("form");
    form.querySelectorAll('input[name="ids"]').forEach(function (item) {
      item.checked = box.checked;
    });
  });

  // District outlines, for orientation (also when no tile server is configured).
  function outlineDistricts(target) {
    fetch("/api/geo/areas?level=district")
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (collection) {
        if (collection && collection.features.length) {
          var outline = window.L.geoJSON(collection, {
            style: { color: "#1f6feb", weight: 1, fill: false },
            interactive: false,
          }).addTo(target);
          outline.bringToBack();
          if (!layer || !layer.getLayers().length) {
            target.fitBounds(outline.getBounds());
          }
        }
      })
      .catch(function () {});
  }

  function dataUrl() {
    var result = document.querySelector("#queue-list [data-map-url]");
    return result ? result.dataset.mapUrl : null;
  }

  function popup(properties) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.href = properties.url;
    link.textContent = "#" + properties.id;
    box.appendChild(link);
    box.appendChild(document.createTextNode(" · " + properties.service));
    box.appendChild(document.createElement("br"));
    box.appendChild(document.createTextNode(properties.status_label));
    return box;
  }

  function draw(collection) {
    if (layer) {
      map.removeLayer(layer);
    }
    layer = window.L.geoJSON(collection, {
      pointToLayer: function (feature, latlng) {
        var colour = COLOURS[feature.properties.sla] || COLOURS.none;
        return window.L.circleMarker(latlng, {
          radius: 7,
          color: "#fff",
          weight: 1,
          fillColor: colour,
          fillOpacity: 0.9,
        });
      },
      onEachFeature: function (feature, marker) {
        marker.bindPopup(popup(feature.properties));
      },
    }).addTo(map);
    if (collection.features.length) {
      map.fitBounds(layer.getBounds(), { maxZoom: 16, padding: [20, 20] });
    }
    note.hidden = !collection.truncated;
    note.textContent = collection.truncated
      ? element.dataset.truncated
          .replace("{shown}", collection.features.length)
          .replace("{total}", collection.total)
      : "";
    element.dataset.ready = "true";
  }

  function refresh() {
    var url = dataUrl();
    if (!map || element.hidden || !url) {
      return;
    }
    fetch(url, { headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : Promise.reject(response.status);
      })
      .then(draw)
      .catch(function () {
        element.dataset.ready = "error";
      });
  }

  function show() {
    element.hidden = false;
    legend.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    if (!map) {
      map = window.L.map(element, { preferCanvas: true });
      map.setView([0, 0], 2);
      if (element.dataset.tileUrl) {
        window.L.tileLayer(element.dataset.tileUrl, {
          attribution: element.dataset.tileAttribution,
          maxZoom: 19,
        }).addTo(map);
      }
      outlineDistricts(map);
    }
    map.invalidateSize();
    refresh();
  }

  function hide() {
    element.hidden = true;
    legend.hidden = true;
    note.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
  }

  if (element && toggle && window.L) {
    toggle.addEventListener("click", function () {
      if (element.hidden) {
        show();
      } else {
        hide();
      }
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target && event.detail.target.id === "queue-list") {
        refresh();
      }
    });
  }
})();
