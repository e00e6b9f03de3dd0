// The run page: the map of districts coloured by index score (Leaflet), the radar of one unit
// against the peer median and the leader (from the compare API), score bars per dimension
// and the rank intervals of the uncertainty analysis (ECharts, canvas).
(function () {
  "use strict";
  var blob = document.getElementById("run-data");
  if (!blob) {
    return;
  }
  var data = JSON.parse(blob.textContent);
  var labels = document.getElementById("run-labels").dataset;
  var zh = data.lang === "zh-CN";
  var BLUE = "#1f6feb";
  var ORANGE = "#e8590c";
  var CLASSES = ["#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"];
  var EMPTY = "#e9ecef";
  var charts = [];

  function number(value, digits) {
    return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
  }

  function makeChart(id) {
    var element = document.getElementById(id);
    if (!element || !window.echarts) {
      return null;
    }
    var chart = window.echarts.init(element, null, { renderer: "canvas" });
    charts.push(chart);
    return chart;
  }

  function failed(id) {
    var element = document.getElementById(id);
    if (element) {
      element.textContent = labels.error;
      element.dataset.ready = "error";
    }
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (chart) {
      chart.resize();
    });
  });

  // --- radar: the chosen unit, the peer median and the leader, per dimension ---------------
  function drawRadar() {
    var element = document.getElementById("radar-chart");
    if (!element || !data.subject) {
      return;
    }
    var url = "/api/assess/runs/" + data.run + "/compare?unit=" + encodeURIComponent(data.subject);
    fetch(url, { headers: { accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(url + ": " + response.status);
        }
        return response.json();
      })
      .then(function (comparison) {
        var radar = comparison.radar;
        var names = zh ? radar.axis_names_zh : radar.axis_names_en;
        var values = [];
        radar.series.forEach(function (series) {
          series.values.forEach(function (value) {
            if (value !== null) {
              values.push(value);
            }
          });
        });
        var low = Math.min.apply(null, [0].concat(values));
        var high = Math.max.apply(null, [100].concat(values));
        var chart = makeChart("radar-chart");
        var series = radar.series.map(function (item) {
          return {
            key: item.key,
            name: zh ? item.label_zh : item.label_en,
            values: item.values.map(function (value) {
              return value === null ? null : Math.round(value * 10) / 10;
            }),
          };
        });
        var colours = [ORANGE, "#868e96", BLUE];
        if (names.length < 3) {
          // a radar needs three axes: with fewer dimensions the same comparison as bars
          chart.setOption({
            animation: false,
            color: colours,
            tooltip: { trigger: "axis" },
            legend: { bottom: 0 },
            grid: { left: 8, right: 16, top: 16, bottom: 40, containLabel: true },
            xAxis: { type: "category", data: names },
            yAxis: { type: "value", min: low, max: high },
            series: series.map(function (item) {
              return { type: "bar", name: item.name, data: item.values };
            }),
          });
          element.dataset.ready = "true";
          return;
        }
        chart.setOption({
          animation: false,
          color: colours,
          tooltip: { trigger: "item" },
          legend: { bottom: 0 },
          radar: {
            radius: "60%",
            center: ["50%", "48%"],
            indicator: names.map(function (name) {
              return { name: name, min: low, max: high };
            }),
          },
          series: [
            {
              type: "radar",
              data: series.map(function (item) {
                return {
                  name: item.name,
                  value: item.values.map(function (value) {
                    return value === null ? low : value;
                  }),
                  areaStyle: item.key === "unit" ? { opacity: 0.2 } : undefined,
                };
              }),
            },
          ],
        });
        element.dataset.ready = "true";
      })
      .catch(function () {
        failed("radar-chart");
      });
  }

  // --- bars: every scored unit on one node (the index or a dimension) -----------------------
  var barChart = null;
  function drawBars(code) {
    var element = document.getElementById("bar-chart");
    if (!element) {
      return;
    }
    var scores = data.scores[code] || [];
    var items = [];
    data.units.forEach(function (unit, i) {
      if (scores[i] !== null && scores[i] !== undefined) {
        items.push({ code: unit.code, name: unit.name, value: scores[i] });
      }
    });
    items.sort(function (a, b) {
      return a.value - b.value;
    });
    element.style.height = Math.max(260, items.length * 24 + 70) + "px";
    if (!barChart) {
      barChart = makeChart("bar-chart");
    } else {
      barChart.resize();
    }
    barChart.setOption(
      {
        animation: false,
        grid: { left: 8, right: 48, top: 16, bottom: 40, containLabel: true },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "value", name: labels.score, nameLocation: "middle", nameGap: 24 },
        yAxis: {
          type: "category",
          data: items.map(function (item) {
            return item.name;
          }),
        },
        series: [
          {
            type: "bar",
            name: labels.score,
            label: { show: true, position: "right", formatter: function (p) { return number(p.value, 1); } },
            data: items.map(function (item) {
              return {
                value: Math.round(item.value * 100) / 100,
                itemStyle: { color: item.code === data.subject ? ORANGE : BLUE },
              };
            }),
          },
        ],
      },
      true
    );
    barChart.resize();
    element.dataset.ready = "true";
  }

  // --- whiskers: median rank and its 5–95 % interval per unit -------------------------------
  function drawWhiskers() {
    var element = document.getElementById("whisker-chart");
    var rows = (data.uncertainty || []).filter(function (row) {
      return row.median !== null && row.p05 !== null && row.p95 !== null;
    });
    if (!element || !rows.length) {
      return;
    }
    rows = rows.slice().reverse(); // best at the top of a category axis
    element.style.height = Math.max(260, rows.length * 24 + 70) + "px";
    var chart = makeChart("whisker-chart");
    var names = rows.map(function (row) {
      return row.name;
    });
    var worst = Math.max.apply(null, rows.map(function (row) { return row.p95; }));
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 24, top: 16, bottom: 40, containLabel: true },
      tooltip: {
        trigger: "item",
        formatter: function (p) {
          var row = rows[p.dataIndex];
          return row.name + "<br>" + labels.medianRank + ": " + number(row.median, 1) +
            "<br>" + labels.interval + ": " + number(row.p05, 0) + "–" + number(row.p95, 0);
        },
      },
      xAxis: {
        type: "value",
        name: labels.rank,
        nameLocation: "middle",
        nameGap: 24,
        min: 1,
        max: Math.max(2, Math.ceil(worst)),
        minInterval: 1,
      },
      yAxis: { type: "category", data: names },
      series: [
        {
          type: "custom",
          name: labels.interval,
          renderItem: function (params, api) {
            var y = api.value(0);
            var low = api.coord([api.value(1), y]);
            var high = api.coord([api.value(2), y]);
            var half = api.size([0, 1])[1] * 0.25;
            var style = { stroke: BLUE, lineWidth: 2 };
            return {
              type: "group",
              children: [
                { type: "line", shape: { x1: low[0], y1: low[1], x2: high[0], y2: high[1] }, style: style },
                { type: "line", shape: { x1: low[0], y1: low[1] - half, x2: low[0], y2: low[1] + half }, style: style },
                { type: "line", shape: { x1: high[0], y1: high[1] - half, x2: high[0], y2: high[1] + half }, style: style },
              ],
            };
          },
          encode: { x: [1, 2], y: 0 },
          data: rows.map(function (row, i) {
            return [i, row.p05, row.p95];
          }),
          z: 1,
        },
        {
          type: "scatter",
          name: labels.medianRank,
          symbolSize: 10,
          itemStyle: { color: ORANGE },
          data: rows.map(function (row, i) {
            return [row.median, i];
          }),
          z: 2,
        },
      ],
    });
    element.dataset.ready = "true";
  }

  // --- the map: areas of the run coloured by index score -----------------------------------
  function drawMap() {
    var element = document.getElementById("run-map");
    if (!element || !window.L || !data.map_level) {
      return;
    }
    var L = window.L;
    var index = data.nodes[0].code;
    var byCode = {};
    data.units.forEach(function (unit, i) {
      byCode[unit.code] = { name: unit.name, score: data.scores[index][i], rank: data.ranks[index][i] };
    });
    var values = Object.keys(byCode)
      .map(function (code) {
        return byCode[code].score;
      })
      .filter(function (value) {
        return value !== null && value !== undefined;
      });
    var low = Math.min.apply(null, values);
    var high = Math.max.apply(null, values);
    function classOf(value) {
      if (value === null || value === undefined) {
        return -1;
      }
      if (high <= low) {
        return CLASSES.length - 1;
      }
      return Math.min(CLASSES.length - 1, Math.floor(((value - low) / (high - low)) * CLASSES.length));
    }
    var map = L.map(element, { preferCanvas: true, zoomSnap: 0.25 });
    map.setView([0, 0], 2);
    if (element.dataset.tileUrl) {
      L.tileLayer(element.dataset.tileUrl, { attribution: element.dataset.tileAttribution, maxZoom: 19 }).addTo(map);
    }
    var info = document.getElementById("run-map-info");
    fetch("/api/geo/areas?level=" + encodeURIComponent(data.map_level), { headers: { accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status);
        }
        return response.json();
      })
      .then(function (collection) {
        function describe(feature) {
          var unit = byCode[feature.id];
          var props = feature.properties || {};
          var name = unit ? unit.name : (zh ? props.name_zh : props.name_en) || feature.id;
          if (!unit || unit.score === null) {
            return name + ": " + labels.noScore;
          }
          return name + ": " + number(unit.score, 1) + " (" + labels.rank + " " + number(unit.rank, 0) + ")";
        }
        var layer = L.geoJSON(collection, {
          style: function (feature) {
            var unit = byCode[feature.id];
            var k = classOf(unit ? unit.score : null);
            return { color: "#ffffff", weight: 1.2, fillColor: k < 0 ? EMPTY : CLASSES[k], fillOpacity: 0.8 };
          },
          onEachFeature: function (feature, featureLayer) {
            featureLayer.bindTooltip(describe(feature), { sticky: true });
            featureLayer.on("click", function () {
              info.textContent = describe(feature);
            });
          },
        }).addTo(map);
        if (collection.features.length) {
          map.fitBounds(layer.getBounds());
        }
        drawLegend();
        element.dataset.ready = "true";
      })
      .catch(function () {
        info.textContent = labels.error;
        element.dataset.ready = "error";
      });

    function drawLegend() {
      var legend = document.getElementById("run-map-legend");
      legend.textContent = "";
      var step = (high - low) / CLASSES.length;
      function item(colour, text) {
        var li = document.createElement("li");
        var swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.backgroundColor = colour;
        li.appendChild(swatch);
        li.appendChild(document.createTextNode(text));
        legend.appendChild(li);
      }
      if (values.length) {
        CLASSES.forEach(function (colour, k) {
          item(colour, number(low + k * step, 1) + " – " + number(low + (k + 1) * step, 1));
        });
      }
      item(EMPTY, labels.noScore);
    }
  }

  var select = document.getElementById("bar-node");
  if (select) {
    select.addEventListener("change", function () {
      drawBars(select.value);
    });
    drawBars(select.value);
  }
  drawRadar();
  drawWhiskers();
  drawMap();
})();
