// The framework page: a collapsible tree, and a weights editor that keeps sums right.
//
// The rules are the parser's: a group's children sum to the group's weight (the index's
// children to the framework's total) within a relative 1e-6; all blank means equal shares; a
// group without a weight weighs its children's sum. Each group shows its children's sum
// against what it should be, live; "rescale" makes them fit: the siblings of the weight
// edited last take what is left, or, when none was edited, every child is scaled.
(function () {
  "use strict";
  var table = document.getElementById("framework-tree");
  if (!table) {
    return;
  }
  var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-code]"));
  var byCode = {};
  var children = {};
  rows.forEach(function (row) {
    byCode[row.dataset.code] = row;
    var parent = row.dataset.parent;
    if (parent) {
      (children[parent] = children[parent] || []).push(row.dataset.code);
    }
  });

  // --- collapsing ------------------------------------------------------------------------
  function collapsed(row) {
    var button = row.querySelector("[data-toggle]");
    return button && button.getAttribute("aria-expanded") === "false";
  }

  function refreshVisibility() {
    rows.forEach(function (row) {
      var hidden = false;
      var parent = row.dataset.parent;
      while (parent) {
        var above = byCode[parent];
        if (collapsed(above)) {
          hidden = true;
          break;
        }
        parent = above.dataset.parent;
      }
      row.hidden = hidden;
    });
  }

  function setExpanded(row, expanded) {
    var button = row.querySelector("[data-toggle]");
    if (button) {
      button.setAttribute("aria-expanded", expanded ? "true" : "false");
      button.textContent = expanded ? "▾" : "▸";
    }
  }

  table.addEventListener("click", function (event) {
    var button = event.target.closest("[data-toggle]");
    if (!button) {
      return;
    }
    var row = button.closest("tr");
    setExpanded(row, collapsed(row));
    refreshVisibility();
  });
  document.querySelectorAll("[data-tree-all]").forEach(function (button) {
    button.addEventListener("click", function () {
      var expand = button.dataset.treeAll === "expand";
      rows.forEach(function (row) {
        if (row.dataset.group && row.dataset.depth !== "0") {
          setExpanded(row, expand);
        }
      });
      refreshVisibility();
    });
  });

  // --- the weights editor ------------------------------------------------------------------
  var form = document.getElementById("weights-form");
  if (!form || !form.querySelector("[data-weight]")) {
    return;
  }
  var total = parseFloat(form.dataset.total);
  var status = document.getElementById("weights-status");
  var lastEdited = {}; // group code → the child whose weight was typed last

  function input(code) {
    return form.querySelector('[data-weight="' + CSS.escape(code) + '"]');
  }

  function read(code) {
    var field = input(code);
    if (!field) {
      return null;
    }
    var text = field.value.trim().replace(/[,，]/g, ".");
    if (text === "") {
      return null;
    }
    var value = Number(text);
    return isFinite(value) && value >= 0 ? value : NaN;
  }

  function shown(value) {
    return String(Number(value.toPrecision(10)));
  }

  function fits(sum, expected) {
    return Math.abs(sum - expected) <= 1e-6 * Math.max(Math.abs(expected), Math.abs(sum));
  }

  // The weight a node counts with in its parent's sum (a group without its own: the sum).
  function resolved(code) {
    var own = read(code);
    if (own !== null || !children[code]) {
      return own;
    }
    var sum = 0;
    var kids = children[code];
    for (var i = 0; i < kids.length; i++) {
      var weight = resolved(kids[i]);
      if (weight === null || isNaN(weight)) {
        return null;
      }
      sum += weight;
    }
    return sum;
  }

  // What a group's children must sum to (null: nothing, the group weighs their sum).
  function expectedOf(code) {
    var row = byCode[code];
    if (row.dataset.depth === "0") {
      return total;
    }
    return read(code);
  }

  function check(code) {
    var kids = children[code] || [];
    var weights = kids.map(resolved);
    var expected = expectedOf(code);
    var given = weights.filter(function (w) {
      return w !== null;
    });
    var result = { ok: true, text: "", canRescale: false };
    if (weights.some(function (w) { return isNaN(w); })) {
      return { ok: false, text: "?", canRescale: false };
    }
    if (!given.length) {
      result.text = form.dataset.labelEqual;
      return result;
    }
    var sum = given.reduce(function (a, b) {
      return a + b;
    }, 0);
    if (given.length < weights.length) {
      return { ok: false, text: form.dataset.labelMixed, canRescale: expected !== null && !isNaN(expected) };
    }
    if (sum <= 0) {
      return { ok: false, text: form.dataset.labelZero, canRescale: false };
    }
    if (expected === null || isNaN(expected)) {
      result.text = "Σ " + shown(sum) + " (" + form.dataset.labelFree + ")";
      return result;
    }
    result.text = "Σ " + shown(sum) + " / " + shown(expected);
    result.ok = fits(sum, expected);
    result.canRescale = !result.ok;
    return result;
  }

  function refreshSums() {
    var unfit = 0;
    Object.keys(children).forEach(function (code) {
      var label = form.querySelector('[data-sum-for="' + CSS.escape(code) + '"]');
      var button = form.querySelector('[data-rescale="' + CSS.escape(code) + '"]');
      var result = check(code);
      if (label) {
        label.textContent = result.text;
        label.classList.toggle("bad", !result.ok);
        label.classList.toggle("ok", result.ok);
      }
      if (button) {
        button.hidden = !result.canRescale;
      }
      if (!result.ok) {
        unfit += 1;
      }
    });
    status.textContent = unfit ? form.dataset.labelUnfit.replace("{count}", unfit) : "";
    status.classList.toggle("bad", unfit > 0);
  }

  function rescale(code) {
    var kids = children[code] || [];
    var expected = expectedOf(code);
    if (!kids.length || expected === null || isNaN(expected)) {
      return;
    }
    var values = kids.map(resolved);
    var given = values.filter(function (w) {
      return w !== null && !isNaN(w);
    });
    var mean = given.length ? given.reduce(function (a, b) { return a + b; }, 0) / given.length : 1;
    values = values.map(function (w) {
      return w === null || isNaN(w) || (w === 0 && mean === 0) ? mean || 1 : w;
    });
    var fixed = kids.indexOf(lastEdited[code]);
    var others = kids.map(function (_, i) { return i; });
    var target = expected;
    if (fixed >= 0 && values[fixed] <= expected && kids.length > 1) {
      others = others.filter(function (i) { return i !== fixed; });
      target = expected - values[fixed];
    }
    var sum = others.reduce(function (a, i) { return a + values[i]; }, 0);
    others.forEach(function (i) {
      values[i] = sum > 0 ? (values[i] * target) / sum : target / others.length;
    });
    // rounded to 6 decimals; the last one takes the rounding so that the sum is exact
    var running = fixed >= 0 && others.length < kids.length ? values[fixed] : 0;
    others.forEach(function (i, k) {
      if (k < others.length - 1) {
        values[i] = Math.round(values[i] * 1e6) / 1e6;
        running += values[i];
      } else {
        values[i] = Math.max(0, Math.round((expected - running) * 1e6) / 1e6);
      }
    });
    kids.forEach(function (child, i) {
      var field = input(child);
      if (field) {
        field.value = shown(values[i]);
      }
    });
    refreshSums();
  }

  form.addEventListener("input", function (event) {
    var code = event.target.dataset ? event.target.dataset.weight : null;
    if (!code) {
      return;
    }
    var parent = byCode[code].dataset.parent;
    if (parent) {
      lastEdited[parent] = code;
    }
    refreshSums();
  });
  form.addEventListener("click", function (event) {
    var button = event.target.closest("[data-rescale]");
    if (button) {
      rescale(button.dataset.rescale);
    }
  });
  refreshSums();
})();
