#!/usr/bin/env python3
"""Groups a `perf record` profile of cairn by where the time goes (zstd, BLAKE3, the
AEAD, SQLite, the kernel, ...) and prints a Markdown table of shares of CPU samples.
Used for benches/PROFILE.md.  Usage: perf_categories.py PERF_DATA"""
import re, sys, subprocess
data = sys.argv[1]
out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0"], capture_output=True, text=True).stdout
cats = {}
total = 0.0
for line in out.splitlines():
    m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(\S+)", line)
    if not m: continue
    pct, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4)
    total += pct
    if kind == "k": c = "kernel (syscalls: read, write, stat, page faults)"
    elif re.match(r"(ZSTD|HUF|FSE|HIST|ZDICT)_", sym): c = "zstd"
    elif "blake3" in sym: c = "BLAKE3"
    elif "chacha" in sym or "poly1305" in sym or "hchacha" in sym or "aead" in sym: c = "ChaCha20-Poly1305"
    elif "fastcdc" in sym: c = "FastCDC"
    elif sym.startswith("sqlite3") or sym.startswith("pcache") or "rusqlite" in sym: c = "SQLite (index cache)"
    elif "mem" in sym and dso.startswith("libc"): c = "memcpy/memmove/memcmp/memset"
    elif dso.startswith("libc") and re.search(r"malloc|free|_int_|unlink_chunk|consolidate|realloc", sym): c = "malloc/free"
    elif "sha2" in sym or "sha256" in sym: c = "SHA-256 (S3 request signing)"
    elif "argon2" in sym: c = "Argon2id (key derivation)"
    elif "postcard" in sym or "serde" in sym or "Tree" in sym: c = "tree encode/decode"
    else: c = "other"
    cats[c] = cats.get(c, 0) + pct
for c, p in sorted(cats.items(), key=lambda x: -x[1]):
    print(f"| {c} | {p:.1f}% |")
