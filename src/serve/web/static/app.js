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
      const c = $("cancel");
      if (c) c.remove();
      if (es) { es.close(); es = null; }
    } else {
      $("job-progress").hidden = false;
    }
  }
  // Once the job has ended: the server's own rendering of its figures
  // and log, swapped in (the page is not reloaded).
  function swap() {
    fetch(location.pathname, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
      .then((t) => {
        const d = new DOMParser().parseFromString(t, "text/html");
        for (const x of ["facts", "job-log"]) {
          const n = d.getElementById(x), o = $(x);
          if (n && o) o.replaceWith(n);
        }
        const e = d.getElementById("job-error");
        if (e && !$("job-error")) $("facts").before(e);
      })
      .catch(() => {});
  }
  // The status, once the stream is open: an end it missed before.
  function refresh() {
    fetch("/jobs/" + id + "/state", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((rec) => {
        setStatus(rec.status);
        if (FINAL.includes(rec.status)) swap();
      })
      .catch(() => {});
  }
  es = new EventSource("/events?job=" + encodeURIComponent(id));
  es.addEventListener("open", refresh);
  es.addEventListener("status", (e) => {
    const d = JSON.parse(e.data);
    setStatus(d.status);
    if (FINAL.includes(d.status)) swap();
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
