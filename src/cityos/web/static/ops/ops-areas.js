// The areas choropleth (open cases or SLA breaches per district / sub-district / grid cell,
// with its legend) and the breadcrumb of the drill-down city → district → grid cell.
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

  function drawLegend(problem) {
    legend.textContent = "";
    if (!shown.areas) {
      return;
    }
    legend.appendChild(ops.el("strong", "", ops.t("legend." + legendMetric)));
    if (problem) {
      legend.appendChild(ops.el("p", "", problem));
      return;
    }
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

  function areaSpec(props) {
    var actions = [];
    if (props.level !== "grid") {
      actions.push({
        label: ops.t("drill_down"),
        testid: "drill-down",
        run: function () {
          ops.setFilters({ area: props.code });
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
    };
  }

  function loadAreas() {
    var metric = metricSelect.value;
    return ops
      .getJSON("/api/ops/layers/areas?" + ops.query({ metric: metric }))
      .then(function (data) {
        var info = data.legend || {};
        legendMetric = info.metric || metric;
        bounds = (info.breaks || []).filter(function (b) {
          return typeof b === "number" && b > 0;
        });
        groups.areas.clearLayers();
        L.geoJSON(data, {
          style: function (feature) {
            return {
              color: ops.wall ? "#8ea1b5" : "#14325c",
              weight: 1,
              fillColor: classColours[areaClass(feature.properties.value)],
              fillOpacity: 0.55,
            };
          },
          onEachFeature: function (feature, layer) {
            layer.on("click", function (event) {
              L.DomEvent.stopPropagation(event);
              ops.panel.show(areaSpec(feature.properties));
            });
            layer.bindTooltip(ops.name(feature.properties) + ": " + ops.number(feature.properties.value, 0));
          },
        }).eachLayer(function (layer) {
          groups.areas.addLayer(layer);
        });
        groups.areas.bringToBack();
        var count = (data.features || []).length;
        element.dataset.areasLevel = data.level || "";
        if (fitPending && count) {
          map.fitBounds(groups.areas.getBounds(), { padding: [10, 10] });
          fitPending = false;
        }
        drawLegend();
        mark("areas", count);
      })
      .catch(function (error) {
        groups.areas.clearLayers();
        element.dataset.areasLoaded = "error";
        drawLegend(error.message);
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
      return Promise.resolve();
    }
    return ops
      .getJSON("/api/geo/areas/" + encodeURIComponent(code))
      .then(function (area) {
        var props = area.properties;
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
      .catch(function () {});
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
