// CR Tracker console behaviour. Loaded from /static (no inline scripts, so a strict CSP holds).
document.addEventListener("htmx:responseError", function (evt) {
  console.warn("request failed", evt.detail.xhr.status);
});
