// Developer-console warning on every page (self-XSS: people are tricked into pasting code that
// steals their session), then the administrator's message from /security/devconsole.json.
// Everything is printed as console text ("%s"), never put into the page.
(function () {
  "use strict";
  if (window.crmDevConsoleShown || !window.console) {
    return;
  }
  window.crmDevConsoleShown = true;
  var big = "color:#dc2626;font-size:36px;font-weight:bold;-webkit-text-stroke:1px black;";
  var text = "font-size:15px;";
  console.log("%cStop!", big);
  console.log(
    "%c%s",
    text,
    "This is a browser feature intended for developers. If someone told you to copy and paste " +
      "something here, it is a scam: it would give them access to your CR Tracker account."
  );
  var el = document.querySelector('meta[name="crm-devconsole-url"]');
  var url = el ? el.getAttribute("content") : "/security/devconsole.json";
  if (!window.fetch) {
    return;
  }
  fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (resp) {
      return resp.ok ? resp.json() : null;
    })
    .then(function (data) {
      if (data && typeof data.message === "string" && data.message) {
        console.log("%c%s", "font-size:14px;color:#2563eb;", data.message);
      }
    })
    .catch(function () {
      /* the message is optional */
    });
})();
