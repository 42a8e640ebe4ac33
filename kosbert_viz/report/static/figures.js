// The report's other figures (kosbert_viz.report): the theme tree and the trend charts. Each chart's element names
// the JSON block of its figure (data-kv-plot="kv-tree"); every one is drawn once plotly.js is loaded (loader.js).
(function() {
  "use strict";
  function draw(div) {
    var spec = document.getElementById(div.getAttribute("data-kv-plot"));
    window.kvPlotlyReady.then(function() {
      var f = JSON.parse(spec.textContent);
      return Plotly.newPlot(div, f.data, f.layout, {responsive: true, displaylogo: false});
    }).catch(function(e) { console.error("kosbert_viz report: " + e); });
  }
  document.addEventListener("DOMContentLoaded", function() {
    Array.prototype.forEach.call(document.querySelectorAll("div[data-kv-plot]"), draw);
  });
})();
