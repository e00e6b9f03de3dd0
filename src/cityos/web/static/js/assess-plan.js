// The plan page: one progress chart per target — the straight path from the baseline through
// the stage targets, and the values measured so far.
(function () {
  "use strict";
  var blob = document.getElementById("plan-data");
  if (!blob || !window.echarts) {
    return;
  }
  var targets = JSON.parse(blob.textContent);
  var labels = document.getElementById("plan-labels").dataset;
  var COLOURS = { on_track: "#2b8a3e", at_risk: "#e8590c", off_track: "#c92a2a", no_data: "#868e96" };
  var charts = [];
  targets.forEach(function (target) {
    var element = document.getElementById("progress-" + target.id);
    if (!element) {
      return;
    }
    var planned = [target.baseline].concat(target.stages);
    var years = planned.concat(target.actual).map(function (point) {
      return point[0];
    });
    var chart = window.echarts.init(element, null, { renderer: "canvas" });
    charts.push(chart);
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 16, top: 28, bottom: 24, containLabel: true },
      legend: { top: 0 },
      tooltip: { trigger: "axis" },
      xAxis: {
        type: "value",
        name: labels.year,
        min: Math.min.apply(null, years),
        max: Math.max.apply(null, years),
        minInterval: 1,
        axisLabel: { formatter: function (value) { return String(value); } },
      },
      yAxis: { type: "value", scale: true },
      series: [
        {
          type: "line",
          name: labels.planned,
          data: planned,
          lineStyle: { type: "dashed", color: "#1f6feb" },
          itemStyle: { color: "#1f6feb" },
          symbol: "diamond",
        },
        {
          type: "line",
          name: labels.actual,
          data: target.actual,
          lineStyle: { color: COLOURS[target.status] || "#1c2733", width: 2 },
          itemStyle: { color: COLOURS[target.status] || "#1c2733" },
        },
      ],
    });
    element.dataset.ready = "true";
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (chart) {
      chart.resize();
    });
  });
})();
