#!/usr/bin/env python3
"""Lower bounds of the "1 %" database change (benches/database.sh, issue 14).

    database_bounds.py BEFORE.sqlite AFTER.sqlite

What no backup tool can go below, whatever its chunking: the new row content the change wrote
(random payloads: incompressible), and the 4 KiB pages that differ, compressed with zstd -3 (a
tool that stores pages cannot store less). And the CPU time of `PRAGMA quick_check` alone on the
changed database (page cache warm), which a verified snapshot pays on every changed database.
Prints one JSON object.
"""
import json
import sqlite3
import subprocess
import sys
import time

PAGE = 4096


def changed_pages(before, after):
    """The pages of `after` that differ from `before` (appended pages included)."""
    out = []
    with open(before, "rb") as a, open(after, "rb") as b:
        while True:
            x, y = a.read(PAGE), b.read(PAGE)
            if not y:
                return out
            if x != y:
                out.append(y)


def zstd_size(data):
    return len(subprocess.run(["zstd", "-3", "-c", "-q"], input=data, capture_output=True,
                              check=True).stdout)


def new_row_bytes(db):
    """Bytes of the message and payload columns the change wrote (compare_report.py's rows)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    (n,) = con.execute("SELECT COALESCE(SUM(LENGTH(msg) + LENGTH(payload)), 0) FROM events "
                       "WHERE msg LIKE 'changed %' OR msg LIKE 'appended row %'").fetchone()
    con.close()
    return n


def quick_check_cpu(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.execute("PRAGMA quick_check").fetchall()  # warm the page cache first
    t0 = time.process_time()
    (res,) = con.execute("PRAGMA quick_check").fetchone()
    cpu = time.process_time() - t0
    con.close()
    if res != "ok":
        sys.exit(f"database_bounds: quick_check of {db}: {res}")
    return cpu


def main(before, after):
    pages = changed_pages(before, after)
    print(json.dumps({
        "changed_pages": len(pages),
        "changed_page_bytes": len(pages) * PAGE,
        "changed_pages_zstd": zstd_size(b"".join(pages)),
        "new_row_bytes": new_row_bytes(after),
        "quick_check_cpu_seconds": quick_check_cpu(after),
    }))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
