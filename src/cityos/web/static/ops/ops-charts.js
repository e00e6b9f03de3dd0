// KPI tiles (/api/ops/summary, trend against the previous period) and the four ECharts
// charts (/api/ops/series/*): cases per hour, top categories, SLA by department, sensor trend.
(function () {
  "use strict";
  var ops = window.CityOps;
  if (!ops) {
    return;
  }
  var tiles = document.getElementById("ops-tiles");
  var charts = {};
  var theme = ops.wall ? "dark" : null;
  var text = ops.wall ? "#e6edf3" : "#1c2733";

  // --- tiles ------------------------------------------------------------------------------
  function formatValue(value, unit) {
    if (value === null || value === undefined) {
      return "–";
    }
    if (unit === "pct") {
      return ops.number(value, 1) + "%";
    }
    if (unit === "hours") {
      return ops.t("hours", { value: ops.number(value, 1) });
    }
    return ops.number(value, 0);
  }

  function trend(tile) {
    if (typeof tile.value !== "number" || typeof tile.previous !== "number") {
      return null;
    }
    var diff = tile.value - tile.previous;
    var arrow = diff > 0 ? "▲" : diff < 0 ? "▼" : "▶";
    var tone = "neutral";
    if (diff !== 0 && tile.better) {
      tone = (diff > 0) === (tile.better === "up") ? "good" : "bad";
    }
    var node = ops.el("span", "trend " + tone, arrow);
    node.title = ops.t("previous", { value: formatValue(tile.previous, tile.unit) });
    node.dataset.tone = tone;
    return node;
  }

  function detail(tile) {
    var d = tile.detail || {};
    if (tile.key === "alerts_active" && d.by_severity) {
      return Object.keys(d.by_severity)
        .filter(function (key) {
          return d.by_severity[key];
        })
        .map(function (key) {
          return ops.t("severity." + key) + " " + d.by_severity[key];
        })
        .join(" · ");
    }
    if (tile.key === "sensors_reporting_pct" && d.datastreams !== undefined) {
      return ops.t("reporting_of", { reporting: ops.number(d.reporting, 0), of: ops.number(d.datastreams, 0) });
    }
    if (typeof tile.previous === "number") {
      return ops.t("previous", { value: formatValue(tile.previous, tile.unit) });
    }
    return "";
  }

  function drawTiles(data) {
    tiles.textContent = "";
    (data.tiles || []).forEach(function (tile) {
      var box = ops.el("article", "ops-tile");
      box.dataset.key = tile.key;
      box.dataset.testid = "tile-" + tile.key;
      box.appendChild(ops.el("h3", "", ops.t("tile." + tile.key)));
      var value = ops.el("div", "value");
      if (tile.available === false) {
        box.classList.add("unavailable");
        value.textContent = ops.t("not_installed");
      } else {
        value.textContent = formatValue(tile.value, tile.unit);
        var arrow = trend(tile);
        if (arrow) {
          value.appendChild(arrow);
        }
      }
      box.dataset.value = tile.value === null || tile.value === undefined ? "" : String(tile.value);
      box.appendChild(value);
      box.appendChild(ops.el("div", "detail", tile.available === false ? "" : detail(tile)));
      tiles.appendChild(box);
    });
    tiles.dataset.count = String((data.tiles || []).length);
    tiles.dataset.ready = "true";
  }

  function loadSummary() {
    return ops
      .latestJSON("summary", "/api/ops/summary?" + ops.query())
      .then(drawTiles)
      .catch(function (error) {
        tiles.dataset.ready = "error";
        tiles.textContent = ops.t("load_failed", { what: ops.t("tiles") }) + " " + error.message;
      });
  }

  // --- charts -----------------------------------------------------------------------------
  function chart(name) {
    if (!charts[name]) {
      var node = document.getElementById("chart-" + name);
      charts[name] = window.echarts.init(node, theme);
      if (resizer) {
        resizer.observe(node);
      }
    }
    return charts[name];
  }

  function base() {
    return {
      backgroundColor: "transparent",
      animationDuration: 300,
      textStyle: { fontSize: ops.wall ? 14 : 12 },
      grid: { left: 8, right: 12, top: 28, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis" },
    };
  }

  function done(name, points) {
    var node = document.getElementById("chart-" + name);
    node.dataset.points = String(points);
    node.dataset.ready = "true";
  }

  function broke(name) {
    return function (error) {
      var node = document.getElementById("chart-" + name);
      node.dataset.ready = "error";
      node.title = error.message;
    };
  }

  function hourLabel(iso) {
    var d = new Date(iso);
    return String(d.getHours()).padStart(2, "0") + ":00";
  }

  function loadCasesPerHour() {
    return ops
      .latestJSON("cases_per_hour", "/api/ops/series/cases_per_hour?" + ops.query())
      .then(function (data) {
        var option = base();
        option.legend = { top: 0, textStyle: { color: text } };
        option.xAxis = { type: "category", data: (data.hours || []).map(hourLabel) };
        option.yAxis = { type: "value", minInterval: 1 };
        option.series = [
          { name: ops.t("last_24h"), type: "line", smooth: true, data: data.current || [], areaStyle: { opacity: 0.15 } },
          { name: ops.t("last_week"), type: "line", smooth: true, data: data.last_week || [], lineStyle: { type: "dashed" } },
        ];
        chart("cases_per_hour").setOption(option, true);
        done("cases_per_hour", (data.current || []).length);
      })
      .catch(broke("cases_per_hour"));
  }

  function loadTopCategories() {
    return ops
      .latestJSON("top_categories", "/api/ops/series/top_categories?" + ops.query())
      .then(function (data) {
        var items = (data.items || []).slice().reverse();
        var option = base();
        option.tooltip = {
          trigger: "axis",
          axisPointer: { type: "shadow" },
          formatter: function (params) {
            var item = items[params[0].dataIndex];
            return ops.escapeHtml(ops.name(item) + ": " + ops.number(item.count, 0)); // HTML: escape
          },
        };
        option.xAxis = { type: "value", minInterval: 1 };
        option.yAxis = { type: "category", data: items.map(ops.name), axisLabel: { width: 110, overflow: "truncate" } };
        option.series = [{ type: "bar", data: items.map(function (i) { return i.count; }), itemStyle: { color: "#1f6feb" } }];
        chart("top_categories").setOption(option, true);
        done("top_categories", items.length);
      })
      .catch(broke("top_categories"));
  }

  function loadSla() {
    return ops
      .latestJSON("sla_by_department", "/api/ops/series/sla_by_department?" + ops.query())
      .then(function (data) {
        // horizontal bars, the worst department on top (a category axis runs bottom up)
        var items = (data.items || []).slice().sort(function (a, b) {
          return (b.pct === null ? 101 : b.pct) - (a.pct === null ? 101 : a.pct);
        });
        var option = base();
        option.tooltip = {
          trigger: "axis",
          axisPointer: { type: "shadow" },
          formatter: function (params) {
            var item = items[params[0].dataIndex];
            // the tooltip takes HTML: escape the department's name
            return ops.escapeHtml(
              ops.name(item) + ": " + ops.number(item.pct, 1) + "% (" + item.met + "/" + item.of + ")"
            );
          },
        };
        option.yAxis = { type: "category", data: items.map(ops.name), axisLabel: { interval: 0, width: 110, overflow: "truncate" } };
        option.xAxis = { type: "value", max: 100, axisLabel: { formatter: "{value}%" } };
        option.series = [
          {
            type: "bar",
            data: items.map(function (i) {
              return {
                value: i.pct === null ? 0 : Math.round(i.pct * 10) / 10,
                itemStyle: { color: i.pct >= 90 ? "#2b8a3e" : i.pct >= 70 ? "#f59f00" : "#c92a2a" },
              };
            }),
          },
        ];
        chart("sla_by_department").setOption(option, true);
        done("sla_by_department", items.length);
      })
      .catch(broke("sla_by_department"));
  }

  function loadSensorTrend() {
    var sensor = ops.sensor || {};
    var extra = sensor.datastream
      ? { datastream: sensor.datastream }
      : { observed_property: sensor.observedProperty };
    return ops
      .latestJSON("sensor_trend", "/api/ops/series/sensor_trend?" + ops.query(extra))
      .then(function (data) {
        var points = data.points || [];
        var caption = document.getElementById("caption-sensor_trend");
        caption.textContent = ops.t("sensor_trend_of", { label: data.label || "" });
        var option = base();
        option.xAxis = { type: "time", axisLabel: { hideOverlap: true } };
        option.yAxis = { type: "value", scale: true, name: data.unit || "" };
        // gaps (hours without readings) are bridged; sparse series show their points
        option.series = [
          { type: "line", showSymbol: points.length < 60, connectNulls: true, data: points, itemStyle: { color: "#0ca678" } },
        ];
        chart("sensor_trend").setOption(option, true);
        done(
          "sensor_trend",
          points.filter(function (p) {
            return p[1] !== null;
          }).length
        );
      })
      .catch(broke("sensor_trend"));
  }

  // the grid settles once the tiles load (and on the wall, with the window): follow it
  var resizer = window.ResizeObserver
    ? new window.ResizeObserver(function (entries) {
        entries.forEach(function (entry) {
          var name = entry.target.dataset.chart;
          if (charts[name]) {
            charts[name].resize();
          }
        });
      })
    : null;
  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (name) {
      charts[name].resize();
    });
  });

  ops.register("summary", loadSummary);
  ops.register("series", function () {
    loadCasesPerHour();
    loadTopCategories();
    loadSla();
  });
  ops.register("sensor_trend", loadSensorTrend);
})();
