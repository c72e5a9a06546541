// Live countdown of a one-time code's validity, and the resend button's cool-down.
// Markup (crm/templates/auth/reset_countdown.html):
//   <div data-otp-expires="ISO-8601" data-otp-now="ISO-8601"> … <span role="timer" data-otp-remaining>
//   … <span aria-live="polite" data-otp-announce> … </div>
//   <button data-otp-resend-at="ISO-8601" data-otp-now="ISO-8601"> … <span data-otp-resend-wait>
// The time left is (expiry − server's now) counted down from page load, so a device whose
// clock is wrong still shows the right time. Screen readers hear a short announcement each
// minute and at expiry (not every second). Loaded from /static: no inline script (CSP).
(function () {
  "use strict";

  function seconds(el, attr) {
    var start = Date.parse(el.getAttribute("data-otp-now"));
    var end = Date.parse(el.getAttribute(attr));
    if (isNaN(start) || isNaN(end)) { return null; }
    return (end - start) / 1000;
  }

  function clock(s) {
    var m = Math.floor(s / 60), r = s % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }

  function every(el, tick) {
    var loaded = Date.now();
    var timer = null;
    function run() {
      if (!document.documentElement.contains(el)) { clearInterval(timer); return; }
      if (tick((Date.now() - loaded) / 1000) === false) { clearInterval(timer); }
    }
    timer = setInterval(run, 250);
    run();
  }

  function startValidity(box) {
    var total = seconds(box, "data-otp-expires");
    var out = box.querySelector("[data-otp-remaining]");
    var announce = box.querySelector("[data-otp-announce]");
    if (total === null || !out) { return; }
    var lastMinute = null;
    every(box, function (elapsed) {
      var left = Math.max(0, Math.ceil(total - elapsed));
      out.textContent = clock(left);
      box.setAttribute("data-otp-left", String(left));
      var minute = Math.ceil(left / 60);
      if (announce && left > 0 && minute !== lastMinute && left % 60 === 0) {
        announce.textContent = minute + (minute === 1 ? " minute" : " minutes") + " left to use the code.";
      }
      lastMinute = minute;
      if (left <= 0) {
        box.classList.remove("alert-info");
        box.classList.add("alert-warning");
        var label = box.firstElementChild;
        if (label && label !== out) { label.textContent = "The code has expired. Ask for a new code."; }
        if (announce) { announce.textContent = "The code has expired. Ask for a new code."; }
        return false;
      }
      return true;
    });
  }

  function startResend(button) {
    var total = seconds(button, "data-otp-resend-at");
    var wait = button.querySelector("[data-otp-resend-wait]");
    if (total === null) { return; }
    every(button, function (elapsed) {
      var left = Math.max(0, Math.ceil(total - elapsed));
      if (left > 0) {
        button.disabled = true;
        button.setAttribute("aria-disabled", "true");
        if (wait) { wait.textContent = " (in " + left + " s)"; }
        return true;
      }
      button.disabled = false;
      button.removeAttribute("aria-disabled");
      if (wait) { wait.textContent = ""; }
      return false;
    });
  }

  function init(root) {
    var scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll("[data-otp-expires]").forEach(function (el) {
      if (el.getAttribute("data-otp-started")) { return; }
      el.setAttribute("data-otp-started", "1");
      startValidity(el);
    });
    scope.querySelectorAll("[data-otp-resend-at]").forEach(function (el) {
      if (el.getAttribute("data-otp-started")) { return; }
      el.setAttribute("data-otp-started", "1");
      startResend(el);
    });
  }

  if (window.crmOtpCountdown) {  // loaded again by a boosted navigation: just scan the page
    window.crmOtpCountdown(document);
    return;
  }
  window.crmOtpCountdown = init;
  document.addEventListener("htmx:load", function (evt) { init(evt.detail && evt.detail.elt); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
})();
