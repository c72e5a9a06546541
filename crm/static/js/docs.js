// Swagger UI on /docs, from the vendored bundle (no inline script, so a strict CSP holds).
// The page may arrive as a full load (deferred scripts run in order) or through an htmx
// boosted navigation (scripts are inserted afterwards, in no guaranteed order), so wait
// for the bundle when it is not there yet.
(function () {
  "use strict";

  function start() {
    var el = document.getElementById("swagger-ui");
    if (!el || el.dataset.started || typeof window.SwaggerUIBundle !== "function") {
      return;
    }
    el.dataset.started = "1";
    el.textContent = "";
    window.SwaggerUIBundle({
      url: el.dataset.specUrl,
      domNode: el,
      deepLinking: true,
      persistAuthorization: false,
      tryItOutEnabled: false,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    });
  }

  function whenReady() {
    if (typeof window.SwaggerUIBundle === "function") {
      start();
      return;
    }
    var bundle = document.getElementById("swagger-ui-bundle");
    if (bundle) {
      bundle.addEventListener("load", start, { once: true });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", whenReady, { once: true });
  } else {
    whenReady();
  }
})();
