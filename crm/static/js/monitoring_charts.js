// Monitoring charts: draws every element carrying a Plotly figure in data-figure (JSON
// built server-side by crm/monitoring/dashboards.py). plotly.min.js is served from the installed plotly package (crm/assets.py) and loaded
// on first use from the element's data-plotly-src, so pages without charts never fetch it.
// No inline scripts: this file is loaded with <script src defer> (strict CSP).
(function () {
  "use strict";
  if (window.crmMonitoringCharts) {  // loaded again by a boosted navigation
    window.crmMonitoringCharts.drawAll(document);
    return;
  }
  var loading = null;
  var NARROW = 440;  // px: narrower charts get their legend above the plot, not beside it

  function loadPlotly(src) {
    if (window.Plotly) { return Promise.resolve(window.Plotly); }
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = src;
        script.onload = function () { resolve(window.Plotly); };
        script.onerror = function () { loading = null; reject(new Error("could not load " + src)); };
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  function draw(Plotly, el) {
    if (el.dataset.drawn === "1" || !el.isConnected) { return; }
    el.dataset.drawn = "1";
    var fig = JSON.parse(el.dataset.figure);
    var layout = fig.layout || {};
    layout.autosize = true;
    if (layout.legend && el.clientWidth < NARROW) {
      // A legend beside the plot would squeeze a narrow chart to nothing: put it above the
      // plot instead (Plotly widens the top margin for it; it covers neither bars nor ticks).
      layout.legend = {orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom",
                       font: layout.legend.font};
    }
    Plotly.newPlot(el, fig.data || [], layout, {responsive: true, displaylogo: false, displayModeBar: false});
  }

  function drawAll(root) {
    var scope = root || document;
    var charts = Array.prototype.slice.call(scope.querySelectorAll("[data-figure]"));
    if (scope.matches && scope.matches("[data-figure]")) { charts.push(scope); }
    charts = charts.filter(function (el) { return el.dataset.drawn !== "1"; });
    if (!charts.length) { return; }
    loadPlotly(charts[0].dataset.plotlySrc).then(function (Plotly) {
      charts.forEach(function (el) { draw(Plotly, el); });
    }).catch(function (err) {
      charts.forEach(function (el) { el.textContent = "The chart could not be drawn (" + err.message + ")."; });
    });
  }

  window.crmMonitoringCharts = {drawAll: drawAll};
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  } else {
    drawAll(document);
  }
  document.addEventListener("htmx:load", function (evt) { drawAll(evt.target); });
})();
