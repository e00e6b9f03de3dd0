// The areas choropleth (open cases or SLA breaches per district / sub-district / grid cell,
// with its legend) and the breadcrumb of the drill-down city → district → grid cell. When the
// area is a grid cell, the layer holds its sibling cells and the chosen one ("selected") is
// outlined and framed.
(function () {
  "use strict";
  var ops = window.CityOps;
  var kit = ops && ops.mapkit;
  if (!kit || !kit.map) {
    return;
  }
  var L = window.L;
  var root = ops.root;
  var map = kit.map;
  var element = kit.element;
  var groups = kit.groups;
  var shown = kit.shown;
  var mark = kit.mark;
  var metricSelect = document.getElementById("ops-metric");
  var legend = document.getElementById("ops-legend");
  var crumbs = document.getElementById("ops-crumbs");
  var fitPending = true;
  var crumbArea = null;

  // --- areas ------------------------------------------------------------------------------
  // Classes: 0 for areas with nothing, then one per legend break (upper bounds, ascending).
  var classColours = ["#f1f3f5", "#fee6ce", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603"];
  var bounds = [];
  var legendMetric = "open";

  function areaClass(value) {
    if (!value || value <= 0) {
      return 0;
    }
    for (var i = 0; i < bounds.length; i += 1) {
      if (value <= bounds[i]) {
        return Math.min(i + 1, classColours.length - 1);
      }
    }
    return classColours.length - 1;
  }

  function drawLegend() {
    legend.textContent = "";
    if (!shown.areas || element.dataset.areasLoaded !== "true") {
      return;
    }
    legend.appendChild(ops.el("strong", "", ops.t("legend." + legendMetric)));
    var list = ops.el("ul");
    var rows = [["0", 0]];
    var lower = 1;
    bounds.forEach(function (bound, i) {
      rows.push([lower >= bound ? ops.number(bound, 0) : ops.number(lower, 0) + "–" + ops.number(bound, 0), i + 1]);
      lower = bound + 1;
    });
    rows.forEach(function (row) {
      var item = ops.el("li");
      item.appendChild(ops.el("span", "ops-swatch ops-c" + Math.min(row[1], classColours.length - 1)));
      item.appendChild(document.createTextNode(row[0]));
      list.appendChild(item);
    });
    legend.appendChild(list);
  }

  function areaSpec(props, latlng) {
    var actions = [];
    if (!props.selected && props.code !== ops.state.area) {
      actions.push({
        label: ops.t("drill_down"),
        testid: "drill-down",
        run: function () {
          ops.setFilters({ area: props.code });
          ops.panel.show(areaSpec(props, latlng)); // drilled in: no drill-down button now
          return Promise.resolve("");
        },
      });
    }
    return {
      kind: "area",
      ref: props.code,
      title: ops.name(props) + " (" + props.code + ")",
      facts: [
        [ops.t("level"), ops.t("level." + props.level)],
        [ops.t("legend." + legendMetric), ops.number(props.value, 0), "area-value"],
      ],
      link: null, // an area's "full page" is this screen drilled down to it
      actions: actions,
      notes: { type: "area", ref: props.code },
      latlng: latlng,
      dispatch: latlng ? kit.dispatchAt(latlng) : null, // a case at the point clicked
    };
  }

  function loadAreas() {
    var metric = metricSelect.value;
    return ops
      .latestJSON("areas", "/api/ops/layers/areas?" + ops.query({ metric: metric }))
      .then(function (data) {
        var info = data.legend || {};
        legendMetric = info.metric || metric;
        bounds = (info.breaks || []).filter(function (b) {
          return typeof b === "number" && b > 0;
        });
        groups.areas.clearLayers();
        var selected = null;
        L.geoJSON(data, {
          style: function (feature) {
            var chosen = feature.properties.selected === true;
            return {
              color: chosen ? (ops.wall ? "#ffd43b" : "#1f6feb") : ops.wall ? "#8ea1b5" : "#14325c",
              weight: chosen ? 4 : 1,
              fillColor: classColours[areaClass(feature.properties.value)],
              fillOpacity: chosen ? 0.7 : 0.4,
              className: chosen ? "ops-area-selected" : "ops-area",
            };
          },
          onEachFeature: function (feature, layer) {
            var props = feature.properties;
            if (props.selected === true) {
              selected = layer;
            }
            layer.on("click", function (event) {
              L.DomEvent.stopPropagation(event);
              ops.panel.show(areaSpec(props, event.latlng));
            });
            // a tooltip's string is HTML: the name is data, so escape it
            layer.bindTooltip(ops.escapeHtml(ops.name(props) + ": " + ops.number(props.value, 0)));
          },
        }).eachLayer(function (layer) {
          groups.areas.addLayer(layer);
        });
        groups.areas.bringToBack();
        if (selected) {
          selected.bringToFront(); // its outline above its neighbours'
        }
        var count = (data.features || []).length;
        element.dataset.areasLevel = data.level || "";
        element.dataset.areasSelected = selected ? selected.feature.properties.code : "";
        if (fitPending && count) {
          map.fitBounds((selected || groups.areas).getBounds(), { padding: [10, 10] });
          fitPending = false;
        }
        mark("areas", count);
        drawLegend();
        // the area in the panel: its new value (and, once drilled into, no drill-down button)
        var current = ops.panel.current();
        if (current && current.kind === "area") {
          (data.features || []).forEach(function (feature) {
            if (feature.properties.code === current.ref) {
              ops.panel.show(areaSpec(feature.properties, current.latlng));
            }
          });
        }
      })
      .catch(function (error) {
        groups.areas.clearLayers();
        bounds = [];
        delete element.dataset.areasSelected;
        element.dataset.areasLoaded = "error";
        drawLegend();
        kit.notice("areas", ops.t("load_failed", { what: ops.t("layer.areas") }) + " " + error.message);
      });
  }

  // --- the breadcrumb of the area drill-down ----------------------------------------------
  function crumb(code, label, here) {
    var node;
    if (here) {
      node = ops.el("span", "", label);
      node.setAttribute("aria-current", "location");
    } else {
      node = ops.el("a", "", label);
      node.href = root.dataset.basePath + "?" + new URLSearchParams({ range: ops.state.range, area: code }).toString();
      node.addEventListener("click", function (event) {
        event.preventDefault();
        ops.setFilters({ area: code });
      });
    }
    node.dataset.area = code;
    return node;
  }

  function loadCrumbs() {
    var code = ops.state.area;
    if (code !== crumbArea) {
      fitPending = true; // a new area: frame it once its areas arrive
      crumbArea = code;
    }
    crumbs.textContent = "";
    crumbs.appendChild(crumb("", ops.t("whole_city"), !code));
    if (!code) {
      kit.notice("crumbs", null);
      return Promise.resolve();
    }
    return ops
      .latestJSON("crumbs", "/api/geo/areas/" + encodeURIComponent(code))
      .then(function (area) {
        if (ops.state.area !== code) {
          return; // answered after a move back to the whole city
        }
        var props = area.properties;
        kit.notice("crumbs", null);
        crumbs.textContent = "";
        crumbs.appendChild(crumb("", ops.t("whole_city"), false));
        (props.ancestors || [])
          .slice()
          .reverse()
          .filter(function (a) {
            return a.level !== "city";
          })
          .forEach(function (a) {
            crumbs.appendChild(crumb(a.code, ops.name(a), false));
          });
        crumbs.appendChild(crumb(code, ops.name(props), true));
        ops.syncAreaSelect(ops.name(props));
      })
      .catch(function (error) {
        if (ops.state.area === code) {
          kit.notice("crumbs", error.message);
        } // the breadcrumb stays at the whole city
      });
  }

  metricSelect.addEventListener("change", function () {
    ops.refresh(["areas"]);
  });

  kit.onToggle = function () {
    drawLegend();
  };
  ops.register("crumbs", loadCrumbs);
  ops.register("areas", loadAreas);
})();
