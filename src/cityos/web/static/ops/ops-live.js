// Live updates: Server-Sent Events from /api/ops/events refresh the affected parts (once per
// ~300 ms burst) and add a line to the ticker; after a dropped connection everything reloads.
(function () {
  "use strict";
  var ops = window.CityOps;
  if (!ops) {
    return;
  }
  var status = document.getElementById("ops-live");
  var ticker = document.getElementById("ops-ticker");
  var KEEP = 8;
  var lost = false;

  function state(name) {
    status.dataset.state = name;
    status.textContent = ops.t("live." + name);
  }

  function tick(text) {
    var item = ops.el("li", "fresh");
    var now = new Date();
    var when = ops.el("time", "", now.toLocaleTimeString(ops.lang, { timeStyle: "medium" }));
    when.dateTime = now.toISOString();
    item.appendChild(when);
    item.appendChild(document.createTextNode(text));
    ticker.insertBefore(item, ticker.firstChild);
    while (ticker.children.length > KEEP) {
      ticker.removeChild(ticker.lastChild);
    }
    ticker.dataset.count = String(Number(ticker.dataset.count || "0") + 1);
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
          category: p.category || "",
          status: ops.t("status." + p.status),
        })
      );
      ops.refresh(["summary", "cases", "areas", "series"]);
    },
    "sensing.alert": function (p) {
      var key = p.acknowledged ? "event.alert_acknowledged" : p.ended_at ? "event.alert_cleared" : "event.alert";
      tick(ops.t(key, { id: p.id, severity: ops.t("severity." + p.severity), message: p.message || "" }));
      ops.refresh(["summary", "alerts"]);
    },
    "ops.note": function (p) {
      tick(ops.t("event.note", { target: ops.t("target." + p.target_type), ref: p.target_ref, text: p.text || "" }));
      ops.panel.noteEvent(p);
    },
    resync: function () {
      ops.refresh(); // the server dropped events for us: reload everything
    },
    readings: function (p) {
      var count = (p.datastreams || []).length;
      tick(ops.t("event.readings", { count: count }));
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
