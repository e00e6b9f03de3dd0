// The operations center's shared state: filters (kept in the URL), UI strings, fetching
// with the CSRF token, number formats and a debounced refresh of the parts that changed.
(function () {
  "use strict";
  var root = document.getElementById("ops");
  if (!root) {
    return;
  }
  var strings = JSON.parse(root.dataset.strings || "{}");
  var csrf = document.querySelector('meta[name="csrf-token"]');
  var lang = root.dataset.lang || "en";
  var parts = {}; // name → function that reloads that part of the screen
  var dirty = {};
  var timer = null;
  var issued = {}; // request name → number of its newest request
  var wanted = {}; // request name → URL of its newest request
  var applied = {}; // request name → number of the response last handed on

  var ops = {
    root: root,
    lang: lang,
    zh: lang === "zh-CN",
    wall: root.dataset.wall === "true",
    state: {
      range: root.dataset.range || "today",
      area: root.dataset.area || "",
    },
  };

  // "{count} cases" → "3 cases"
  ops.t = function (key, values) {
    var text = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  };

  ops.name = function (item) {
    return (ops.zh ? item.name_zh || item.name_en : item.name_en || item.name_zh) || item.code || "";
  };

  // For the few places that take HTML (Leaflet tooltips, ECharts formatters): data is text.
  ops.escapeHtml = function (value) {
    return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  };

  ops.number = function (value, digits) {
    if (value === null || value === undefined || isNaN(value)) {
      return "–";
    }
    return Number(value).toLocaleString(lang, {
      maximumFractionDigits: digits === undefined ? 1 : digits,
    });
  };

  ops.time = function (iso) {
    if (!iso) {
      return "–";
    }
    return new Date(iso).toLocaleString(lang, { dateStyle: "short", timeStyle: "short" });
  };

  // The filters as a query string (plus ``extra`` parameters).
  ops.query = function (extra) {
    var params = new URLSearchParams();
    params.set("range", ops.state.range);
    if (ops.state.area) {
      params.set("area", ops.state.area);
    }
    Object.keys(extra || {}).forEach(function (key) {
      if (extra[key] !== null && extra[key] !== undefined && extra[key] !== "") {
        params.set(key, extra[key]);
      }
    });
    return params.toString();
  };

  function problem(response) {
    return response
      .json()
      .catch(function () {
        return {};
      })
      .then(function (body) {
        var message = (body && body.error && body.error.message) || "";
        if (!message && body && body.detail) {
          message = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
        }
        message = message || response.status + " " + (response.statusText || "");
        var error = new Error(message);
        error.status = response.status;
        throw error;
      });
  }

  ops.getJSON = function (url) {
    return fetch(url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    }).then(function (response) {
      return response.ok ? response.json() : problem(response);
    });
  };

  // GET for one part of the screen (``name``: "summary", "areas", a chart…): each request
  // is numbered, and a response is handed on only if no newer response of that part was,
  // and only if it answers the newest request's URL (the filters, metric, property…). An
  // older answer — say to the filters before a change — is dropped (its promise never
  // settles), so it cannot overwrite a newer one.
  ops.latestJSON = function (name, url) {
    issued[name] = (issued[name] || 0) + 1;
    var number = issued[name];
    wanted[name] = url;
    function fresh() {
      if (wanted[name] !== url || number < (applied[name] || 0)) {
        return false;
      }
      applied[name] = number;
      return true;
    }
    return new Promise(function (resolve, reject) {
      ops.getJSON(url).then(
        function (data) {
          if (fresh()) {
            resolve(data);
          }
        },
        function (error) {
          if (fresh()) {
            reject(error);
          }
        }
      );
    });
  };

  ops.postJSON = function (url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRF-Token": csrf ? csrf.content : "",
      },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.ok ? response.json() : problem(response);
    });
  };

  // Parts register a loader; ``ops.refresh([names])`` reloads them ~300 ms later, once.
  ops.register = function (name, loader) {
    parts[name] = loader;
  };

  ops.refresh = function (names) {
    (names || Object.keys(parts)).forEach(function (name) {
      dirty[name] = true;
    });
    if (timer === null) {
      timer = window.setTimeout(function () {
        var due = Object.keys(dirty);
        dirty = {};
        timer = null;
        due.forEach(function (name) {
          if (parts[name]) {
            parts[name]();
          }
        });
      }, 300);
    }
  };

  ops.reloadAll = function () {
    Object.keys(parts).forEach(function (name) {
      parts[name]();
    });
  };

  // Filters live in the URL, so a screen can be bookmarked.
  ops.setFilters = function (changes) {
    var moved = Object.keys(changes).some(function (key) {
      return ops.state[key] !== changes[key];
    });
    Object.keys(changes).forEach(function (key) {
      ops.state[key] = changes[key];
    });
    if (moved && ops.onFiltersChanged) {
      ops.onFiltersChanged(); // e.g. forget the sensor clicked in the old area
    }
    var query = ops.query();
    window.history.replaceState(null, "", root.dataset.basePath + "?" + query);
    var other = document.getElementById("ops-other");
    if (other) {
      other.href = other.pathname + "?" + query;
    }
    var rangeSelect = document.getElementById("ops-range");
    if (rangeSelect) {
      rangeSelect.value = ops.state.range;
    }
    ops.syncAreaSelect();
    ops.reloadAll();
  };

  ops.syncAreaSelect = function (label) {
    var select = document.getElementById("ops-area");
    if (!select) {
      return;
    }
    var code = ops.state.area;
    var found = Array.prototype.some.call(select.options, function (option) {
      return option.value === code;
    });
    if (!found) {
      var option = document.createElement("option");
      option.value = code;
      option.textContent = label || code;
      option.dataset.extra = "true";
      select.appendChild(option);
    }
    select.value = code;
  };

  ops.el = function (tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  };

  var form = document.getElementById("ops-filters");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
    });
    form.addEventListener("change", function () {
      ops.setFilters({
        range: document.getElementById("ops-range").value,
        area: document.getElementById("ops-area").value,
      });
    });
  }

  window.CityOps = ops;
})();
