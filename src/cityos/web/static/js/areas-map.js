// The areas map: every level of the hierarchy as a layer; a click shows the codes there.
(function () {
  "use strict";
  var element = document.getElementById("areas-map");
  if (!element || !window.L) {
    return;
  }
  var L = window.L;
  var lang = element.dataset.lang;
  var map = L.map(element, { preferCanvas: true, zoomSnap: 0.25 });
  map.setView([0, 0], 2);
  if (element.dataset.tileUrl) {
    L.tileLayer(element.dataset.tileUrl, {
      attribution: element.dataset.tileAttribution,
      maxZoom: 19,
    }).addTo(map);
  }
  var styles = {
    city: { color: "#14325c", weight: 3, fill: false },
    district: { color: "#1f6feb", weight: 2, fill: false },
    subdistrict: { color: "#4a90c2", weight: 1, dashArray: "4 3", fill: false },
    grid: { color: "#7a8f99", weight: 0.5, fillColor: "#cfe3ee", fillOpacity: 0.25 },
  };
  var order = ["grid", "subdistrict", "district", "city"];
  var control = L.control.layers(null, null, { collapsed: false }).addTo(map);
  var highlight = null;

  function levelName(level) {
    var item = document.querySelector(".legend-" + level);
    return item ? item.textContent : level;
  }

  function areaLabel(area) {
    var name = lang === "zh-CN" ? area.name_zh : area.name_en;
    return name && name !== area.code ? area.code + " · " + name : area.code;
  }

  Promise.all(
    order.map(function (level) {
      return fetch("/api/geo/areas?level=" + level).then(function (response) {
        return response.json();
      });
    })
  )
    .then(function (collections) {
      var bounds = null;
      collections.forEach(function (collection, index) {
        var level = order[index];
        var layer = L.geoJSON(collection, { style: styles[level], interactive: false });
        layer.addTo(map);
        control.addOverlay(layer, levelName(level));
        if (collection.features.length && (level === "city" || !bounds)) {
          bounds = layer.getBounds();
        }
      });
      if (bounds) {
        map.fitBounds(bounds);
      }
      element.dataset.ready = "true";
    })
    .catch(function () {
      element.dataset.ready = "error";
    });

  function show(result, latlng) {
    var info = document.getElementById("area-info");
    var outside = document.getElementById("area-outside");
    document.getElementById("area-hint").hidden = true;
    outside.hidden = result.inside;
    info.hidden = false;
    document.getElementById("area-point").textContent =
      latlng.lng.toFixed(6) + ", " + latlng.lat.toFixed(6);
    info.querySelectorAll("dd[data-level]").forEach(function (cell) {
      cell.textContent = "—";
    });
    result.areas.forEach(function (area) {
      var cell = info.querySelector('dd[data-level="' + area.level + '"]');
      if (cell) {
        cell.textContent = areaLabel(area);
      }
    });
    if (highlight) {
      map.removeLayer(highlight);
      highlight = null;
    }
    if (result.inside) {
      fetch("/api/geo/areas/" + encodeURIComponent(result.areas[0].code))
        .then(function (response) {
          return response.json();
        })
        .then(function (feature) {
          highlight = L.geoJSON(feature, {
            style: { color: "#d9480f", weight: 2, fillOpacity: 0.2 },
            interactive: false,
          }).addTo(map);
        });
    }
  }

  map.on("click", function (event) {
    var url = "/api/geo/locate?lon=" + event.latlng.lng + "&lat=" + event.latlng.lat;
    fetch(url)
      .then(function (response) {
        return response.json();
      })
      .then(function (result) {
        show(result, event.latlng);
      });
  });
})();
