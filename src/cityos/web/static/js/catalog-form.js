// The category form's attribute editor: add, remove and reorder attribute rows; the list of
// values is shown only for list datatypes. Rows submit their fields in page order.
(function () {
  "use strict";
  var list = document.getElementById("attr-list");
  var template = document.getElementById("attr-template");
  var add = document.getElementById("attr-add");
  if (!list || !template) {
    return;
  }
  var LIST_TYPES = ["singlevaluelist", "multivaluelist"];

  function toggleValues(row) {
    var select = row.querySelector("[data-datatype]");
    var values = row.querySelector("[data-values]");
    if (select && values) {
      values.hidden = LIST_TYPES.indexOf(select.value) < 0;
    }
  }

  list.querySelectorAll("[data-attr-row]").forEach(toggleValues);

  list.addEventListener("change", function (event) {
    if (event.target.matches("[data-datatype]")) {
      toggleValues(event.target.closest("[data-attr-row]"));
    }
  });

  list.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (!button) {
      return;
    }
    var row = button.closest("[data-attr-row]");
    var action = button.dataset.action;
    if (action === "remove") {
      row.remove();
    } else if (action === "up" && row.previousElementSibling) {
      list.insertBefore(row, row.previousElementSibling);
    } else if (action === "down" && row.nextElementSibling) {
      list.insertBefore(row.nextElementSibling, row);
    }
    var focus = row.isConnected ? row.querySelector("button[data-action='" + action + "']") : add;
    if (focus) {
      focus.focus();
    }
  });

  if (add) {
    add.addEventListener("click", function () {
      var row = template.content.firstElementChild.cloneNode(true);
      list.appendChild(row);
      toggleValues(row);
      row.querySelector("input").focus();
    });
  }
})();
