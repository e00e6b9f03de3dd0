// Live updates: Server-Sent Events from /api/ops/events refresh the affected parts (once per
// ~300 ms burst) and add a line to the ticker; after a dropped connection everything reloads.
// Readings do not take ticker lines from cases and alerts: they keep one line of their own,
// the number of readings in the last minute, updated in place.
(function () {
  "use strict";
  var ops = window.CityOps;
  if (!ops) {
    return;
  }
  var status = document.getElementById("ops-live");
  var ticker = document.getElementById("ops-ticker");
  var KEEP = 8; // lines of cases, alerts and notes
  var WINDOW = 60 * 1000; // ms: the readings line counts the last minute
  var lost = false;
  var readingsLine = null;
  var readingsSeen = []; // [time (ms), how many readings]
  var readingsTimer = null;

  function state(name) {
    status.dataset.state = name;
    status.textContent = ops.t("live." + name);
  }

  function stamp(item, now) {
    var when = ops.el("time", "", now.toLocaleTimeString(ops.lang, { timeStyle: "medium" }));
    when.dateTime = now.toISOString();
    item.appendChild(when);
  }

  // a new line first (after the readings line), the oldest beyond KEEP dropped
  function tick(text, kind) {
    var item = ops.el("li", "fresh");
    item.dataset.kind = kind;
    stamp(item, new Date());
    item.appendChild(document.createTextNode(text));
    ticker.insertBefore(item, readingsLine ? readingsLine.nextSibling : ticker.firstChild);
    var lines = ticker.querySelectorAll('li:not([data-kind="readings"])');
    for (var i = KEEP; i < lines.length; i += 1) {
      ticker.removeChild(lines[i]);
    }
    ticker.dataset.count = String(Number(ticker.dataset.count || "0") + 1);
  }

  function drawReadings() {
    var now = Date.now();
    readingsSeen = readingsSeen.filter(function (seen) {
      return now - seen[0] < WINDOW;
    });
    var total = readingsSeen.reduce(function (sum, seen) {
      return sum + seen[1];
    }, 0);
    if (!readingsLine) {
      readingsLine = ops.el("li", "readings");
      readingsLine.dataset.kind = "readings";
      ticker.insertBefore(readingsLine, ticker.firstChild);
    }
    readingsLine.textContent = "";
    stamp(readingsLine, new Date());
    readingsLine.appendChild(document.createTextNode(ops.t("event.readings", { count: ops.number(total, 0) })));
    readingsLine.dataset.readings = String(total);
    if (!total && readingsTimer !== null) {
      window.clearInterval(readingsTimer); // nothing left to count down: stop until the next
      readingsTimer = null;
    }
  }

  function readingsArrived(count) {
    readingsSeen.push([Date.now(), count]);
    drawReadings();
    if (readingsTimer === null) {
      readingsTimer = window.setInterval(drawReadings, 5000);
    }
  }

  function categoryName(p) {
    var name = ops.zh ? p.category_name_zh || p.category_name_en : p.category_name_en || p.category_name_zh;
    return name || p.category || "";
  }

  function alertKey(p) {
    if (p.case_linked === true) {
      return "event.alert_case";
    }
    if (p.acknowledged === true) {
      return "event.alert_acknowledged";
    }
    if (p.ended_at || p.state === "cleared") {
      return "event.alert_cleared";
    }
    return "event.alert";
  }

  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch (error) {
      return {};
    }
  }

  var handlers = {
    "cases.changed": function (p) {
      tick(
        ops.t("event.case", {
          id: p.id,
          category: categoryName(p),
          status: ops.t("status." + p.status),
        }),
        "case"
      );
      ops.refresh(["summary", "cases", "areas", "series"]);
    },
    "sensing.alert": function (p) {
      var values = {
        id: p.id,
        severity: ops.t("severity." + p.severity),
        message: p.message || "",
        case: p.case_id || p.case || "",
      };
      tick(ops.t(alertKey(p), values), "alert");
      ops.refresh(["summary", "alerts"]);
    },
    "ops.note": function (p) {
      tick(ops.t("event.note", { target: ops.t("target." + p.target_type), ref: p.target_ref, text: p.text || "" }), "note");
      ops.panel.noteEvent(p);
    },
    resync: function () {
      ops.refresh(); // the server dropped events for us: reload everything
    },
    readings: function (p) {
      var count = typeof p.observations === "number" ? p.observations : (p.datastreams || []).length;
      readingsArrived(count);
      ops.refresh(["sensors", "sensor_trend", "summary"]);
    },
  };

  function connect() {
    if (!window.EventSource) {
      state("unsupported");
      return;
    }
    var source = new EventSource("/api/ops/events");
    source.onopen = function () {
      state("live");
      if (lost) {
        lost = false;
        ops.refresh(); // we may have missed events while away
      }
    };
    source.onerror = function () {
      lost = true;
      state("reconnecting");
      // EventSource reconnects by itself unless the server refused it for good
      if (source.readyState === EventSource.CLOSED) {
        window.setTimeout(connect, 5000);
      }
    };
    Object.keys(handlers).forEach(function (topic) {
      source.addEventListener(topic, function (event) {
        handlers[topic](parse(event));
      });
    });
    ops.events = source;
  }

  ops.reloadAll();
  connect();
})();
