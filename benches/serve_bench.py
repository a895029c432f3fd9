#!/usr/bin/env python3
"""Driver of benches/serve.sh (see there for what is measured). Standard library only."""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

PASSWORD = "cairn-serve-bench-password"  # throwaway, only for these local bench repositories


def say(msg):
    print(f"[serve {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def drop_caches(*trees):
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    for tree in trees:
        for d, _, files in os.walk(tree):
            for name in files:
                try:
                    with open(os.path.join(d, name), "rb") as f:
                        while f.read(1 << 20):
                            pass
                except OSError:
                    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A `cairn serve` process with one repository and one manual plan."""

    def __init__(self, cairn, work, corpus, repo, *more):
        self.cairn, self.work = cairn, work
        self.port = free_port()
        self.state = os.path.join(work, "state")
        os.makedirs(self.state, exist_ok=True)
        pw = os.path.join(work, "password")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        self.config = os.path.join(work, "config.toml")
        with open(self.config, "w") as f:
            f.write(
                f'[server]\nlisten = "127.0.0.1:{self.port}"\nstate_dir = "{self.state}"\n'
                f'cache_dir = "{os.path.join(work, "cache")}"\n\n'
                f'[repositories.bench]\nlocation = "{repo}"\npassword_file = "{pw}"\n\n'
                f'[plans.bench]\nrepository = "bench"\npaths = ["{corpus}"]\n'
            )
            for i, r in enumerate(more, start=2):
                f.write(f'\n[repositories.bench{i}]\nlocation = "{r}"\npassword_file = "{pw}"\n\n'
                        f'[plans.bench{i}]\nrepository = "bench{i}"\npaths = ["{corpus}"]\n')
        out = subprocess.run(
            [cairn, "serve", "--config", self.config, "token", "create", "--name", "bench",
             "--scope", "admin"],
            check=True, capture_output=True, text=True).stdout
        self.token = out.strip().splitlines()[-1]
        self.proc = subprocess.Popen([cairn, "serve", "--config", self.config],
                                     stdout=subprocess.DEVNULL, stderr=open(
                                         os.path.join(work, "serve.log"), "a"))
        deadline = time.time() + 60
        while True:
            try:
                self.get("/api/v1/health", auth=False)
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise SystemExit("serve_bench: the service did not start (see serve.log)")
                time.sleep(0.1)

    def request(self, method, path, body=None, auth=True):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, data=data, timeout=600) as r:
            return json.loads(r.read() or b"null")

    def get(self, path, auth=True):
        return self.request("GET", path, auth=auth)

    def get_raw(self, path):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.read()

    def run_plan(self, plan="bench"):
        """Triggers the plan; returns (seconds from request to final status, job)."""
        t0 = time.monotonic()
        job = self.request("POST", f"/api/v1/plans/{plan}/run", body={})["job"]
        while True:
            rec = self.get(f"/api/v1/jobs/{job}")
            if rec["status"] in ("succeeded", "failed", "cancelled"):
                t = time.monotonic() - t0
                if rec["status"] != "succeeded":
                    raise SystemExit(f"serve_bench: job {job} {rec['status']}: {rec.get('error')}")
                return t, rec
            time.sleep(0.02)

    def proc_figures(self):
        """(VmRSS KiB, VmHWM KiB, CPU seconds so far)."""
        status = open(f"/proc/{self.proc.pid}/status").read()
        kib = {l.split(":")[0]: int(l.split()[1]) for l in status.splitlines()
               if l.startswith(("VmRSS", "VmHWM"))}
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return kib["VmRSS"], kib["VmHWM"], cpu

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def cli_backup(cairn, repo, cache, corpus):
    t0 = time.monotonic()
    subprocess.run([cairn, "--repo", repo, "--cache-dir", cache, "--quiet", "backup", corpus],
                   check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def pollers(svc, job_ids, stop, counts, interval):
    """50 clients, each asking for the job list and one job every `interval` seconds."""
    def poll():
        n = 0
        while not stop.wait(interval):
            svc.get("/api/v1/jobs?limit=20")
            if job_ids:
                svc.get(f"/api/v1/jobs/{job_ids[-1]}")
            n += 2
        counts.append(n)
    threads = [threading.Thread(target=poll, daemon=True) for _ in range(50)]
    for t in threads:
        t.start()
    return threads


def one_run(a, run, raw):
    work = os.path.join(a.work, f"run{run}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env_repo = lambda n: os.path.join(work, n)
    # The command line.
    repo, cache = env_repo("repo-cli"), env_repo("cache-cli")
    subprocess.run([a.cairn, "--repo", repo, "--cache-dir", cache, "--quiet", "init"], check=True)
    for step in ("first", "unchanged"):
        drop_caches(a.corpus, cache)
        raw.append((run, "cli", step, cli_backup(a.cairn, repo, cache, a.corpus)))
    # The service, on its own repository.
    repos = [env_repo(n) for n in ("repo-serve", "repo-serve2", "repo-serve3")]
    for r in repos:
        subprocess.run([a.cairn, "--repo", r, "--cache-dir", env_repo("cache"), "--quiet",
                        "init"], check=True)
    repo = repos[0]
    svc = Service(a.cairn, work, a.corpus, *repos)
    try:
        for step in ("first", "unchanged"):
            drop_caches(a.corpus, env_repo("cache"))
            cpu0 = svc.proc_figures()[2]
            t, _ = svc.run_plan()
            raw.append((run, "serve", step, t))
            raw.append((run, "serve", f"{step}-cpu", svc.proc_figures()[2] - cpu0))
        # First backups again (into fresh repositories) with 50 clients polling the jobs, once
        # at a dashboard's pace (every second) and once as a stress (every 50 ms). The clients
        # are Python threads on the same two cores: the service's own CPU time is recorded too,
        # to tell its cost from theirs.
        for plan, interval, step in (("bench2", 1.0, "pollers-1s"), ("bench3", 0.05, "pollers-50ms")):
            stop, counts = threading.Event(), []
            ids = [j["id"] for j in svc.get("/api/v1/jobs?limit=1")]
            drop_caches(a.corpus, env_repo("cache"))
            cpu0 = svc.proc_figures()[2]
            threads = pollers(svc, ids, stop, counts, interval)
            t, _ = svc.run_plan(plan)
            stop.set()
            for th in threads:
                th.join()
            raw.append((run, "serve", f"first-{step}", t))
            raw.append((run, "serve", f"first-{step}-cpu", svc.proc_figures()[2] - cpu0))
            raw.append((run, "serve", f"{step}-requests", sum(counts)))
        # Idle.
        time.sleep(5)
        rss0, _, cpu0 = svc.proc_figures()
        time.sleep(30)
        rss, hwm, cpu = svc.proc_figures()
        raw.append((run, "serve", "idle-rss-kib", rss))
        raw.append((run, "serve", "peak-rss-kib", hwm))
        raw.append((run, "serve", "idle-cpu-percent", 100 * (cpu - cpu0) / 30))
        # 10,000 snapshots.
        have = len(svc.get("/api/v1/repositories/bench/snapshots"))
        env = dict(os.environ, CAIRN_PASSWORD=PASSWORD)
        subprocess.run([a.fill, repo, str(10000 - have), env_repo("cache-fill")], check=True,
                       env=env, stdout=subprocess.DEVNULL)
        # The service sees snapshots written by another process once its list is older than
        # serve::SNAPSHOT_LIST_MAX_AGE (15 s); the first call then loads the new ones.
        time.sleep(16)
        # Timed to the last byte of the response; the client's JSON parsing (slower in
        # Python than the service's answer) is left out.
        times = []
        for i in range(51):
            t0 = time.monotonic()
            body = svc.get_raw("/api/v1/repositories/bench/snapshots")
            times.append(time.monotonic() - t0)
        n = len(json.loads(body))
        assert n == 10000, n
        raw.append((run, "serve", "list-10k-first-ms", 1000 * times[0]))
        raw.append((run, "serve", "list-10k-median-ms", 1000 * statistics.median(times[1:])))
        raw.append((run, "serve", "list-10k-p95-ms",
                    1000 * sorted(times[1:])[int(0.95 * len(times[1:])) - 1]))
    finally:
        svc.stop()
    shutil.rmtree(work, ignore_errors=True)


def report(raw, a):
    def med(tool, step):
        xs = [v for (_, t, s, v) in raw if t == tool and s == step]
        return statistics.median(xs) if xs else float("nan")
    rows = [
        ("first backup: service / command line", med("serve", "first") / med("cli", "first")),
        ("unchanged backup: service / command line",
         med("serve", "unchanged") / med("cli", "unchanged")),
        ("first backup with 50 clients polling the jobs every second / without",
         med("serve", "first-pollers-1s") / med("serve", "first")),
        ("first backup with 50 clients polling the jobs every 50 ms / without",
         med("serve", "first-pollers-50ms") / med("serve", "first")),
    ]
    # The service's CPU time per API request answered, over what the same backup costs it.
    per_request_us = 1e6 * (med("serve", "first-pollers-50ms-cpu") - med("serve", "first-cpu")) \
        / med("serve", "pollers-50ms-requests")
    lines = [
        "<!-- serve:begin -->",
        "## The service (benches/serve.sh)",
        "",
        f"Corpus {a.corpus}; default settings (KDF included); medians of {a.runs} runs; the page "
        "cache dropped before each backup. A service backup is timed from the API request to the "
        "job's final status.",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {v:.2f} |" for name, v in rows]
    lines += [
        f"| API requests answered during those backups (1 s / 50 ms) | "
        f"{med('serve', 'pollers-1s-requests'):.0f} / {med('serve', 'pollers-50ms-requests'):.0f} |",
        f"| the service's CPU time per API request (50 ms pollers) | {per_request_us:.0f} µs |",
        f"| idle service, resident memory | {med('serve', 'idle-rss-kib') / 1024:.1f} MiB |",
        f"| peak resident memory (after the backups) | {med('serve', 'peak-rss-kib') / 1024:.1f} MiB |",
        f"| idle service, CPU over 30 s | {med('serve', 'idle-cpu-percent'):.2f} % |",
        f"| list 10,000 snapshots, first call | {med('serve', 'list-10k-first-ms'):.0f} ms |",
        f"| list 10,000 snapshots, median / p95 of 50 | "
        f"{med('serve', 'list-10k-median-ms'):.1f} / {med('serve', 'list-10k-p95-ms'):.1f} ms |",
        "<!-- serve:end -->",
    ]
    section = "\n".join(lines) + "\n"
    text = open(a.out).read() if os.path.exists(a.out) else ""
    if "<!-- serve:begin -->" in text:
        head, rest = text.split("<!-- serve:begin -->", 1)
        text = head + section + rest.split("<!-- serve:end -->", 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(a.out, "w").write(text)
    with open(os.path.join(os.path.dirname(a.out), "serve.json"), "w") as f:
        json.dump([{"run": r, "mode": t, "step": s, "value": v} for (r, t, s, v) in raw], f,
                  indent=1)
    print(section)


def main():
    p = argparse.ArgumentParser()
    for opt in ("--cairn", "--fill", "--corpus", "--work", "--out"):
        p.add_argument(opt, required=True)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    os.environ["CAIRN_PASSWORD"] = PASSWORD
    raw = []
    for run in range(1, a.runs + 1):
        say(f"run {run} of {a.runs}")
        one_run(a, run, raw)
    report(raw, a)


if __name__ == "__main__":
    main()
