// Opens the "please verify your email" pop-up (auth/_verify_modal.html) when a page carries
// it: on the first load and after every htmx swap (boosted links and forms swap the body).
(function () {
  function openVerifyModal(root) {
    var scope = root && root.querySelector ? root : document;
    var el = scope.querySelector("#verify-email-modal[data-auto-show]");
    if (!el && scope !== document && scope.id === "verify-email-modal") { el = scope; }
    if (!el || !window.bootstrap) { return; }
    el.removeAttribute("data-auto-show");  // once per page
    window.bootstrap.Modal.getOrCreateInstance(el).show();
  }
  if (window.htmx) {
    window.htmx.onLoad(openVerifyModal);
  } else {
    document.addEventListener("DOMContentLoaded", function () { openVerifyModal(document); });
  }
})();
