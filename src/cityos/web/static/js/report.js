// Citizen pages. The report form: a map to mark the place, the device's location, and the
// open cases of the same service nearby (an htmx fragment). The tracking page: a small map.
// Without JavaScript both pages still work as plain forms (the place as address text).
(function () {
  "use strict";

  function baseMap(element, options) {
    var L = window.L;
    var map = L.map(element, options);
    if (element.dataset.tileUrl) {
      L.tileLayer(element.dataset.tileUrl, {
        attribution: element.dataset.tileAttribution,
        maxZoom: 19,
      }).addTo(map);
    }
    return map;
  }

  function cityOutline(map, fit) {
    var L = window.L;
    return fetch("/api/geo/areas?level=city")
      .then(function (response) {
        return response.json();
      })
      .then(function (collection) {
        var layer = L.geoJSON(collection, {
          style: { color: "#14325c", weight: 2, fill: false },
          interactive: false,
        }).addTo(map);
        if (fit && collection.features.length) {
          map.fitBounds(layer.getBounds());
        }
      });
  }

  function setupReport() {
    var element = document.getElementById("report-map");
    if (!element || !window.L) {
      return;
    }
    var L = window.L;
    var latInput = document.getElementById("lat");
    var lonInput = document.getElementById("lon");
    var pointText = document.getElementById("point-text");
    var status = document.getElementById("location-status");
    var locateButton = document.getElementById("use-location");
    var serviceInput = document.getElementById("service-code");
    var map = baseMap(element, { zoomSnap: 0.25 });
    var marker = null;
    var nearbyLayer = L.layerGroup().addTo(map);
    map.setView([0, 0], 2);

    function showStatus(text) {
      status.textContent = text || "";
      status.hidden = !text;
    }

    function loadNearby() {
      var code = serviceInput ? serviceInput.value : "";
      nearbyLayer.clearLayers();
      if (!code || !latInput.value || !lonInput.value || !window.htmx) {
        return;
      }
      var query = new URLSearchParams({
        service_code: code,
        lat: latInput.value,
        lon: lonInput.value,
      });
      window.htmx.ajax("GET", "/report/nearby?" + query.toString(), {
        target: "#nearby",
        swap: "innerHTML",
      });
    }

    function checkInside(latlng) {
      fetch("/api/geo/locate?lon=" + latlng.lng + "&lat=" + latlng.lat)
        .then(function (response) {
          return response.json();
        })
        .then(function (result) {
          showStatus(result.inside ? "" : status.dataset.outside);
        })
        .catch(function () {
          showStatus("");
        });
    }

    function setPoint(latlng, zoom) {
      latInput.value = latlng.lat.toFixed(6);
      lonInput.value = latlng.lng.toFixed(6);
      if (marker) {
        marker.setLatLng(latlng);
      } else {
        marker = L.marker(latlng, { draggable: true, keyboard: false }).addTo(map);
        marker.on("dragend", function () {
          setPoint(marker.getLatLng());
        });
      }
      pointText.textContent =
        pointText.dataset.chosen + " " + latInput.value + ", " + lonInput.value;
      if (zoom) {
        map.setView(latlng, zoom);
      }
      checkInside(latlng);
      loadNearby();
    }

    map.on("click", function (event) {
      setPoint(event.latlng);
    });

    var hasPoint = latInput.value && lonInput.value;
    cityOutline(map, !hasPoint)
      .then(function () {
        element.dataset.ready = "true";
      })
      .catch(function () {
        element.dataset.ready = "error";
      });
    if (hasPoint) {
      setPoint(L.latLng(parseFloat(latInput.value), parseFloat(lonInput.value)), 16);
    }

    if (navigator.geolocation && locateButton) {
      locateButton.hidden = false;
      locateButton.addEventListener("click", function () {
        showStatus(status.dataset.locating);
        navigator.geolocation.getCurrentPosition(
          function (position) {
            showStatus("");
            setPoint(L.latLng(position.coords.latitude, position.coords.longitude), 17);
          },
          function () {
            showStatus(status.dataset.denied);
          },
          { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
        );
      });
    }

    if (serviceInput && serviceInput.tagName === "SELECT") {
      serviceInput.addEventListener("change", loadNearby);
    }

    // Show the nearby open cases on the map too.
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (!event.detail.target || event.detail.target.id !== "nearby") {
        return;
      }
      nearbyLayer.clearLayers();
      event.detail.target.querySelectorAll("[data-lat][data-lon]").forEach(function (item) {
        L.circleMarker([parseFloat(item.dataset.lat), parseFloat(item.dataset.lon)], {
          radius: 8,
          color: "#d9480f",
          weight: 2,
          fillOpacity: 0.5,
        })
          .bindTooltip("#" + item.dataset.case)
          .addTo(nearbyLayer);
      });
    });
  }

  function setupTrack() {
    var element = document.getElementById("track-map");
    if (!element || !window.L) {
      return;
    }
    var latlng = [parseFloat(element.dataset.lat), parseFloat(element.dataset.lon)];
    var map = baseMap(element, { scrollWheelZoom: false });
    map.setView(latlng, 16);
    window.L.marker(latlng, { keyboard: false }).addTo(map);
    cityOutline(map, false)
      .then(function () {
        element.dataset.ready = "true";
      })
      .catch(function () {
        element.dataset.ready = "error";
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupReport();
    setupTrack();
  });
})();
