"""Markdown for benches/wan.sh: the records of wan_bench.py run, as RESULTS-WAN.md."""

import json
import os
import statistics

from wan_bench import CLASS, PRICE_A, PRICE_B, STEPS, TITLES


def classes(reqs):
    a = sum(v for k, v in reqs.items() if CLASS.get(k) == "A")
    b = sum(v for k, v in reqs.items() if CLASS.get(k) == "B")
    return a, b


def med(xs):
    return statistics.median(xs) if xs else None


def fmt_ratio(peer, cairn):
    if peer is None or cairn is None or cairn <= 0:
        return ""
    return f"{peer / cairn:.2f}×"


def table(out, recs, profile, step):
    rows = [r for r in recs if r["profile"] == profile and r["step"] == step]
    tools = [t for t in ("cairn", "restic", "rustic") if any(r["tool"] == t for r in rows)]
    if not rows:
        return
    rate = rows[0]["rate_mbit"] * 1e6 / 8
    out.append(f"### {TITLES[step]}\n")
    out.append("| tool | median wall s | runs ok | CPU s | peak RSS MiB | MB up | MB down | "
               "link-bound s | link share | class A | class B | R2 cost ¢/1000 runs | speed (tool/cairn) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    cairn_wall = med([r["wall"] for r in rows if r["tool"] == "cairn" and r["rc"] == 0])
    for t in tools:
        rs = [r for r in rows if r["tool"] == t]
        ok = [r for r in rs if r["rc"] == 0]
        if not ok:
            out.append(f"| {t} | FAIL | 0/{len(rs)} | | | | | | | | | | |")
            continue
        wall = med([r["wall"] for r in ok])
        up, down = med([r["up"] for r in ok]), med([r["down"] for r in ok])
        bound = max(up, down) / rate
        a_cnt = med([classes(r["requests"])[0] for r in ok])
        b_cnt = med([classes(r["requests"])[1] for r in ok])
        cost = (a_cnt * PRICE_A + b_cnt * PRICE_B) / 1e6 * 100 * 1000
        speed = "" if t == "cairn" else fmt_ratio(wall, cairn_wall)
        out.append(f"| {t} | {wall:.2f} | {len(ok)}/{len(rs)} | {med([r['cpu'] for r in ok]):.2f} | "
                   f"{med([r['rss_kib'] for r in ok]) / 1024:.0f} | {up / 1e6:.1f} | {down / 1e6:.1f} | "
                   f"{bound:.2f} | {bound / wall:.0%} | {a_cnt:.0f} | {b_cnt:.0f} | {cost:.2f} | {speed} |")
    peers = [med([r["wall"] for r in rows if r["tool"] == t and r["rc"] == 0]) for t in tools if t != "cairn"]
    peers = [p for p in peers if p]
    if peers and cairn_wall:
        out.append(f"\ncairn against the best peer: **{min(peers) / cairn_wall:.2f}×**.\n")
    else:
        out.append("")


def report(a):
    # The newest file wins for each (profile, tool) it holds.
    newest = {}
    for path in sorted(a.records, key=os.path.getmtime):
        with open(path) as f:
            for r in (json.loads(line) for line in f if line.strip()):
                newest.setdefault(path, []).append(r)
    winner = {}
    for path, rs in newest.items():
        for r in rs:
            winner[(r["profile"], r["tool"])] = path
    recs = [r for path, rs in newest.items() for r in rs if winner[(r["profile"], r["tool"])] == path]
    meta = json.loads(a.meta)
    out = ["# cairn, restic and rustic across a WAN (benches/wan.sh)", ""]
    out.append(meta.get("intro", ""))
    out.append("")
    for profile in dict.fromkeys(r["profile"] for r in recs):
        p = next(r for r in recs if r["profile"] == profile)
        runs = max(r["run"] for r in recs if r["profile"] == profile)
        out.append(f"## Profile {profile}: {p['delay_ms']:.0f} ms each way, {p['rate_mbit']:.0f} Mbit/s "
                   f"(median of {runs} run{'s' if runs > 1 else ''})\n")
        for step in STEPS:
            table(out, recs, profile, step)
    out.append("## Columns\n")
    out.append("- *MB up / down*: bytes that crossed the shaped link (the host end's interface counters: "
               "TCP/IP and HTTP overhead included). *link-bound s*: the larger direction divided by the "
               "link's rate, the least time the link allows; *link share* = link-bound / wall (100 %: "
               "the step ran at the link's limit).")
    out.append(f"- *class A / B*: S3 requests the server counted for the tool's bucket, by R2's billing "
               f"classes (A: PUT, POST, LIST, COPY at ${PRICE_A}/million; B: GET, HEAD at ${PRICE_B}/million; "
               f"DELETE free). *R2 cost*: cents per 1,000 runs of the step.")
    out.append("- *speed*: the tool's median wall time / cairn's (> 1: cairn is faster).")
    out.append("")
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")
