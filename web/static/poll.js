// Keeps a submission page current: polls the page's JSON twin (same origin) every few
// seconds, writes the fields marked data-field as text, and reloads the page when a run
// lands or the job ends, so the server renders the new runs. Without JavaScript a
// <noscript> meta refresh reloads the page instead.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || live.dataset.active !== "yes") return;
  var url = live.dataset.poll;
  var everyMs = 5000;
  var seenRuns = Number(live.dataset.runs || 0);

  function pick(obj, path) {
    return path.split(".").reduce(function (o, key) {
      if (o === null || o === undefined) return undefined;
      if (key === "length" && Array.isArray(o)) return o.length;
      return o[key];
    }, obj);
  }

  function show(data) {
    document.querySelectorAll("[data-field]").forEach(function (el) {
      var value = pick(data, el.dataset.field);
      el.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
    });
  }

  function tick() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        show(data);
        var runs = pick(data, "job.runs_done.length");
        var state = pick(data, "job.state");
        if (runs !== seenRuns || (state !== "PENDING" && state !== "RUNNING")) {
          window.location.reload();
          return;
        }
        window.setTimeout(tick, everyMs);
      })
      .catch(function () { window.setTimeout(tick, everyMs * 2); });
  }

  window.setTimeout(tick, everyMs);
})();
