#!/usr/bin/env bash
# Builds the deterministic mixed benchmark corpus in $1 (default /work/bench/corpus):
#   real/     tens of thousands of small files copied from system directories
#   db.sqlite a ~400 MiB SQLite database filled with seeded data
#   random.bin 300 MiB of seeded incompressible data
# Re-running with an existing corpus does nothing.
set -euo pipefail
dir=${1:-/work/bench/corpus}
mkdir -p "$dir"
if [ ! -d "$dir/real" ]; then
  mkdir -p "$dir/real.tmp"
  for src in /usr/share /usr/include /usr/lib/python3.11; do
    [ -d "$src" ] && cp -a --parents "$src" "$dir/real.tmp/" 2>/dev/null || true
  done
  mv "$dir/real.tmp" "$dir/real"
fi
if [ ! -f "$dir/db.sqlite" ]; then
  python3 - "$dir/db.sqlite.tmp" <<'PY'
import random, sqlite3, sys
random.seed(20261122)
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA journal_mode=OFF")
db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, ts INTEGER, host TEXT, level TEXT, msg TEXT, payload BLOB)")
words = ["alpha", "beta", "gamma", "delta", "backup", "restore", "chunk", "pack", "index", "tree", "error", "ok"]
hosts = [f"host{i:03d}" for i in range(50)]
batch = []
target = 400 * 1024 * 1024
size = 0
i = 0
while size < target:
    msg = " ".join(random.choice(words) for _ in range(random.randint(5, 30)))
    payload = random.randbytes(random.randint(16, 400))
    batch.append((i, 1_700_000_000 + i * 7, random.choice(hosts), random.choice(["INFO", "WARN", "ERROR"]), msg, payload))
    size += len(msg) + len(payload) + 40
    i += 1
    if len(batch) == 20000:
        db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?)", batch)
        batch = []
db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?)", batch)
db.execute("CREATE INDEX events_host ON events(host, ts)")
db.commit()
db.close()
PY
  mv "$dir/db.sqlite.tmp" "$dir/db.sqlite"
fi
if [ ! -f "$dir/random.bin" ]; then
  python3 -c "
import random, sys
r = random.Random(42)
with open(sys.argv[1], 'wb') as f:
    for _ in range(300):
        f.write(r.randbytes(1 << 20))
" "$dir/random.bin.tmp"
  mv "$dir/random.bin.tmp" "$dir/random.bin"
fi
echo "corpus: $(find "$dir" -type f | wc -l) files, $(du -sh "$dir" | cut -f1)"
