#!/usr/bin/env python3
"""Helper for benches/compare.sh.

Subcommands:
  change apply CORPUS SAVE   make the deterministic ~1% change to CORPUS, saving originals in SAVE
  change revert CORPUS SAVE  put the saved originals back (no-op if nothing is saved)
  quick-corpus SRC DST       build the small --quick corpus in DST from the full corpus SRC
  criterion-filter           print the criterion filter regex for the benches the limits need
  criterion LOG              print the throughputs (bytes/s) criterion printed in LOG as TSV records
  report TSV MD JSON         turn the raw records written by compare.sh into RESULTS.md + JSON

Everything here is deterministic: the same corpus always gets the same change.
"""

import json
import os
import random
import re
import shutil
import sqlite3
import stat
import statistics
import sys

# ---------------------------------------------------------------- the 1% change

CHANGE_SEED = 20261122
MANIFEST = "manifest.json"


def regular_files(root):
    """Relative paths of the regular files (not symlinks) below root, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            p = os.path.join(dirpath, name)
            if stat.S_ISREG(os.lstat(p).st_mode):
                out.append(os.path.relpath(p, root))
    out.sort()
    return out


def change_apply(corpus, save):
    if os.path.exists(os.path.join(save, MANIFEST)):
        sys.exit(f"change apply: {save}/{MANIFEST} exists; revert the previous change first")
    rng = random.Random(CHANGE_SEED)
    real = os.path.join(corpus, "real")
    files = regular_files(real) if os.path.isdir(real) else []
    picked = sorted(rng.sample(files, max(1, len(files) // 100))) if files else []
    os.makedirs(save, exist_ok=True)
    saved = []
    changed_bytes = 0
    # Save every original first, then write the manifest, then modify: an interrupted
    # apply can always be reverted.
    for rel in picked:
        dst = os.path.join(save, "real", rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.join(real, rel), dst)
        saved.append("real/" + rel)
    db = os.path.join(corpus, "db.sqlite")
    if os.path.isfile(db):
        shutil.copy2(db, os.path.join(save, "db.sqlite"))
        saved.append("db.sqlite")
    with open(os.path.join(save, MANIFEST), "w") as f:
        json.dump({"corpus": os.path.realpath(corpus), "files": saved}, f)
        f.flush()
        os.fsync(f.fileno())

    # Small files: a header line, a seeded 64-byte insert in the middle (content shifts),
    # so each file is a new chunk for every tool.
    for rel in picked:
        p = os.path.join(real, rel)
        with open(p, "rb") as f:
            data = f.read()
        mid = len(data) // 2
        new = b"# changed by cairn compare bench\n" + data[:mid] + rng.randbytes(64) + data[mid:]
        with open(p, "r+b") as f:
            f.write(new)
            f.truncate()
        changed_bytes += len(new)

    rows_updated = rows_inserted = 0
    if os.path.isfile(db):
        con = sqlite3.connect(db)
        con.execute("PRAGMA journal_mode=MEMORY")
        (max_id,) = con.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
        span = max(1, max_id // 1000)  # 0.1% of the rows per range
        upd = []
        for frac in (0.1, 0.3, 0.5, 0.7, 0.9):  # five ranges: ~0.5% of the rows, in place
            start = int(max_id * frac)
            for rid in range(start, start + span):
                upd.append((f"changed {rid} " + rng.randbytes(8).hex(), rng.randbytes(rng.randint(16, 400)), rid))
        con.executemany("UPDATE events SET msg = ?, payload = ? WHERE id = ?", upd)
        rows_updated = len(upd)
        ins = []
        for k in range(span * 5):  # ~0.5% new rows, appended
            rid = max_id + 1 + k
            ins.append((rid, 1_700_000_000 + rid * 7, f"host{rng.randrange(50):03d}", "INFO",
                        "appended row " + rng.randbytes(16).hex(), rng.randbytes(rng.randint(16, 400))))
        con.executemany("INSERT INTO events VALUES (?,?,?,?,?,?)", ins)
        rows_inserted = len(ins)
        con.commit()
        con.close()
    print(f"{len(picked)} of {len(files)} small files rewritten ({changed_bytes:,} bytes written), "
          f"{rows_updated:,} rows of db.sqlite updated in place in five ranges and {rows_inserted:,} rows appended")


def change_revert(corpus, save):
    man = os.path.join(save, MANIFEST)
    if not os.path.exists(man):
        return
    with open(man) as f:
        m = json.load(f)
    if m.get("corpus") != os.path.realpath(corpus):
        sys.exit(f"change revert: {man} belongs to corpus {m.get('corpus')}, not {corpus}")
    files = m["files"]
    for rel in files:
        src = os.path.join(save, rel)
        if os.path.exists(src):
            # copy2 writes into the existing inode (hard links stay linked) and restores mtime
            shutil.copy2(src, os.path.join(corpus, rel))
    os.remove(man)
    shutil.rmtree(save, ignore_errors=True)


# ---------------------------------------------------------------- quick corpus

def quick_corpus(src, dst, every=25, mib=20):
    real = os.path.join(src, "real")
    os.makedirs(dst, exist_ok=True)
    n = 0
    for i, rel in enumerate(regular_files(real)):
        if i % every:
            continue
        d = os.path.join(dst, "real", rel)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        shutil.copy2(os.path.join(real, rel), d)
        n += 1
    # a valid SQLite db of ~mib MiB: the first rows of the big one
    tmp = os.path.join(dst, "db.sqlite.tmp")
    if os.path.exists(tmp):
        os.remove(tmp)
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("ATTACH DATABASE ? AS big", ("file:" + os.path.join(src, "db.sqlite") + "?mode=ro",))
    con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, ts INTEGER, host TEXT, level TEXT, msg TEXT, payload BLOB)")
    (rows,) = con.execute("SELECT COUNT(*) FROM big.events").fetchone()
    big = os.path.getsize(os.path.join(src, "db.sqlite"))
    limit = max(1000, int(rows * (mib << 20) / big))
    con.execute("INSERT INTO events SELECT * FROM big.events ORDER BY id LIMIT ?", (limit,))
    con.execute("CREATE INDEX events_host ON events(host, ts)")
    con.commit()
    con.close()
    os.replace(tmp, os.path.join(dst, "db.sqlite"))
    with open(os.path.join(src, "random.bin"), "rb") as f, open(os.path.join(dst, "random.bin"), "wb") as g:
        g.write(f.read(mib << 20))
    print(f"quick corpus: {n} small files + {mib} MiB db + {mib} MiB random.bin in {dst}")


# ---------------------------------------------------------------- criterion

UNITS = {"B/s": 1, "KiB/s": 1 << 10, "MiB/s": 1 << 20, "GiB/s": 1 << 30, "TiB/s": 1 << 40}


# limits key -> criterion benchmark id (benches/micro.rs)
CRITERION_IDS = {
    "chunker": "chunker/cuts_64MiB",
    "blake3": "blob_id/keyed_blake3_1MiB",
    "zstd_text": "zstd3/text_1MiB",
    "zstd_random": "zstd3/random_1MiB",
    "seal": "xchacha20poly1305/seal_1MiB",
}
CRITERION_FILTER = "^(" + "|".join(CRITERION_IDS.values()) + ")$"


def criterion_throughputs(text):
    """{bench id: bytes/s (criterion's middle estimate)} from criterion's console output."""
    out = {}
    name = None
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s+time:", line)
        if m:
            name = m.group(1)
            continue
        m = re.match(r"^(\S+/\S+)\s*$", line)
        if m:
            name = m.group(1)
            continue
        m = re.match(r"^\s+thrpt:\s+\[([^\]]+)\]", line)
        if m and name and name not in out:
            parts = m.group(1).split()
            # "a unit b unit c unit": the middle pair is the estimate
            if len(parts) == 6 and parts[3] in UNITS:
                out[name] = float(parts[2]) * UNITS[parts[3]]
    return out


# ---------------------------------------------------------------- report

STEPS = [
    ("init", "init", "create the repository"),
    ("open", "open", "list snapshots of the empty repository: per-command fixed cost (key derivation, startup)"),
    ("backup", "first backup", "first backup into the empty repository"),
    ("unchanged", "unchanged re-backup", "second backup, nothing changed"),
    ("change", "re-backup after ~1% change", "third backup after the deterministic ~1% change"),
    ("restore", "full restore", "restore the latest snapshot into an empty directory"),
    ("check", "check (structure)", "check without reading the pack data"),
    ("read-data", "check --read-data", "check that reads and verifies all data"),
    ("prune", "forget + prune", "keep only the latest snapshot and free the space of the rest"),
]
THROUGHPUT_STEPS = {"backup", "unchanged", "change", "restore"}
PEER_ORDER = ["restic", "rustic", "borg"]


CORPUS_STAGES = [
    ("read", "read each file from the page cache"),
    ("chunk", "FastCDC cut points"),
    ("blake3", "keyed BLAKE3 blob ids"),
    ("zstd", "zstd level 3, library defaults, per chunk"),
    ("seal", "XChaCha20-Poly1305 over the stored bytes"),
    ("envelope", "cairn's own compress + seal per chunk (tuned encoder)"),
]


def corpus_limits(w, limits, corpus_bytes, cores, actual, out):
    """The bound from stage costs measured on this corpus (examples/pipeline_limits.rs)."""
    w("### Measured on this corpus")
    w("")
    if not (corpus_bytes and all(limits.get(f"corpus_{k}_s") for k, _ in CORPUS_STAGES)):
        w("Not measured (`examples/pipeline_limits` missing or failed).")
        w("")
        return
    w("Each stage of a perfect pipeline, alone on one thread over the real corpus "
      "(`examples/pipeline_limits.rs`: no pipeline, no bookkeeping, nothing written):")
    w("")
    w("| stage | MB in | CPU s | MB/s |")
    w("|---|---:|---:|---:|")
    for k, what in CORPUS_STAGES:
        b, t = limits[f"corpus_{k}_bytes"], limits[f"corpus_{k}_s"]
        w(f"| {what} | {b / 1e6:.0f} | {t:.2f} | {b / 1e6 / t:.0f} |")
    w("")
    c = {k: limits[f"corpus_{k}_s"] for k, _ in CORPUS_STAGES}
    default = c["read"] + c["chunk"] + c["blake3"] + c["zstd"] + c["seal"]
    tuned = c["read"] + c["chunk"] + c["blake3"] + c["envelope"]
    B = corpus_bytes
    out.update({"corpus_cpu_s_default_zstd": default, "corpus_cpu_s_cairn_envelope": tuned,
                "corpus_bound_default_zstd_bytes_s": B / (default / cores),
                "corpus_bound_cairn_envelope_bytes_s": B / (tuned / cores)})
    w(f"A perfect pipeline on {cores} cores reads, chunks and hashes every byte and compresses and seals "
      f"every chunk: **{default:.2f} CPU-s** with zstd 3 at its default parameters, i.e. "
      f"**{B / (default / cores) / 1e6:.0f} MB/s**; with cairn's tuned encoder in place of the default "
      f"one, {tuned:.2f} CPU-s, i.e. {B / (tuned / cores) / 1e6:.0f} MB/s (the stricter bound).")
    w("")
    if actual:
        w(f"cairn's first backup ran at {actual / 1e6:.0f} MB/s = **{100 * actual / (B / (default / cores)):.0f}%** "
          f"of the bound with default zstd 3 and **{100 * actual / (B / (tuned / cores)):.0f}%** of the stricter "
          "bound. (A real backup also walks directories, stats and opens every file, deduplicates, writes "
          "packs, the index and the trees, so 100% is unreachable.)")
        w("")


def synthetic_limits(w, limits, corpus_bytes, meta, cores, cfirst, actual, out):
    """The older bound from criterion rates on synthetic inputs, kept for reference."""
    w("### From micro-benchmarks on synthetic data")
    w("")
    w("| what | throughput MB/s | source |")
    w("|---|---:|---|")
    rows = [
        ("read_1", "read the corpus from the page cache, 1 thread", "`find -print0 \\| xargs -0 cat >/dev/null`"),
        ("read_2", "read the corpus from the page cache, 2 threads", "same with `xargs -P2`"),
        ("chunker", "FastCDC chunking (cut points)", "criterion `chunker/cuts_64MiB`"),
        ("blake3", "keyed BLAKE3 blob id", "criterion `blob_id/keyed_blake3_1MiB`"),
        ("zstd_text", "zstd level 3, text-like data", "criterion `zstd3/text_1MiB`"),
        ("zstd_random", "zstd level 3, incompressible data", "criterion `zstd3/random_1MiB`"),
        ("seal", "XChaCha20-Poly1305 seal", "criterion `xchacha20poly1305/seal_1MiB`"),
    ]
    for key, what, src in rows:
        v = limits.get(key)
        w(f"| {what} | {fmt(v / 1e6 if v else None, 1)} | {src} |")
    w("")
    need = ["chunker", "blake3", "zstd_text", "zstd_random", "seal"]
    if not (corpus_bytes and all(limits.get(k) for k in need)):
        w("Micro-benchmark throughputs missing: this estimate was skipped.")
        w("")
        return
    B = corpus_bytes
    Br = float(meta.get("corpus_random_bytes", 0))
    Bt = B - Br
    stored = cfirst or B
    cpu = (B / limits["chunker"] + B / limits["blake3"] + Bt / limits["zstd_text"]
           + Br / limits["zstd_random"] + stored / limits["seal"])
    ideal = B / (cpu / cores)
    cpu_read = cpu + (B / limits["read_1"] if limits.get("read_1") else 0)
    ideal_read = B / (cpu_read / cores)
    out.update({"cpu_s_per_corpus": cpu, "ideal_bytes_s": ideal,
                "cpu_s_per_corpus_with_read": cpu_read, "ideal_with_read_bytes_s": ideal_read})
    w(f"The same bound from these rates ({B / 1e6:.0f} MB, of which {Br / 1e6:.0f} MB incompressible "
      f"`random.bin`; zstd at the *text* rate on the rest; the AEAD on cairn's {stored / 1e6:.0f} MB stored): "
      f"{cpu:.2f} CPU-s without reads ({ideal / 1e6:.0f} MB/s), {cpu_read:.2f} CPU-s with them "
      f"({ideal_read / 1e6:.0f} MB/s). Synthetic text compresses faster than this corpus's binaries and "
      "databases, so this bound is optimistic; it is kept to compare with earlier reports.")
    w("")
    if actual:
        w(f"cairn's first backup against it: **{100 * actual / ideal:.0f}%** of the compute-only figure, "
          f"**{100 * actual / ideal_read:.0f}%** of the figure with reads.")
        w("")


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=2):
    if x is None:
        return "n/a"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}×"


def mib(b):
    return None if b is None else b / (1 << 20)


def kib_to_mib(k):
    return None if k is None else k / 1024


def load(tsv):
    meta, steps, sizes, limits, notes = {}, [], [], {}, []
    with open(tsv) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            kind = parts[0]
            if kind == "meta":
                meta[parts[1]] = parts[2]
            elif kind == "note":
                notes.append(parts[1])
            elif kind == "step":
                _, run, tool, step, status, wall, user, sys_, rss = parts[:9]
                num = lambda s: float(s) if s not in ("", "-") else None
                steps.append({"run": int(run), "tool": tool, "step": step, "status": status,
                              "wall_s": num(wall), "user_s": num(user), "sys_s": num(sys_),
                              "max_rss_kib": num(rss)})
            elif kind == "size":
                _, run, tool, what, b = parts[:5]
                sizes.append({"run": int(run), "tool": tool, "what": what, "bytes": int(b)})
            elif kind == "limit":
                limits[parts[1]] = float(parts[2])
    return meta, steps, sizes, limits, notes


def report(tsv, md_path, json_path):
    meta, steps, sizes, limits, notes = load(tsv)
    tools = meta.get("tools", "").split(",") if meta.get("tools") else []
    corpus_bytes = float(meta.get("corpus_bytes", 0)) or None
    runs = int(meta.get("runs", 1))

    def size_med(tool, what):
        return med([s["bytes"] for s in sizes if s["tool"] == tool and s["what"] == what])

    # medians per (tool, step)
    agg = {}
    for tool in tools:
        for step, _, _ in STEPS:
            rs = [r for r in steps if r["tool"] == tool and r["step"] == step]
            ok = [r for r in rs if r["status"] == "ok"]
            if not rs:
                continue
            statuses = sorted({r["status"] for r in rs})
            a = {"n": len(ok), "statuses": statuses,
                 "wall_s": med([r["wall_s"] for r in ok]),
                 "cpu_s": med([(r["user_s"] or 0) + (r["sys_s"] or 0) for r in ok]),
                 "max_rss_kib": med([r["max_rss_kib"] for r in ok])}
            if step in THROUGHPUT_STEPS and corpus_bytes and a["wall_s"]:
                a["throughput_mb_s"] = corpus_bytes / a["wall_s"] / 1e6
            elif step == "read-data" and a["wall_s"]:
                rb = size_med(tool, "final")
                a["throughput_mb_s"] = rb / a["wall_s"] / 1e6 if rb else None
            else:
                a["throughput_mb_s"] = None
            agg[(tool, step)] = a

    peers = [t for t in PEER_ORDER if t in tools]
    L = []
    w = L.append
    title = "# cairn vs restic, rustic and borg"
    if meta.get("quick") == "1":
        title += " — QUICK TEST RUN (small corpus, 1 run: not a measurement)"
    w(title)
    w("")
    w(f"Generated by `benches/compare.sh` on {meta.get('date', '?')}. "
      f"Each number is the **median of {runs} run(s)**; every run starts from a new, empty repository "
      "and a new, empty cache per tool. Before every timed step the page cache is dropped "
      "(`sync; echo 3 > /proc/sys/vm/drop_caches`) and the step's inputs are re-read (the corpus for "
      "backups; the repository for restore, check and prune; plus the tool's own cache dir), so every "
      "tool starts from the same warm page cache. Timings are GNU `time`: wall clock, user+sys CPU, "
      "peak RSS of the largest process.")
    w("")
    w("## Machine")
    w("")
    w(f"- CPU: {meta.get('cpu', '?')}, `nproc` = {meta.get('nproc', '?')}")
    w(f"- memory: {meta.get('mem', '?')}")
    w(f"- kernel: {meta.get('kernel', '?')}; work dir file system: {meta.get('fs', '?')}")
    w("")
    w("## Tools")
    w("")
    w("| tool | version | settings |")
    w("|---|---|---|")
    settings = {
        "cairn": "zstd 3, XChaCha20-Poly1305; default Argon2id KDF (64 MiB, 3 passes, 4 lanes)",
        "restic": "repository v2, `--compression auto` (zstd), AES-256-CTR + Poly1305; default scrypt KDF",
        "rustic": "repository v2, `init --set-compression 3`; restic format; default KDF; prune with `--instant-delete`",
        "borg": "`init -e repokey-blake2`, `create --compression zstd,3`; prune = `prune --keep-last 1` + `compact`",
    }
    for t in tools:
        w(f"| {t} | {meta.get('version_' + t, '?')} | {settings.get(t, '')} |")
    w("")
    w("## Corpus")
    w("")
    w(f"`{meta.get('corpus', '?')}`: {meta.get('corpus_files', '?')} regular files, "
      f"{int(float(meta.get('corpus_bytes', 0))):,} bytes ({mib(float(meta.get('corpus_bytes', 0))):.0f} MiB); "
      f"{meta.get('corpus_desc', '')}")
    w("")
    if meta.get("change_desc"):
        w(f"The ~1% change (deterministic, reverted after every run's change backup): {meta['change_desc']}.")
        w("")
    if notes:
        w("## Notes")
        w("")
        for n in notes:
            w(f"- {n}")
        w("")

    w("## Results per step")
    w("")
    w("Throughput = corpus bytes / wall time for backups and restore (MB = 10^6 bytes), repository "
      "bytes / wall time for `check --read-data`. *speed* = peer wall time / cairn wall time "
      "(> 1: cairn is faster); *memory* = cairn peak RSS / peer peak RSS (< 1: cairn uses less). "
      "\"n/a\": the tool has no such command (or it was not run); \"FAIL\": the command failed (see the logs "
      "in the work dir).")
    w("")
    summary = []
    for step, label, desc in STEPS:
        present = [t for t in tools if (t, step) in agg]
        if not present:
            continue
        c = agg.get(("cairn", step))
        cw = c["wall_s"] if c else None
        crss = c["max_rss_kib"] if c else None
        w(f"### {label}")
        w("")
        w(f"{desc}.")
        w("")
        w("| tool | median wall s | throughput MB/s | CPU s | peak RSS MiB | speed (peer/cairn) | memory (cairn/peer) |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        for t in tools:
            a = agg.get((t, step))
            if a is None:
                continue
            if a["n"] == 0:
                st = "FAIL" if "fail" in a["statuses"] else "n/a"
                w(f"| {t} | {st} | {st} | {st} | {st} | | |")
                continue
            sp = mr = ""
            if t != "cairn":
                sp = fmt_ratio(ratio(a["wall_s"], cw))
                mr = fmt_ratio(ratio(crss, a["max_rss_kib"]))
            w(f"| {t} | {fmt(a['wall_s'])} | {fmt(a['throughput_mb_s'], 1)} | {fmt(a['cpu_s'])} | "
              f"{fmt(kib_to_mib(a['max_rss_kib']), 1)} | {sp} | {mr} |")
        okpeers = [t for t in peers if (t, step) in agg and agg[(t, step)]["n"] > 0]
        fastest = min(okpeers, key=lambda t: agg[(t, step)]["wall_s"]) if okpeers else None
        row = {"step": label}
        if fastest:
            row["fastest"] = fastest
        if fastest and cw:
            fa = agg[(fastest, step)]
            row["speed_fastest"] = ratio(fa["wall_s"], cw)
            row["mem_fastest"] = ratio(crss, fa["max_rss_kib"])
            w("")
            w(f"cairn vs fastest peer ({fastest}): speed {fmt_ratio(row['speed_fastest'])}, "
              f"memory {fmt_ratio(row['mem_fastest'])}.")
        for p in peers:
            a = agg.get((p, step))
            if a and a["n"] and cw:
                row[p] = (ratio(a["wall_s"], cw), ratio(crss, a["max_rss_kib"]))
        summary.append(row)
        w("")

    w("## Repository size")
    w("")
    w("`du -sb` of the repository directory (median over runs). Compression ratio = corpus bytes / size after the first backup.")
    w("")
    w("| tool | after first backup MiB | after all backups MiB | after forget + prune MiB | compression ratio | size cairn/peer (first) |")
    w("|---|---:|---:|---:|---:|---:|")
    cfirst = size_med("cairn", "first")
    for t in tools:
        f1, f2, f3 = size_med(t, "first"), size_med(t, "final"), size_med(t, "pruned")
        cr = ratio(corpus_bytes, f1)
        sr = fmt_ratio(ratio(cfirst, f1)) if t != "cairn" else ""
        w(f"| {t} | {fmt(mib(f1), 1)} | {fmt(mib(f2), 1)} | {fmt(mib(f3), 1)} | "
          f"{'n/a' if cr is None else f'{cr:.2f}'} | {sr} |")
    w("")

    w("## Summary: cairn relative to each peer")
    w("")
    w("Per step, *speed* = peer time / cairn time (> 1: cairn faster) and *mem* = cairn RSS / peer RSS (< 1: cairn leaner).")
    w("")
    hdr = "| step | " + " | ".join(f"{p} speed | {p} mem" for p in peers) + " | fastest peer | speed vs fastest | mem vs fastest |"
    w(hdr)
    w("|---|" + "---:|---:|" * len(peers) + "---|---:|---:|")
    for row in summary:
        cells = []
        for p in peers:
            s, m = row.get(p, (None, None))
            cells += [fmt_ratio(s), fmt_ratio(m)]
        w(f"| {row['step']} | " + " | ".join(cells) +
          f" | {row.get('fastest', 'n/a')} | {fmt_ratio(row.get('speed_fastest'))} | {fmt_ratio(row.get('mem_fastest'))} |")
    w("")

    # ---------------------------------------------------------------- limits
    lim_out = {}
    w("## Limits of this machine")
    w("")
    if not limits:
        w("Not measured (`--no-limits`).")
        w("")
    else:
        cb = agg.get(("cairn", "backup"))
        actual = (corpus_bytes / cb["wall_s"]
                  if corpus_bytes and cb and cb["n"] and cb["wall_s"] else None)
        cores = int(meta.get("nproc", 2) or 2)
        lim_out = {"cores": cores, "cairn_first_backup_bytes_s": actual}
        corpus_limits(w, limits, corpus_bytes, cores, actual, lim_out)
        synthetic_limits(w, limits, corpus_bytes, meta, cores, cfirst, actual, lim_out)
        w("Where cairn's time goes, by profile: [`PROFILE.md`](PROFILE.md).")
        w("")

    with open(md_path, "w") as f:
        f.write("\n".join(L).rstrip() + "\n")
    raw = {"meta": meta, "notes": notes, "steps": steps, "sizes": sizes, "limits": limits,
           "limits_derived": lim_out,
           "medians": [{"tool": t, "step": s, **a} for (t, s), a in agg.items()]}
    with open(json_path, "w") as f:
        json.dump(raw, f, indent=1)
        f.write("\n")


def main(argv):
    if len(argv) >= 4 and argv[1] == "change":
        if argv[2] == "apply":
            change_apply(argv[3], argv[4])
        elif argv[2] == "revert":
            change_revert(argv[3], argv[4])
        else:
            sys.exit("change apply|revert CORPUS SAVE")
    elif len(argv) == 2 and argv[1] == "criterion-filter":
        print(CRITERION_FILTER)
    elif len(argv) == 4 and argv[1] == "quick-corpus":
        quick_corpus(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "criterion":
        with open(argv[2], errors="replace") as f:
            found = criterion_throughputs(f.read())
        for key, bench in CRITERION_IDS.items():
            if bench in found:
                print(f"limit\t{key}\t{found[bench]:.0f}")
    elif len(argv) == 5 and argv[1] == "report":
        report(argv[2], argv[3], argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
