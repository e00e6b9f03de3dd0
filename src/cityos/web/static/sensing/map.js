// The sensors map: each datastream's latest reading as a marker, coloured from green (low)
// to red (high) within its observed property's range; the filters reload the markers.
(function () {
  "use strict";
  var element = document.getElementById("sensor-map");
  var form = document.getElementById("sensor-filters");
  var status = document.getElementById("map-status");
  if (!element || !window.L) {
    return;
  }
  var map = window.L.map(element, { preferCanvas: false }).setView([30.27, 120.16], 12);
  var layer = null;
  if (element.dataset.tileUrl) {
    window.L.tileLayer(element.dataset.tileUrl, {
      attribution: element.dataset.tileAttribution || "",
      maxZoom: 19,
    }).addTo(map);
  }

  function say(text) {
    status.textContent = text;
  }

  function outlineDistricts() {
    fetch("/api/geo/areas?level=district")
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (collection) {
        if (collection && collection.features && collection.features.length) {
          var outline = window.L.geoJSON(collection, {
            style: { color: "#1f6feb", weight: 1, fill: false },
            interactive: false,
          }).addTo(map);
          outline.bringToBack();
          if (!layer || !layer.getLayers().length) {
            map.fitBounds(outline.getBounds());
          }
        }
      })
      .catch(function () {});
  }

  var colour = window.cityosColourScale; // static/js/colour-scale.js

  // Per observed property, the 5th and 95th percentile of the latest values.
  function ranges(features) {
    var byProperty = {};
    features.forEach(function (feature) {
      var value = feature.properties.result;
      if (typeof value !== "number") {
        return;
      }
      var key = feature.properties.observed_property.id;
      (byProperty[key] = byProperty[key] || []).push(value);
    });
    var out = {};
    Object.keys(byProperty).forEach(function (key) {
      var values = byProperty[key].sort(function (a, b) {
        return a - b;
      });
      var low = values[Math.floor((values.length - 1) * 0.05)];
      var high = values[Math.floor((values.length - 1) * 0.95)];
      out[key] = [low, high > low ? high : low + 1];
    });
    return out;
  }

  function popup(properties) {
    var box = document.createElement("div");
    var title = document.createElement("strong");
    title.textContent = properties.thing.name;
    box.appendChild(title);
    box.appendChild(document.createElement("br"));
    var value = document.createElement("span");
    value.className = "sn-popup-value";
    var unit = (properties.datastream.unit && properties.datastream.unit.symbol) || "";
    value.textContent = String(properties.result) + " " + unit;
    box.appendChild(value);
    box.appendChild(document.createElement("br"));
    var when = new Date(properties.phenomenon_time);
    box.appendChild(
      document.createTextNode(element.dataset.labelAt + " " + when.toLocaleString())
    );
    box.appendChild(document.createElement("br"));
    var link = document.createElement("a");
    link.href = "/sensing/datastreams/" + properties.datastream.id;
    link.textContent = element.dataset.labelOpen;
    box.appendChild(link);
    return box;
  }

  function draw(collection) {
    if (layer) {
      map.removeLayer(layer);
    }
    var scale = ranges(collection.features);
    layer = window.L.geoJSON(collection, {
      pointToLayer: function (feature, latlng) {
        var value = feature.properties.result;
        var range = scale[feature.properties.observed_property.id];
        var fill = "#868e96";
        if (typeof value === "number" && range) {
          fill = colour((value - range[0]) / (range[1] - range[0]));
        }
        return window.L.circleMarker(latlng, {
          radius: 6,
          color: "#fff",
          weight: 1,
          fillColor: fill,
          fillOpacity: 0.9,
        });
      },
      onEachFeature: function (feature, marker) {
        marker.bindPopup(function () {
          return popup(feature.properties);
        });
      },
    }).addTo(map);
    var count = collection.features.length;
    if (count) {
      map.fitBounds(layer.getBounds(), { maxZoom: 15, padding: [20, 20] });
    }
    element.dataset.markers = String(count);
    element.dataset.ready = "true";
    say(status.dataset.count.replace("{count}", count.toLocaleString()));
  }

  function load(url) {
    element.dataset.ready = "false";
    say(status.dataset.loading);
    fetch(url, { headers: { Accept: "application/geo+json, application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(draw)
      .catch(function () {
        element.dataset.ready = "error";
        say(status.dataset.failed);
      });
  }

  if (form) {
    form.addEventListener("change", function () {
      var params = new URLSearchParams(new FormData(form));
      Array.from(params.keys()).forEach(function (key) {
        if (!params.get(key)) {
          params.delete(key);
        }
      });
      var query = params.toString();
      window.history.replaceState(null, "", "/sensing" + (query ? "?" + query : ""));
      params.set("format", "geojson");
      load("/api/sensing/latest?" + params.toString());
    });
  }
  outlineDistricts();
  load(element.dataset.api);
})();
