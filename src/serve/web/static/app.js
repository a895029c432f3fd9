// cairn dashboard: live progress of a job's page through server-sent
// events (the page works without this script; it only saves reloads).
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live || live.dataset.live !== "true") return;
  const id = live.dataset.job;
  const $ = (x) => document.getElementById(x);
  const FINAL = ["succeeded", "failed", "cancelled"];
  const human = (n) => {
    const u = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(2) : String(n)) + " " + u[i];
  };
  const setText = (el, t) => { if (el) el.textContent = t; };
  let es = null;
  function setStatus(s) {
    const el = $("job-status");
    el.textContent = s;
    el.className = "status s-" + s;
    if (FINAL.includes(s)) {
      $("job-progress").hidden = true;
      if (es) { es.close(); es = null; }
    } else {
      $("job-progress").hidden = false;
    }
  }
  function fill(rec) {
    setText($("f-files"), rec.files == null ? "–" : String(rec.files));
    setText($("f-read"), rec.bytes_read == null ? "–" : human(rec.bytes_read));
    setText($("f-added"), rec.bytes_added == null ? "–" : human(rec.bytes_added));
    setText($("f-stored"), rec.bytes_stored == null ? "–" : human(rec.bytes_stored));
    setText($("f-started"), rec.started_at || "–");
    setText($("f-finished"), rec.finished_at || "–");
    if (rec.snapshot_id) setText($("f-snapshot"), rec.snapshot_id);
    if (rec.error) {
      let e = $("job-error");
      if (!e) { e = document.createElement("p"); e.id = "job-error"; e.className = "error"; e.setAttribute("role", "alert"); live.after(e); }
      e.textContent = rec.error;
    }
    setStatus(rec.status);
  }
  // The record, once the stream is open (nothing is missed in between)
  // and when the job has ended (its final figures).
  function refresh() {
    fetch("/jobs/" + id + "/state", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then(fill)
      .catch(() => {});
  }
  es = new EventSource("/events?job=" + encodeURIComponent(id));
  es.addEventListener("open", refresh);
  es.addEventListener("status", (e) => {
    const d = JSON.parse(e.data);
    setStatus(d.status);
    if (FINAL.includes(d.status)) refresh();
  });
  es.addEventListener("progress", (e) => {
    const d = JSON.parse(e.data);
    setText($("p-files"), String(d.files));
    setText($("p-bytes"), human(d.bytes));
    setText($("p-rate"), human(d.rate) + "/s");
  });
  es.addEventListener("log", (e) => {
    const d = JSON.parse(e.data);
    const li = document.createElement("li");
    li.textContent = d.line;
    $("job-log").appendChild(li);
  });
})();
