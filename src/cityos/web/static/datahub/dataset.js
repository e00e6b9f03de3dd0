// The dataset page: a preview table with filters, sorting and paging, a map of the
// geopoint field (Leaflet) and a small chart builder (ECharts), all from the rows API
// (/api/data/{name}/rows). Settings come from the page's JSON block (no inline script).
(function () {
  "use strict";
  var blob = document.getElementById("dataset-data");
  if (!blob) {
    return;
  }
  var data = JSON.parse(blob.textContent);
  var labels = document.getElementById("dataset-labels").dataset;
  var base = "/api/data/" + encodeURIComponent(data.name) + "/rows";
  var PAGE = 100;
  var MAP_LIMIT = 2000;
  var CHART_LIMIT = 5000;
  var state = { filters: [], sort: "", rows: [], next: null };

  function fieldOf(name) {
    for (var i = 0; i < data.fields.length; i += 1) {
      if (data.fields[i].name === name) {
        return data.fields[i];
      }
    }
    return null;
  }

  function params(extra) {
    var query = new URLSearchParams();
    state.filters.forEach(function (filter) {
      query.append(filter.op === "eq" ? filter.field : filter.field + "__" + filter.op, filter.value);
    });
    if (state.sort) {
      query.set("sort", state.sort);
    }
    Object.keys(extra || {}).forEach(function (key) {
      query.set(key, extra[key]);
    });
    return query;
  }

  function getJSON(url) {
    return fetch(url, { headers: { accept: "application/json" }, credentials: "same-origin" }).then(
      function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            var message = body && body.error ? body.error.message : String(response.status);
            throw new Error(message);
          }
          return body;
        });
      }
    );
  }

  function cellText(value) {
    if (value === null || value === undefined) {
      return "";
    }
    if (Array.isArray(value) || typeof value === "object") {
      return JSON.stringify(value);
    }
    return String(value);
  }

  // --- preview -----------------------------------------------------------------------------
  var table = document.getElementById("preview-table");
  var status = document.getElementById("preview-status");
  var nextButton = document.getElementById("preview-next");
  var chips = document.getElementById("active-filters");

  function drawHead() {
    var row = document.createElement("tr");
    data.fields.forEach(function (field) {
      var th = document.createElement("th");
      if (!field.sortable) {
        // masked and geopoint columns do not sort (the rows API refuses it)
        th.textContent = field.label;
        th.title = field.name;
        if (field.masked) {
          th.classList.add("dh-masked");
        }
        row.appendChild(th);
        return;
      }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "dh-sort";
      button.dataset.field = field.name;
      var mark = "";
      if (state.sort === field.name) {
        mark = " ▲";
        th.setAttribute("aria-sort", "ascending");
      } else if (state.sort === "-" + field.name) {
        mark = " ▼";
        th.setAttribute("aria-sort", "descending");
      }
      button.textContent = field.label + mark;
      button.title = field.name;
      button.addEventListener("click", function () {
        state.sort = state.sort === field.name ? "-" + field.name : field.name;
        loadPreview();
      });
      th.appendChild(button);
      if (field.masked) {
        th.classList.add("dh-masked");
      }
      row.appendChild(th);
    });
    table.tHead.replaceChildren(row);
  }

  function addRows(rows) {
    var body = table.tBodies[0];
    rows.forEach(function (record) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-testid", "preview-row");
      data.fields.forEach(function (field) {
        var td = document.createElement("td");
        td.textContent = cellText(record[field.name]);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function showStatus(total) {
    if (!state.rows.length) {
      status.textContent = labels.none;
    } else {
      status.textContent =
        labels.showing + " 1–" + state.rows.length + (total !== undefined && total !== null ? " " + labels.of + " " + total : "");
    }
    status.dataset.rows = String(state.rows.length);
  }

  function drawChips() {
    chips.replaceChildren();
    state.filters.forEach(function (filter, index) {
      var li = document.createElement("li");
      var field = fieldOf(filter.field);
      var op = (data.op_labels || {})[filter.op] || filter.op;
      li.textContent = (field ? field.label : filter.field) + " " + op + " " + filter.value + " ";
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "dh-chip-remove";
      remove.textContent = "×";
      remove.setAttribute("aria-label", labels.remove);
      remove.addEventListener("click", function () {
        state.filters.splice(index, 1);
        refresh();
      });
      li.appendChild(remove);
      chips.appendChild(li);
    });
  }

  function loadPreview() {
    status.textContent = labels.loading;
    status.dataset.ready = "false";
    drawHead();
    getJSON(base + "?" + params({ limit: PAGE, total: "true" }).toString())
      .then(function (page) {
        table.tBodies[0].replaceChildren();
        state.rows = page.rows;
        state.next = page.next;
        addRows(page.rows);
        nextButton.hidden = !page.next;
        status.dataset.total = page.total === undefined || page.total === null ? "" : String(page.total);
        showStatus(page.total);
        status.dataset.ready = "true";
      })
      .catch(function (error) {
        table.tBodies[0].replaceChildren();
        state.rows = [];
        nextButton.hidden = true;
        status.textContent = labels.error + ": " + error.message;
        status.dataset.ready = "error";
      });
  }

  nextButton.addEventListener("click", function () {
    if (!state.next) {
      return;
    }
    getJSON(state.next)
      .then(function (page) {
        state.rows = state.rows.concat(page.rows);
        state.next = page.next;
        addRows(page.rows);
        nextButton.hidden = !page.next;
        showStatus(status.dataset.total || null);
      })
      .catch(function (error) {
        status.textContent = labels.error + ": " + error.message;
      });
  });

  // The operators offered follow the chosen field's type (a geopoint: only "is empty").
  var filterForm = document.getElementById("preview-filter");
  var filterField = document.getElementById("filter-field");
  var filterOp = document.getElementById("filter-op");

  function offerOps() {
    var field = fieldOf(filterField.value);
    var chosen = filterOp.value;
    filterOp.replaceChildren();
    ((field && field.ops) || []).forEach(function (op) {
      var option = document.createElement("option");
      option.value = op;
      option.textContent = (data.op_labels || {})[op] || op;
      option.selected = op === chosen;
      filterOp.appendChild(option);
    });
  }

  if (filterForm) {
    filterField.addEventListener("change", offerOps);
    offerOps();
    filterForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var field = filterField.value;
      var op = filterOp.value;
      var value = document.getElementById("filter-value").value.trim();
      if (!field || !op) {
        return;
      }
      state.filters.push({ field: field, op: op, value: value });
      refresh();
    });
    document.getElementById("filter-clear").addEventListener("click", function () {
      state.filters = [];
      refresh();
    });
  }

  // --- map ---------------------------------------------------------------------------------
  var mapElement = document.getElementById("dataset-map");
  var map = null;
  var markers = null;
  var mapStatus = document.getElementById("map-status");
  var fitted = false;

  function collectPoints(url, points, limit) {
    return getJSON(url).then(function (page) {
      page.rows.forEach(function (record) {
        var point = record[data.geo];
        if (Array.isArray(point) && point.length === 2 && point[0] !== null && point[1] !== null) {
          points.push({ lon: Number(point[0]), lat: Number(point[1]), record: record });
        }
      });
      if (page.next && points.length < limit) {
        return collectPoints(page.next, points, limit);
      }
      return { points: points, more: Boolean(page.next) };
    });
  }

  function label(record) {
    var box = document.createElement("div");
    data.fields.slice(0, 4).forEach(function (field) {
      if (field.name !== data.geo) {
        var line = document.createElement("div");
        line.textContent = field.label + ": " + cellText(record[field.name]);
        box.appendChild(line);
      }
    });
    return box;
  }

  function loadMap() {
    if (!map) {
      return;
    }
    var wanted = data.fields.slice(0, 4).map(function (f) {
      return f.name;
    });
    if (wanted.indexOf(data.geo) < 0) {
      wanted.push(data.geo);
    }
    var extra = { limit: 1000, fields: wanted.join(",") };
    if (fitted) {
      var b = map.getBounds();
      extra.bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",");
      extra.bbox_field = data.geo;
    }
    mapElement.dataset.ready = "false";
    collectPoints(base + "?" + params(extra).toString(), [], MAP_LIMIT)
      .then(function (result) {
        markers.clearLayers();
        result.points.forEach(function (p) {
          L.circleMarker([p.lat, p.lon], { radius: 5, color: "#1f6feb", weight: 1, fillOpacity: 0.7 })
            .bindPopup(label(p.record))
            .addTo(markers);
        });
        if (!fitted && result.points.length) {
          fitted = true;
          var bounds = L.latLngBounds(result.points.map(function (p) { return [p.lat, p.lon]; }));
          map.fitBounds(bounds.pad(0.1), { maxZoom: 16 });
        }
        mapStatus.textContent = result.points.length + " " + labels.markers + (result.more ? " · " + labels.more : "");
        mapElement.dataset.markers = String(result.points.length);
        mapElement.dataset.ready = "true";
      })
      .catch(function (error) {
        mapStatus.textContent = labels.error + ": " + error.message;
        mapElement.dataset.ready = "error";
      });
  }

  if (mapElement && data.geo && window.L) {
    map = L.map(mapElement);
    map.setView([30, 114], 4);
    if (mapElement.dataset.tileUrl) {
      L.tileLayer(mapElement.dataset.tileUrl, { attribution: mapElement.dataset.tileAttribution, maxZoom: 19 }).addTo(map);
    }
    markers = L.featureGroup().addTo(map);
    var timer = null;
    map.on("moveend", function () {
      if (!fitted) {
        return;
      }
      clearTimeout(timer);
      timer = setTimeout(loadMap, 250);
    });
  }

  // --- chart -------------------------------------------------------------------------------
  var chartElement = document.getElementById("dataset-chart");
  var chartStatus = document.getElementById("chart-status");
  var chart = null;

  function aggregate(rows, category, value, how) {
    var groups = {};
    var order = [];
    rows.forEach(function (record) {
      var key = cellText(record[category]);
      if (!(key in groups)) {
        groups[key] = { count: 0, sum: 0, n: 0 };
        order.push(key);
      }
      var group = groups[key];
      group.count += 1;
      if (value) {
        var number = Number(record[value]);
        if (record[value] !== null && record[value] !== "" && isFinite(number)) {
          group.sum += number;
          group.n += 1;
        }
      }
    });
    order.sort(function (a, b) {
      return a < b ? -1 : a > b ? 1 : 0;
    });
    return order.map(function (key) {
      var g = groups[key];
      var result = how === "sum" ? g.sum : how === "mean" ? (g.n ? g.sum / g.n : null) : g.count;
      return [key, result === null ? null : Math.round(result * 1000) / 1000];
    });
  }

  function fetchRows(url, rows) {
    return getJSON(url).then(function (page) {
      rows = rows.concat(page.rows);
      if (page.next && rows.length < CHART_LIMIT) {
        return fetchRows(page.next, rows);
      }
      return rows.slice(0, CHART_LIMIT);
    });
  }

  function draw(rows) {
    var category = document.getElementById("chart-category").value;
    var value = document.getElementById("chart-value").value;
    var how = value ? document.getElementById("chart-agg").value : "count";
    var kind = document.getElementById("chart-kind").value;
    var points = aggregate(rows, category, value, how);
    if (!chart) {
      chart = window.echarts.init(chartElement, null, { renderer: "canvas" });
      window.addEventListener("resize", function () {
        chart.resize();
      });
    }
    var valueField = fieldOf(value);
    var seriesName = value ? (valueField ? valueField.label : value) + " (" + how + ")" : labels.count;
    chart.setOption(
      {
        tooltip: { trigger: "axis" },
        grid: { left: 60, right: 20, top: 30, bottom: 80 },
        xAxis: { type: "category", data: points.map(function (p) { return p[0]; }), axisLabel: { rotate: points.length > 8 ? 40 : 0 } },
        yAxis: { type: "value" },
        series: [{ name: seriesName, type: kind, data: points.map(function (p) { return p[1]; }), itemStyle: { color: "#1f6feb" } }],
      },
      true
    );
    chartStatus.textContent = rows.length + " " + labels.count;
    chartElement.dataset.ready = "true";
    chartElement.dataset.groups = String(points.length);
  }

  document.getElementById("chart-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!window.echarts) {
      return;
    }
    chartElement.dataset.ready = "false";
    if (document.getElementById("chart-source").value === "api") {
      chartStatus.textContent = labels.loading;
      fetchRows(base + "?" + params({ limit: 1000 }).toString(), [])
        .then(draw)
        .catch(function (error) {
          chartStatus.textContent = labels.error + ": " + error.message;
          chartElement.dataset.ready = "error";
        });
    } else {
      draw(state.rows);
    }
  });

  function refresh() {
    drawChips();
    loadPreview();
    if (map && fitted) {
      loadMap();
    }
  }

  loadPreview();
  loadMap();
})();
