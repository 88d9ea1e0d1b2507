/* Finance dashboard charts: drawn with Chart.js from the JSON the report services computed
   (templates/admin/reporting/dashboard.html). Amounts arrive as exact decimal strings; they are turned
   into numbers only to be plotted, and tooltips show them with the currency. */
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("finance-charts");
    if (!source || typeof Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var style = getComputedStyle(document.documentElement);
    var text = style.getPropertyValue("--body-quiet-color").trim() || "#666";
    var grid = style.getPropertyValue("--hairline-color").trim() || "#e8e8e8";
    Chart.defaults.color = text;
    Chart.defaults.borderColor = grid;
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
    var money = new Intl.NumberFormat(undefined, {
      minimumFractionDigits: data.decimals, maximumFractionDigits: data.decimals
    });
    function fmt(value) { return data.currency + " " + money.format(value); }
    function nums(values) { return values.map(Number); }
    var tooltip = { callbacks: { label: function (ctx) { return ctx.dataset.label + ": " + fmt(ctx.parsed.y); } } };
    var axis = { ticks: { callback: function (v) { return money.format(v); } } };
    var colors = { new: "#2e7d32", expansion: "#66bb6a", reactivation: "#29b6f6", contraction: "#ffa726", churn: "#e53935" };

    // ARR is MRR x 12: one line, read against the left axis as MRR and the right one as ARR
    var arr = nums(data.arr);
    new Chart(document.getElementById("chart-mrr"), {
      type: "line",
      data: { labels: data.labels, datasets: [
        { label: "MRR", data: nums(data.mrr), borderColor: "#417690", backgroundColor: "#417690", tension: 0.2 }
      ] },
      options: {
        plugins: { tooltip: { callbacks: {
          label: function (ctx) { return "MRR: " + fmt(ctx.parsed.y); },
          afterLabel: function (ctx) { return "ARR: " + fmt(arr[ctx.dataIndex]); }
        } } },
        scales: {
          y: Object.assign({ title: { display: true, text: "MRR (" + data.currency + ")" }, beginAtZero: true }, axis),
          y1: Object.assign({
            position: "right", title: { display: true, text: "ARR (" + data.currency + ")" }, grid: { drawOnChartArea: false },
            afterDataLimits: function (scale) { var y = scale.chart.scales.y; scale.min = y.min * 12; scale.max = y.max * 12; }
          }, axis)
        }
      }
    });

    new Chart(document.getElementById("chart-movements"), {
      type: "bar",
      data: { labels: data.labels, datasets: Object.keys(data.movements).map(function (kind) {
        return { label: data.movements[kind].label, data: nums(data.movements[kind].values), backgroundColor: colors[kind] };
      }) },
      options: { plugins: { tooltip: tooltip }, scales: { x: { stacked: true }, y: Object.assign({ stacked: true }, axis) } }
    });

    new Chart(document.getElementById("chart-revenue"), {
      type: "bar",
      data: { labels: data.labels, datasets: [
        { label: "Invoiced", data: nums(data.invoiced), backgroundColor: "#79aec8" },
        { label: "Recognized", data: nums(data.recognized), backgroundColor: "#417690" },
        { label: "Deferred (month end)", data: nums(data.deferred), type: "line", borderColor: "#c78c00", backgroundColor: "#c78c00", tension: 0.2 }
      ] },
      options: { plugins: { tooltip: tooltip }, scales: { y: Object.assign({ beginAtZero: true }, axis) } }
    });

    new Chart(document.getElementById("chart-aging"), {
      type: "bar",
      data: { labels: data.aging.labels, datasets: [
        { label: "Due", data: nums(data.aging.values), backgroundColor: ["#66bb6a", "#ffd54f", "#ffa726", "#fb8c00", "#e53935"] }
      ] },
      options: { plugins: { legend: { display: false }, tooltip: tooltip }, scales: { y: Object.assign({ beginAtZero: true }, axis) } }
    });
    document.documentElement.dataset.financeCharts = "drawn";
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
