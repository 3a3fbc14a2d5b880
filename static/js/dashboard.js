/* Live figures on the manager dashboard: poll small JSON endpoints, update text. */
(function () {
  "use strict";
  var POLL_MS = 15000;

  function fmtHour(h, remaining, pool) {
    if ((h === null || h === undefined) && pool && !remaining) return "all labeled";
    if (h === null || h === undefined) return "no recent pace";
    var eta = new Date(Date.now() + h * 3600 * 1000);
    return eta.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function setText(root, key, value) {
    var el = root.querySelector('[data-k="' + key + '"]');
    if (el) el.textContent = value;
  }

  function pollOverview(root) {
    var url = root.getAttribute("data-live");
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) {
          if (!d) return;
          ["done", "pool", "labels_today", "labels_last_hour", "labels_week", "labels_remaining", "open", "leased",
            "adjudication_open"].forEach(function (k) { setText(document, k, d[k]); });
          setText(document, "per_hour", (d.per_hour || 0).toFixed(1));
          setText(document, "eta", fmtHour(d.eta_hours, d.labels_remaining, d.pool));
          var bar = document.querySelector('[data-k="progress-bar"]');
          if (bar) bar.style.width = Math.round((d.progress || 0) * 100) + "%";
        })
        .catch(function () { /* a missed poll is retried on the next tick */ });
    }
    setInterval(tick, POLL_MS);
  }

  function pollJob(row) {
    var url = row.getAttribute("data-job");
    var timer = setInterval(function () {
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (j) {
          if (!j) return;
          row.querySelector('[data-j="status"]').textContent = j.status === "pending" ? "waiting for a worker" : j.status;
          row.querySelector('[data-j="progress"]').textContent =
            j.total ? j.done + " / " + j.total : (j.done ? String(j.done) : "—");
          if (j.status === "succeeded" || j.status === "failed") {
            clearInterval(timer);
            window.location.reload();  // the server renders the final result
          }
        })
        .catch(function () {});
    }, 2000);
  }

  var live = document.querySelector("[data-live]");
  if (live) pollOverview(live);
  document.querySelectorAll("[data-job]").forEach(pollJob);
  var reload = document.querySelector("[data-reload]");
  if (reload) setTimeout(function () { window.location.reload(); }, 1000 * Number(reload.getAttribute("data-reload")));

  var form = document.querySelector("[data-export-form]"), link = document.getElementById("stream-link");
  function syncLink() {
    if (!form || !link) return;
    var fmt = form.elements.format.value, agg = form.elements.aggregate;
    // One line per labeler: majority and adjudicated do not apply, and the server refuses them.
    // They are greyed out, with a line saying why, rather than silently swapped.
    var perLabeler = fmt === "prm800k" || fmt === "critique";
    Array.prototype.forEach.call(agg.options, function (o) {
      if (o.value && o.value !== "none") o.disabled = perLabeler;
    });
    if (perLabeler && agg.options[agg.selectedIndex].disabled) agg.value = "";
    var hint = form.querySelector("[data-export=aggregate-hint]");
    if (hint) {
      hint.hidden = !perLabeler;
      hint.textContent = perLabeler ? fmt + " has one line per labeler and solution: aggregation does not apply." : "";
    }
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrfmiddlewaretoken" && value !== "") params.append(key, value);
    });
    link.href = link.href.split("?")[0] + "?" + params.toString();
    var directory = fmt === "hf-dataset";
    link.hidden = directory;  // a directory: only as an export file (.zip)
    var note = form.querySelector('[data-export="stream-note"]');
    if (note) note.hidden = !directory;
    link.textContent = "Download now (" + fmt + (agg.value ? ", " + agg.value : "") + ")";
  }
  if (form) { form.addEventListener("change", syncLink); form.addEventListener("input", syncLink); syncLink(); }
})();
