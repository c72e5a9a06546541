// Ticket lists: the filters panel (<details data-open-wide>) starts folded on a phone and
// open on wider screens. Loaded from /static (no inline scripts, so a strict CSP holds).
(function () {
  var WIDE = "(min-width: 768px)";
  function openWide(root) {
    if (!window.matchMedia(WIDE).matches) return;
    (root || document).querySelectorAll("details[data-open-wide]").forEach(function (d) {
      if (!d.dataset.openedWide) { d.open = true; d.dataset.openedWide = "1"; }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { openWide(); });
  } else {
    openWide();
  }
  document.addEventListener("htmx:load", function (evt) { openWide(evt.target); });
})();
