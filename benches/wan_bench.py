#!/usr/bin/env python3
"""The WAN benchmark matrix of benches/wan.sh (issue 20): cairn, restic and rustic against one
S3 server behind a shaped, delayed link, each tool with its defaults (KDF included).

  wan_bench.py run --profile NAME --endpoint URL --metrics-cmd CMD --link-dev DEV --rate-mbit N
                   --delay-ms N --corpus DIR --extra DIR --work DIR --run N --tools LIST
                   --cairn BIN --rustic BIN --records FILE
  wan_bench.py report --out FILE RECORDS...

`run` appends one JSON line per timed step to RECORDS: wall/CPU/peak RSS (GNU time), the bytes
that crossed the link both ways (the host end's interface counters: what the WAN carried,
protocol overhead included), and the S3 requests the server counted for that tool's bucket by
type (SeaweedFS's metrics). Before every step the page cache is dropped and the step's local
inputs re-read (the sources for backups, the tool's cache dir otherwise). `report` turns the
records into Markdown: medians over the runs, speed ratios against the best peer, the link's
share of each step, and the requests by R2 billing class with their price.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare_report  # noqa: E402  (the deterministic ~1% change)
from bucket_bench import drop_caches  # noqa: E402

PASSWORD = "cairn-wan-bench-password"  # throwaway, only for these bench repositories
# R2 prices (USD per million requests, 2026): class A writes and lists, class B reads.
PRICE_A, PRICE_B = 4.50, 0.36
CLASS = {"PUT": "A", "POST": "A", "LIST": "A", "COPY": "A", "GET": "B", "HEAD": "B"}
STEPS = ["init", "backup", "unchanged", "change", "restore", "restore-one", "ls", "find",
         "check", "read-data"]
TITLES = {
    "backup": "first backup", "unchanged": "unchanged re-backup", "change": "backup after the ~1% change",
    "restore": "full restore", "restore-one": "restore of one small file", "ls": "`ls` of a deep directory",
    "find": "`find` of a name pattern", "check": "`check`", "read-data": "`check --read-data`", "init": "init",
}


def say(msg):
    print(f"[wan {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def reread(paths):
    for p in paths:
        for dirpath, _, files in os.walk(p):
            for name in files:
                fp = os.path.join(dirpath, name)
                if os.path.isfile(fp) and not os.path.islink(fp):
                    with open(fp, "rb") as f:
                        while f.read(1 << 20):
                            pass


def link_bytes(dev):
    base = f"/sys/class/net/{dev}/statistics"
    return tuple(int(open(f"{base}/{k}").read()) for k in ("tx_bytes", "rx_bytes"))


def requests(metrics_cmd, bucket):
    """Requests the server counted for BUCKET, by type (successful or not)."""
    out = subprocess.run(metrics_cmd, shell=True, capture_output=True, text=True).stdout
    counts = {}
    pat = re.compile(r'^SeaweedFS_s3_request_total\{(.*)\} (\S+)$')
    for line in out.splitlines():
        m = pat.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("bucket") == bucket:
            t = labels.get("type", "?")
            counts[t] = counts.get(t, 0) + int(float(m.group(2)))
    return counts


class Tools:
    """The command line of every step for every tool, each with its defaults."""

    def __init__(self, a, run):
        self.a, self.run = a, run
        self.sources = [a.corpus, a.extra]

    def bucket(self, tool):
        return f"wan-{self.a.profile}-r{self.run}-{tool}"

    def cache(self, tool):
        return os.path.join(self.a.work, f"r{self.run}", tool, "cache")

    def env(self, tool):
        e = dict(os.environ)
        e.pop("AWS_CA_BUNDLE", None)
        repo = f"s3:{self.a.endpoint}/{self.bucket(tool)}"
        if tool == "cairn":
            e.update(CAIRN_PASSWORD=PASSWORD, CAIRN_REPOSITORY=repo, CAIRN_CACHE_DIR=self.cache(tool))
        elif tool == "restic":
            e.update(RESTIC_PASSWORD=PASSWORD, RESTIC_REPOSITORY=repo, RESTIC_CACHE_DIR=self.cache(tool))
        else:
            e.update(RUSTIC_CACHE_DIR=self.cache(tool), XDG_CONFIG_HOME=self.rustic_config())
        return e

    def rustic_config(self):
        """rustic reaches S3 through opendal, configured by a profile file (secrets: 0600)."""
        d = os.path.join(self.cache("rustic"), "xdg")
        os.makedirs(os.path.join(d, "rustic"), exist_ok=True)
        path = os.path.join(d, "rustic", "rustic.toml")
        body = (f'[repository]\nrepository = "opendal:s3"\npassword = "{PASSWORD}"\n'
                f'[repository.options]\nendpoint = "{self.a.endpoint}"\nbucket = "{self.bucket("rustic")}"\n'
                f'root = "/"\nregion = "us-east-1"\naccess_key_id = "{os.environ["AWS_ACCESS_KEY_ID"]}"\n'
                f'secret_access_key = "{os.environ["AWS_SECRET_ACCESS_KEY"]}"\n')
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(body)
        return d

    def cmd(self, tool, step, target=None):
        a = self.a
        if tool == "cairn":
            c = [a.cairn]
            return {
                "init": c + ["init"], "backup": c + ["backup"] + self.sources,
                "restore": c + ["restore", "latest", "--target", target],
                "restore-one": c + ["restore", f"latest:{a.one_file}", "--target", target],
                "ls": c + ["ls", f"latest:{a.deep_dir}"], "find": c + ["find", a.pattern],
                "check": c + ["check"], "read-data": c + ["check", "--read-data"],
            }.get(step, c + ["backup"] + self.sources)
        if tool == "restic":
            c = ["restic", "--cache-dir", self.cache(tool)]
            return {
                "init": c + ["init", "--repository-version", "2"],
                "backup": c + ["backup", "--compression", "auto"] + self.sources,
                "restore": c + ["restore", "latest", "--target", target],
                "restore-one": c + ["restore", "latest", "--target", target, "--include", a.one_file],
                "ls": c + ["ls", "latest", a.deep_dir], "find": c + ["find", a.pattern],
                "check": c + ["check"], "read-data": c + ["check", "--read-data"],
            }.get(step, c + ["backup", "--compression", "auto"] + self.sources)
        c = [a.rustic, "--no-progress"]
        return {
            "init": c + ["init"], "backup": c + ["backup"] + self.sources,
            "restore": c + ["restore", "latest", target],
            "restore-one": c + ["restore", f"latest:{a.one_file}", target],
            "ls": c + ["ls", f"latest:{a.deep_dir}"], "find": c + ["find", "--glob", f"**/{a.pattern}"],
            "check": c + ["check"], "read-data": c + ["check", "--read-data"],
        }.get(step, c + ["backup"] + self.sources)


def timed(a, tools, tool, step, records):
    target = None
    if step in ("restore", "restore-one"):
        target = os.path.join(a.work, "restore", tool)
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
    cmd = tools.cmd(tool, step, target)
    os.makedirs(tools.cache(tool), exist_ok=True)
    drop_caches()
    reread(tools.sources + [tools.cache(tool)] if step in ("backup", "unchanged", "change") else [tools.cache(tool)])
    log = os.path.join(a.work, "logs", f"{a.profile}-r{tools.run}-{tool}-{step}")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    before_req, before_link = requests(a.metrics_cmd, tools.bucket(tool)), link_bytes(a.link_dev)
    with open(log + ".log", "w") as out:
        rc = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", log + ".time"] + cmd,
                            env=tools.env(tool), stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=a.work).returncode
    after_link, after_req = link_bytes(a.link_dev), requests(a.metrics_cmd, tools.bucket(tool))
    wall, user, sys_, rss = open(log + ".time").read().split("\n")[-2].split()
    req = {k: after_req.get(k, 0) - before_req.get(k, 0) for k in after_req}
    rec = {"profile": a.profile, "run": tools.run, "tool": tool, "step": step, "rc": rc,
           "wall": float(wall), "cpu": float(user) + float(sys_), "rss_kib": int(rss),
           "up": after_link[0] - before_link[0], "down": after_link[1] - before_link[1],
           "requests": {k: v for k, v in req.items() if v}, "rate_mbit": a.rate_mbit,
           "delay_ms": a.delay_ms}
    if target and rc == 0:
        rec["files"] = sum(len(f) for _, _, f in os.walk(target))
        shutil.rmtree(target, ignore_errors=True)
    if step in ("ls", "find"):
        rec["lines"] = sum(1 for _ in open(log + ".log"))
    records.write(json.dumps(rec) + "\n")
    records.flush()
    say(f"{a.profile} run {tools.run} {tool:6} {step:11} rc {rc} {float(wall):7.2f} s  "
        f"up {rec['up'] / 1e6:7.1f} MB down {rec['down'] / 1e6:7.1f} MB  {rec['requests']}")
    return rc == 0


def run(a):
    """One run: every tool through every step, against a server of its own (see wan.sh)."""
    save = os.path.join(a.work, "change-save")
    compare_report.change_revert(a.corpus, save)  # a change left by an interrupted run
    shutil.rmtree(os.path.join(a.work, f"r{a.run}"), ignore_errors=True)
    tools = Tools(a, a.run)
    with open(a.records, "a") as records:
        ok = [t for t in a.tools if timed(a, tools, t, "init", records) and timed(a, tools, t, "backup", records)]
        for t in ok:
            timed(a, tools, t, "unchanged", records)
        compare_report.change_apply(a.corpus, save)
        try:
            for t in ok:
                timed(a, tools, t, "change", records)
        finally:
            compare_report.change_revert(a.corpus, save)
        for step in STEPS[4:]:
            for t in ok:
                timed(a, tools, t, step, records)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    for name in ("profile", "endpoint", "metrics-cmd", "link-dev", "corpus", "extra", "work", "cairn",
                 "rustic", "records", "one-file", "deep-dir", "pattern"):
        r.add_argument("--" + name, required=True)
    r.add_argument("--rate-mbit", type=float, required=True)
    r.add_argument("--delay-ms", type=float, required=True)
    r.add_argument("--run", type=int, default=1, help="the run's number (a new server per run)")
    r.add_argument("--tools", default="cairn,restic,rustic")
    rep = sub.add_parser("report")
    rep.add_argument("--out", required=True)
    rep.add_argument("--meta", default="{}")
    rep.add_argument("records", nargs="+")
    a = p.parse_args()
    if a.cmd == "run":
        a.tools = a.tools.split(",")
        run(a)
    else:
        import wan_report
        wan_report.report(a)


if __name__ == "__main__":
    main()
