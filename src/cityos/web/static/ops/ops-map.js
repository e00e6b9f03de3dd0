// The map: sensors coloured by their latest value, active alerts pulsing by severity, recent
// cases clustered, the layer switcher and what a click shows in the side panel. The areas
// choropleth and the drill-down breadcrumb are in ops-areas.js.
(function () {
  "use strict";
  var ops = window.CityOps;
  var element = document.getElementById("ops-map");
  if (!ops || !element || !window.L) {
    return;
  }
  var L = window.L;
  var root = ops.root;
  var map = L.map(element, { zoomControl: true, maxZoom: 19 }).setView([30.2, 120.1], 11);
  if (root.dataset.tileUrl) {
    L.tileLayer(root.dataset.tileUrl, {
      attribution: root.dataset.tileAttribution || "",
      maxZoom: 19,
    }).addTo(map);
  }
  var propertySelect = document.getElementById("ops-property");
  var shown = {}; // layer name → is its checkbox ticked
  var groups = {
    areas: L.featureGroup(),
    sensors: L.featureGroup(),
    alerts: L.featureGroup(),
    cases: L.markerClusterGroup
      ? L.markerClusterGroup({ maxClusterRadius: 45, showCoverageOnHover: false })
      : L.featureGroup(),
  };
  var features = { areas: {}, alerts: {}, cases: {}, sensors: {} };
  ops.sensor = { observedProperty: "", datastream: null, label: "" };
  ops.mapkit = {}; // shared with ops-areas.js

  Array.prototype.forEach.call(document.querySelectorAll('#ops-layers input[name="layer"]'), function (box) {
    shown[box.value] = box.checked;
    if (box.checked) {
      groups[box.value].addTo(map);
    }
    box.addEventListener("change", function () {
      shown[box.value] = box.checked;
      if (box.checked) {
        groups[box.value].addTo(map);
      } else {
        map.removeLayer(groups[box.value]);
      }
      if (ops.mapkit.onToggle) {
        ops.mapkit.onToggle();
      }
    });
  });

  // A layer the API refused says so in a small notice on the map (one line per layer).
  var noticeBox = document.getElementById("ops-map-notice");
  var problems = {}; // layer name → message

  function notice(name, message) {
    if (message) {
      problems[name] = message;
    } else {
      delete problems[name];
    }
    noticeBox.textContent = "";
    Object.keys(problems).forEach(function (key) {
      var line = ops.el("p", "", problems[key]);
      line.dataset.layer = key;
      noticeBox.appendChild(line);
    });
    noticeBox.hidden = !Object.keys(problems).length;
  }

  function mark(name, count) {
    element.dataset[name] = String(count);
    element.dataset[name + "Loaded"] = "true";
    notice(name, null);
  }

  function failed(name) {
    return function (error) {
      element.dataset[name + "Loaded"] = "error";
      notice(name, ops.t("load_failed", { what: ops.t("layer." + name) }) + " " + error.message);
    };
  }

  // --- sensors ----------------------------------------------------------------------------
  var colour = window.cityosColourScale; // static/js/colour-scale.js

  function sensorSpec(props) {
    return {
      kind: "sensor",
      ref: props.datastream_id,
      title: props.name,
      facts: [
        [ops.t("thing"), props.thing],
        [ops.t("value"), ops.number(props.value, 2) + " " + (props.unit || ""), "sensor-value"],
        [ops.t("time"), ops.time(props.time)],
      ],
      link: { href: props.url || "/sensing/datastreams/" + props.datastream_id, text: ops.t("open_datastream") },
      actions: [],
      notes: null,
    };
  }

  function fillProperties(data) {
    var wanted = data.observed_property || "";
    var names = data.properties || [];
    var same =
      propertySelect.options.length === names.length &&
      names.every(function (name, i) {
        return propertySelect.options[i].value === name;
      });
    if (!same) {
      propertySelect.textContent = "";
      names.forEach(function (name) {
        var option = ops.el("option", "", name);
        option.value = name;
        propertySelect.appendChild(option);
      });
    }
    propertySelect.value = wanted;
    ops.sensor.observedProperty = wanted;
  }

  function loadSensors() {
    return ops
      .latestJSON("sensors", "/api/ops/layers/sensors?" + ops.query({ observed_property: ops.sensor.observedProperty }))
      .then(function (data) {
        fillProperties(data);
        var values = (data.features || [])
          .map(function (f) {
            return f.properties.value;
          })
          .filter(function (v) {
            return typeof v === "number";
          });
        var low = Math.min.apply(null, values.concat([Infinity]));
        var high = Math.max.apply(null, values.concat([-Infinity]));
        var span = high > low ? high - low : 1;
        groups.sensors.clearLayers();
        features.sensors = {};
        L.geoJSON(data, {
          pointToLayer: function (feature, latlng) {
            var value = feature.properties.value;
            return L.circleMarker(latlng, {
              radius: ops.wall ? 9 : 7,
              color: "#fff",
              weight: 1,
              fillColor: typeof value === "number" ? colour((value - low) / span) : "#868e96",
              fillOpacity: 0.95,
            });
          },
          onEachFeature: function (feature, layer) {
            var props = feature.properties;
            features.sensors[props.datastream_id] = props;
            layer.on("click", function (event) {
              L.DomEvent.stopPropagation(event);
              ops.panel.show(sensorSpec(props));
              ops.sensor.datastream = props.datastream_id;
              ops.sensor.label = props.name;
              ops.refresh(["sensor_trend"]);
            });
          },
        }).eachLayer(function (layer) {
          groups.sensors.addLayer(layer);
        });
        mark("sensors", (data.features || []).length);
      })
      .catch(failed("sensors"));
  }

  propertySelect.addEventListener("change", function () {
    ops.sensor.observedProperty = propertySelect.value;
    ops.sensor.datastream = null;
    ops.refresh(["sensors", "sensor_trend"]);
  });

  // A sensor clicked in one area or period is not what the trend should follow in another.
  ops.onFiltersChanged = function () {
    ops.sensor.datastream = null;
    ops.sensor.label = "";
    var current = ops.panel.current();
    if (current && current.kind === "sensor") {
      ops.panel.close();
    }
  };

  // --- alerts -----------------------------------------------------------------------------
  function alertSpec(props) {
    var actions = [];
    if (!props.acknowledged) {
      actions.push({
        label: ops.t("acknowledge"),
        testid: "acknowledge",
        run: function () {
          return ops.postJSON("/api/ops/alerts/" + props.id + "/acknowledge", {}).then(function () {
            props.acknowledged = true;
            ops.panel.show(alertSpec(props));
            ops.refresh(["alerts", "summary"]);
            return ops.t("acknowledged_done");
          });
        },
      });
    }
    var facts = [
      [ops.t("severity"), ops.t("severity." + props.severity)],
      [ops.t("started"), ops.time(props.started_at)],
      [ops.t("state"), props.acknowledged ? ops.t("acknowledged") : ops.t("not_acknowledged"), "alert-state"],
    ];
    if (props.case_id) {
      facts.push([ops.t("case"), { text: "#" + props.case_id, href: "/staff/cases/" + props.case_id }, "alert-case"]);
    }
    return {
      kind: "alert",
      ref: props.id,
      title: props.message,
      facts: facts,
      link: { href: props.url || "/sensing/alerts", text: ops.t("open_alerts") },
      actions: actions,
      notes: { type: "alert", ref: props.id },
      // no case yet: the dispatch form, on the rule's category when the alert names one
      dispatch: props.case_id
        ? null
        : {
            alertId: props.id,
            category: props.case_category || "",
            description: props.message || "",
            done: function (result) {
              props.case_id = result.case_id;
              ops.panel.show(alertSpec(props));
              ops.refresh(["alerts"]);
            },
          },
    };
  }

  function loadAlerts() {
    return ops
      .latestJSON("alerts", "/api/ops/layers/alerts?" + ops.query())
      .then(function (data) {
        groups.alerts.clearLayers();
        features.alerts = {};
        var size = ops.wall ? 24 : 18;
        var unacknowledged = 0;
        var ids = [];
        L.geoJSON(data, {
          pointToLayer: function (feature, latlng) {
            var props = feature.properties;
            var classes = ["ops-alert", "sev-" + props.severity, "ops-alert-" + props.id];
            if (!props.acknowledged) {
              classes.push("pulsing");
            }
            if (props.case_id) {
              classes.push("has-case");
            }
            return L.marker(latlng, {
              icon: L.divIcon({ className: classes.join(" "), iconSize: [size, size] }),
              title: props.message,
              riseOnHover: true,
              zIndexOffset: 1000,
            });
          },
          onEachFeature: function (feature, layer) {
            var props = feature.properties;
            features.alerts[props.id] = props;
            ids.push(props.id);
            if (!props.acknowledged) {
              unacknowledged += 1;
            }
            layer.on("click", function (event) {
              L.DomEvent.stopPropagation(event);
              ops.panel.show(alertSpec(props));
            });
          },
        }).eachLayer(function (layer) {
          groups.alerts.addLayer(layer);
        });
        element.dataset.alertIds = ids.join(",");
        element.dataset.alertsUnacknowledged = String(unacknowledged);
        mark("alerts", ids.length);
        var current = ops.panel.current();
        if (current && current.kind === "alert") {
          var props = features.alerts[current.ref];
          if (props) {
            ops.panel.show(alertSpec(props));
          } else {
            ops.panel.say(ops.t("alert_gone"));
          }
        }
      })
      .catch(failed("alerts"));
  }

  // --- cases ------------------------------------------------------------------------------
  var statusColours = {
    submitted: "#1c7ed6",
    acknowledged: "#7048e8",
    in_progress: "#f08c00",
    action_scheduled: "#f08c00",
    reopened: "#e03131",
    resolved: "#2b8a3e",
    closed: "#868e96",
  };

  function caseSpec(props) {
    return {
      kind: "case",
      ref: props.id,
      title: "#" + props.id + " " + ops.name(props),
      facts: [
        [ops.t("status"), ops.t("status." + props.status), "case-status"],
        [ops.t("priority"), ops.t("priority." + props.priority)],
        [ops.t("requested"), ops.time(props.requested_at)],
      ],
      link: { href: props.url || "/staff/cases/" + props.id, text: ops.t("open_case") },
      actions: [],
      notes: { type: "case", ref: props.id },
    };
  }

  function loadCases() {
    return ops
      .latestJSON("cases", "/api/ops/layers/cases?" + ops.query())
      .then(function (data) {
        groups.cases.clearLayers();
        features.cases = {};
        var newest = 0;
        var markers = [];
        L.geoJSON(data, {
          pointToLayer: function (feature, latlng) {
            return L.circleMarker(latlng, {
              radius: ops.wall ? 8 : 6,
              color: "#fff",
              weight: 1,
              fillColor: statusColours[feature.properties.status] || "#1c7ed6",
              fillOpacity: 0.9,
            });
          },
          onEachFeature: function (feature, layer) {
            var props = feature.properties;
            features.cases[props.id] = props;
            newest = Math.max(newest, props.id);
            layer.on("click", function (event) {
              L.DomEvent.stopPropagation(event);
              ops.panel.show(caseSpec(props));
            });
          },
        }).eachLayer(function (layer) {
          markers.push(layer);
        });
        if (groups.cases.addLayers) {
          groups.cases.addLayers(markers);
        } else {
          markers.forEach(function (marker) {
            groups.cases.addLayer(marker);
          });
        }
        element.dataset.newestCase = String(newest);
        element.dataset.casesTotal = String(data.total === undefined ? markers.length : data.total);
        mark("cases", markers.length);
        var current = ops.panel.current();
        if (current && current.kind === "case" && features.cases[current.ref]) {
          ops.panel.show(caseSpec(features.cases[current.ref]));
        }
      })
      .catch(failed("cases"));
  }

  // --- a click on the map itself: dispatch a case at that point ---------------------------
  // (a click on an area does the same, with the area's details: see ops-areas.js)
  function pointOf(latlng) {
    return { lon: Math.round(latlng.lng * 1e6) / 1e6, lat: Math.round(latlng.lat * 1e6) / 1e6 };
  }

  function dispatchAt(latlng) {
    var at = pointOf(latlng);
    return { lon: at.lon, lat: at.lat, category: "", description: "" };
  }

  map.on("click", function (event) {
    var at = pointOf(event.latlng);
    ops.panel.show({
      kind: "point",
      ref: at.lon + "," + at.lat,
      title: ops.t("dispatch_here"),
      facts: [[ops.t("position"), at.lat.toFixed(5) + ", " + at.lon.toFixed(5)]],
      actions: [],
      notes: null,
      dispatch: dispatchAt(event.latlng),
    });
  });

  if (window.ResizeObserver) {
    // the tiles above the map take their height once they load: keep Leaflet's size right
    new window.ResizeObserver(function () {
      map.invalidateSize();
    }).observe(element);
  }

  ops.register("sensors", loadSensors);
  ops.register("alerts", loadAlerts);
  ops.register("cases", loadCases);
  ops.map = map;
  ops.mapkit.map = map;
  ops.mapkit.element = element;
  ops.mapkit.groups = groups;
  ops.mapkit.shown = shown;
  ops.mapkit.mark = mark;
  ops.mapkit.notice = notice;
  ops.mapkit.dispatchAt = dispatchAt;
})();
