// The rollout page's burn-down chart: unresolved findings by severity after each scan (data from json_script).
(function () {
  var canvas = document.getElementById("burn-down-chart");
  var source = document.getElementById("burn-down-data");
  if (!canvas || !source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  function line(label, values, colour) {
    return { label: label, data: values, borderColor: colour, backgroundColor: colour + "33", fill: true,
             tension: 0.2, pointRadius: 2 };
  }
  new Chart(canvas, {
    type: "line",
    data: {
      labels: data.labels,
      datasets: [
        line("Blocking", data.blocking, "#b42318"),
        line("Degrading", data.degrading, "#b54708"),
        line("Hygiene", data.hygiene, "#627d98"),
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      scales: { y: { stacked: true, beginAtZero: true, title: { display: true, text: "unresolved findings" },
                     ticks: { precision: 0 } },
                x: { ticks: { maxTicksLimit: 8 } } },
    },
  });
})();
