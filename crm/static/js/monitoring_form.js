// Monitor form: shows the field groups of the chosen monitor type (fieldsets carry
// data-monitor-types="http tcp …") and adds/removes synthetic steps by cloning the
// <template id="step-template"> (its "__index__" placeholders become the next index).
// Without JavaScript every group stays visible and the server ignores other types' fields.
(function () {
  "use strict";
  if (window.crmMonitoringForm) { window.crmMonitoringForm.refresh(document); return; }

  function refresh(root) {
    (root || document).querySelectorAll("select[data-monitor-type]").forEach(function (select) {
      var form = select.form;
      var kind = select.value;
      form.querySelectorAll("[data-monitor-types]").forEach(function (group) {
        var show = group.dataset.monitorTypes.split(" ").indexOf(kind) !== -1;
        group.hidden = !show;
      });
    });
  }

  function renumber(list) {
    list.querySelectorAll("[data-step]").forEach(function (step, i) {
      var title = step.querySelector("[data-step-number]");
      if (title) { title.textContent = String(i + 1); }
    });
  }

  document.addEventListener("change", function (evt) {
    if (evt.target.matches && evt.target.matches("select[data-monitor-type]")) { refresh(evt.target.form); }
  });

  document.addEventListener("click", function (evt) {
    var add = evt.target.closest && evt.target.closest("[data-add-step]");
    if (add) {
      evt.preventDefault();
      var list = document.getElementById(add.dataset.addStep);
      var template = document.getElementById("step-template");
      var next = Number(list.dataset.nextIndex || list.querySelectorAll("[data-step]").length);
      list.dataset.nextIndex = String(next + 1);
      var html = template.innerHTML.replace(/__index__/g, String(next));
      list.insertAdjacentHTML("beforeend", html);
      renumber(list);
      var inserted = list.lastElementChild && list.lastElementChild.querySelector("input, select, textarea");
      if (inserted) { inserted.focus(); }
      return;
    }
    var remove = evt.target.closest && evt.target.closest("[data-remove-step]");
    if (remove) {
      evt.preventDefault();
      var step = remove.closest("[data-step]");
      var parent = step.parentElement;
      if (parent.querySelectorAll("[data-step]").length > 1) {
        step.remove();
        renumber(parent);
      }
    }
  });

  window.crmMonitoringForm = {refresh: refresh};
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { refresh(document); });
  } else {
    refresh(document);
  }
  document.addEventListener("htmx:load", function (evt) { refresh(evt.target); });
})();
