/* The customer page's usage charts: one bar chart per metric, days of the period on the x axis, drawn
   with Chart.js (served from reporting/static) from the JSON the page embeds. Values arrive as exact
   decimal strings; they become numbers only to be plotted. */
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("c360-usage");
    if (!source || typeof Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var style = getComputedStyle(document.documentElement);
    Chart.defaults.color = style.getPropertyValue("--body-quiet-color").trim() || "#666";
    Chart.defaults.borderColor = style.getPropertyValue("--hairline-color").trim() || "#e8e8e8";
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
    data.metrics.forEach(function (metric) {
      var canvas = document.getElementById("usage-" + metric.code);
      if (!canvas) { return; }
      new Chart(canvas, {
        type: "bar",
        data: { labels: data.labels, datasets: [
          { label: metric.name, data: metric.values.map(Number), backgroundColor: "#417690" }
        ] },
        options: {
          plugins: { legend: { display: true, position: "top", align: "start" } },
          scales: { y: { beginAtZero: true }, x: { ticks: { autoSkip: true, maxRotation: 0 } } }
        }
      });
    });
    document.documentElement.setAttribute("data-usage-charts", "drawn");
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
