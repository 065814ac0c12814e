// The health page's trend chart: provisioning errors, sync age, Cloud Sync escrows and licence errors per
// snapshot (data from json_script).
(function () {
  var canvas = document.getElementById("trend-chart");
  var source = document.getElementById("trend-data");
  if (!canvas || !source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  new Chart(canvas, {
    type: "line",
    data: {
      labels: data.labels,
      datasets: [
        { label: "Provisioning errors", data: data.errors, yAxisID: "errors", borderColor: "#b42318",
          backgroundColor: "rgba(180, 35, 24, .15)", fill: true, tension: 0.2, pointRadius: 2 },
        { label: "Sync age (minutes)", data: data.sync_age, yAxisID: "age", borderColor: "#0b5cad",
          backgroundColor: "#0b5cad", tension: 0.2, pointRadius: 2, spanGaps: true },
      ].concat(
        // Cloud Sync escrows and licence errors only where some snapshot has them (null: not read then).
        data.escrows && data.escrows.some(function (n) { return n; }) ? [
          { label: "Escrowed objects (Cloud Sync)", data: data.escrows, yAxisID: "errors", borderColor: "#b54708",
            backgroundColor: "#b54708", tension: 0.2, pointRadius: 2, borderDash: [6, 3] }] : [],
        data.licence_errors && data.licence_errors.some(function (n) { return n; }) ? [
          { label: "Users with licence errors", data: data.licence_errors, yAxisID: "errors", borderColor: "#6941c6",
            backgroundColor: "#6941c6", tension: 0.2, pointRadius: 2, borderDash: [2, 2] }] : []
      ),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        errors: { type: "linear", position: "left", beginAtZero: true, title: { display: true, text: "errors" },
                  ticks: { precision: 0 } },
        age: { type: "linear", position: "right", beginAtZero: true, title: { display: true, text: "minutes since last sync" },
               grid: { drawOnChartArea: false } },
        x: { ticks: { maxTicksLimit: 8 } },
      },
    },
  });
})();
