// A datastream's chart: its rollups from the aggregate API as a time series (ECharts);
// the range and the function choose the window, the interval and what each point is.
(function () {
  "use strict";
  var element = document.getElementById("datastream-chart");
  var range = document.getElementById("chart-range");
  var fn = document.getElementById("chart-fn");
  var status = document.getElementById("chart-status");
  if (!element || !window.echarts) {
    return;
  }
  var chart = window.echarts.init(element);
  var WINDOWS = { "6h": 6 * 3600e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };

  function load() {
    var parts = range.value.split("|");
    var end = new Date();
    var start = new Date(end.getTime() - WINDOWS[parts[0]]);
    var params = new URLSearchParams({
      interval: parts[1],
      fn: fn.value,
      from: start.toISOString(),
      to: end.toISOString(),
    });
    element.dataset.ready = "false";
    fetch(element.dataset.api + "?" + params.toString(), { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(draw)
      .catch(function () {
        element.dataset.ready = "error";
        status.textContent = element.dataset.failed;
      });
  }

  function draw(body) {
    var points = body.buckets
      .filter(function (bucket) {
        return bucket.v !== null && bucket.v !== undefined;
      })
      .map(function (bucket) {
        return [bucket.t, bucket.v];
      });
    var unit = element.dataset.unit;
    chart.setOption(
      {
        animation: false,
        tooltip: { trigger: "axis" },
        grid: { left: 60, right: 20, top: 30, bottom: 50 },
        xAxis: { type: "time" },
        yAxis: { type: "value", name: unit, scale: true },
        dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 8 }],
        series: [
          {
            name: element.dataset.name + " (" + fn.value + ")",
            type: "line",
            showSymbol: points.length < 60,
            data: points,
            lineStyle: { width: 1.5 },
          },
        ],
      },
      true
    );
    element.dataset.points = String(points.length);
    element.dataset.ready = "true";
    status.textContent = points.length ? "" : element.dataset.empty;
  }

  range.addEventListener("change", load);
  fn.addEventListener("change", load);
  window.addEventListener("resize", function () {
    chart.resize();
  });
  load();
})();
