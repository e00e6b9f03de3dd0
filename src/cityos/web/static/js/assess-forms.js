// Small helpers of the assessment forms: selects that submit their form when changed, a
// confirmation before deleting, and the run form's unit choice following what is typed.
(function () {
  "use strict";
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.form) {
        select.form.submit();
      }
    });
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });
  var runForm = document.querySelector('form[data-testid="run-form"]');
  if (runForm) {
    var choose = function (value) {
      var radio = runForm.querySelector('input[name="units_kind"][value="' + value + '"]');
      if (radio) {
        radio.checked = true;
      }
    };
    var codes = runForm.querySelector('input[name="unit_codes"]');
    var group = runForm.querySelector('select[name="peer_group"]');
    if (codes) {
      codes.addEventListener("input", function () {
        choose("list");
      });
    }
    if (group) {
      group.addEventListener("change", function () {
        choose("peers");
      });
    }
  }
})();
