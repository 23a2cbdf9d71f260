// Export page: follow running export jobs and offer the download when done (no inline script).
(function () {
  "use strict";
  var labels = document.getElementById("job-labels");

  function update(row, state) {
    row.dataset.status = state.status;
    var bar = row.querySelector("progress");
    var pct = Math.round(state.progress * 100);
    bar.value = pct;
    bar.textContent = pct + " %";
    var text = labels ? labels.dataset[state.status] || state.status : state.status;
    row.querySelector(".job-status").textContent = text + (state.message ? " · " + state.message : "");
    if (state.status === "done" && state.download) {
      var cell = row.querySelector(".job-download");
      if (!cell.querySelector("a")) {
        var link = document.createElement("a");
        link.href = state.download;
        link.setAttribute("download", "");
        link.textContent = labels ? labels.dataset.download : "Download";
        cell.appendChild(link);
      }
    }
  }

  function poll(row) {
    fetch(row.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (!state) { return; }
        update(row, state);
        if (state.status === "pending" || state.status === "running") {
          window.setTimeout(function () { poll(row); }, 1000);
        }
      })
      .catch(function () { window.setTimeout(function () { poll(row); }, 3000); });
  }

  document.querySelectorAll("tr.job").forEach(function (row) {
    if (row.dataset.status === "pending" || row.dataset.status === "running") { poll(row); }
  });
}());
