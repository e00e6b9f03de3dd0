// The side panel: details of what was clicked on the map, a link to its full page, the
// operator actions (acknowledge, dispatch a case) and the operator notes of that target.
(function () {
  "use strict";
  var ops = window.CityOps;
  if (!ops) {
    return;
  }
  var panel = document.getElementById("ops-panel");
  var body = document.getElementById("ops-panel-body");
  var message = document.getElementById("ops-panel-message");
  var dispatchForm = document.getElementById("ops-dispatch");
  var dispatchTitle = document.getElementById("ops-dispatch-title");
  var dispatchButton = dispatchForm.querySelector('button[type="submit"]');
  var notes = document.getElementById("ops-notes");
  var notesList = document.getElementById("ops-notes-list");
  var noteForm = document.getElementById("ops-note-form");
  var current = null; // the spec shown (see show)

  function say(text, isError) {
    message.textContent = text || "";
    message.className = "ops-panel-message" + (isError ? " error" : "");
  }

  function renderNotes(items) {
    notesList.textContent = "";
    if (!items.length) {
      notesList.appendChild(ops.el("li", "muted", ops.t("notes.none")));
    }
    items.forEach(function (note) {
      var item = ops.el("li");
      item.dataset.noteId = String(note.id);
      item.appendChild(document.createTextNode(note.text));
      var who = note.author_label || note.author || "";
      item.appendChild(ops.el("small", "", who + " · " + ops.time(note.created_at)));
      notesList.appendChild(item);
    });
    notesList.dataset.count = String(items.length);
  }

  function loadNotes() {
    if (!current || !current.notes) {
      return;
    }
    var target = current.notes;
    var params = new URLSearchParams({
      target_type: target.type,
      target_ref: String(target.ref),
      limit: "20",
    });
    ops
      .getJSON("/api/ops/notes?" + params.toString())
      .then(function (data) {
        if (current && current.notes === target) {
          renderNotes(data.items || []);
        }
      })
      .catch(function (error) {
        say(error.message, true);
      });
  }

  // The dispatch form, set up afresh for a new target (kept as typed when the same target is
  // shown again after a refresh): the category preselected when the target names one (an
  // alert's rule), else the first; the description prefilled (an alert's message).
  function prepareDispatch(dispatch, fresh) {
    dispatchForm.hidden = !dispatch;
    if (!dispatch || !fresh) {
      return;
    }
    dispatchForm.reset();
    dispatchButton.disabled = false;
    dispatchTitle.textContent = ops.t(dispatch.alertId ? "dispatch.for_alert" : "dispatch.here");
    var select = dispatchForm.elements.service_code;
    var known = Array.prototype.some.call(select.options, function (option) {
      return option.value === dispatch.category;
    });
    if (known) {
      select.value = dispatch.category;
    } else {
      select.selectedIndex = 0;
    }
    dispatchForm.elements.description.value = dispatch.description || "";
  }

  // spec: {kind, ref, title, facts: [[label, value | {text, href}, testid?]], link: {href,
  //        text}, actions: [{label, testid, run}], notes: {type, ref} | null, dispatch:
  //        {alertId?, lon?, lat?, category, description, done?} | null}
  function show(spec) {
    var same = current && current.kind === spec.kind && String(current.ref) === String(spec.ref);
    current = spec;
    panel.hidden = false;
    panel.dataset.kind = spec.kind;
    panel.dataset.ref = String(spec.ref);
    body.textContent = "";
    if (!same) {
      say("");
    }
    body.appendChild(ops.el("h2", "", spec.title));
    if (spec.facts && spec.facts.length) {
      var list = ops.el("dl");
      spec.facts.forEach(function (fact) {
        list.appendChild(ops.el("dt", "", fact[0]));
        var value = ops.el("dd");
        if (fact[1] && typeof fact[1] === "object") {
          var to = ops.el("a", "", fact[1].text);
          to.href = fact[1].href;
          value.appendChild(to);
        } else {
          value.textContent = fact[1] === null || fact[1] === undefined ? "" : String(fact[1]);
        }
        if (fact[2]) {
          value.dataset.testid = fact[2];
        }
        list.appendChild(value);
      });
      body.appendChild(list);
    }
    var actions = ops.el("div", "actions");
    (spec.actions || []).forEach(function (action) {
      var button = ops.el("button", "", action.label);
      button.type = "button";
      button.dataset.testid = action.testid;
      button.addEventListener("click", function () {
        button.disabled = true;
        say(ops.t("working"));
        action
          .run()
          .then(function (text) {
            say(text || "");
          })
          .catch(function (error) {
            button.disabled = false;
            say(error.message, true);
          });
      });
      actions.appendChild(button);
    });
    if (spec.link) {
      var link = ops.el("a", "", spec.link.text);
      link.href = spec.link.href;
      link.dataset.testid = "panel-link";
      actions.appendChild(link);
    }
    body.appendChild(actions);
    prepareDispatch(spec.dispatch, !same);
    notes.hidden = !spec.notes;
    if (spec.notes && !same) {
      notesList.textContent = "";
      loadNotes();
    }
  }

  function close() {
    current = null;
    panel.hidden = true;
    delete panel.dataset.kind;
    delete panel.dataset.ref;
  }

  document.getElementById("ops-panel-close").addEventListener("click", close);

  dispatchForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!current || !current.dispatch) {
      return;
    }
    var dispatch = current.dispatch;
    var fields = new FormData(dispatchForm);
    var body = {
      service_code: fields.get("service_code"),
      description: fields.get("description") || "",
    };
    if (dispatch.alertId) {
      body.alert_id = dispatch.alertId;
    } else {
      body.lon = dispatch.lon;
      body.lat = dispatch.lat;
    }
    if (fields.get("priority")) {
      body.priority = fields.get("priority");
    }
    dispatchButton.disabled = true;
    say(ops.t("working"));
    ops
      .postJSON("/api/ops/dispatch", body)
      .then(function (result) {
        dispatchButton.disabled = false;
        if (dispatch.done) {
          dispatch.done(result); // e.g. the alert now shows its case, without the form
        } else {
          dispatchForm.reset();
        }
        ops.panel.dispatched(result);
        ops.refresh(["summary", "cases", "areas", "series"]);
      })
      .catch(function (error) {
        dispatchButton.disabled = false;
        say(error.message, true); // the server says what to fix
      });
  });

  noteForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!current || !current.notes) {
      return;
    }
    var text = new FormData(noteForm).get("text");
    ops
      .postJSON("/api/ops/notes", {
        target_type: current.notes.type,
        target_ref: String(current.notes.ref),
        text: text,
      })
      .then(function () {
        noteForm.reset();
        say(ops.t("notes.saved"));
        loadNotes();
      })
      .catch(function (error) {
        say(error.message, true);
      });
  });

  ops.panel = {
    show: show,
    close: close,
    say: say,
    current: function () {
      return current;
    },
    // a new case: say so, with a link to it
    dispatched: function (result) {
      message.textContent = "";
      message.className = "ops-panel-message";
      message.appendChild(document.createTextNode(ops.t("dispatch.done", { id: result.case_id }) + " "));
      var link = ops.el("a", "", ops.t("open_case"));
      link.href = result.url || "/staff/cases/" + result.case_id;
      link.dataset.testid = "dispatched-link";
      message.appendChild(link);
    },
    // an ops.note event: reload the list when it is about what the panel shows
    noteEvent: function (payload) {
      if (
        current &&
        current.notes &&
        payload &&
        payload.target_type === current.notes.type &&
        String(payload.target_ref) === String(current.notes.ref)
      ) {
        loadNotes();
      }
    },
  };
})();
