#!/usr/bin/env bash
# Sequential read of one large file through `cairn mount` against `cairn restore` of the
# same file, from the same repository, with the repository's packs warm in the page cache
# for both. Prints MiB/s for each and the ratio (the goal: mount >= half of restore).
#
#   benches/mount.sh [SIZE_MIB]        (default 300; needs /dev/fuse and fusermount3)
#
# CAIRN_BIN picks the binary (default: $CARGO_TARGET_DIR/release/cairn, built if missing).
# Small and single-run on purpose: it measures one file, not a corpus.
set -euo pipefail

size_mib=${1:-300}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
bin=${CAIRN_BIN:-$target/release/cairn}
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --release --bin cairn)
fi

work=$(mktemp -d)
pid=
cleanup() {
  if mountpoint -q "$work/mnt" 2>/dev/null; then fusermount3 -u -z "$work/mnt" || umount -l "$work/mnt" || true; fi
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export CAIRN_REPOSITORY=$work/repo CAIRN_PASSWORD=bench CAIRN_CACHE_DIR=$work/cache
unset CAIRN_PASSWORD_FILE CAIRN_PASSWORD_COMMAND
mkdir -p "$work/src" "$work/mnt" "$work/restore"
# Half incompressible, half text-like, so both the zstd and the stored path are read.
head -c $((size_mib / 2 * 1024 * 1024)) /dev/urandom >"$work/src/big.bin"
(yes "cairn mount benchmark line with some repeated words $RANDOM" || true) |
  head -c $(((size_mib - size_mib / 2) * 1024 * 1024)) >>"$work/src/big.bin"
bytes=$(stat -c %s "$work/src/big.bin")

"$bin" -q init # the default KDF, as users get it
"$bin" -q backup "$work/src"
cat "$work"/repo/packs/*/* >/dev/null 2>&1 || true # warm the packs for both readers

now() { date +%s.%N; }
rate() { python3 -c "import sys; print(f'{$bytes / 1048576 / ($2 - $1):.0f}')"; }

t0=$(now)
"$bin" -q restore "latest:$work/src/big.bin" --target "$work/restore"
t1=$(now)
restored=$(find "$work/restore" -type f -name big.bin)
cmp "$restored" "$work/src/big.bin"

start_mount() {
  "$bin" -q mount "$work/mnt" &
  pid=$!
  for _ in $(seq 600); do [ -d "$work/mnt/snapshots/latest" ] && break; sleep 0.05; done
  [ -d "$work/mnt/snapshots/latest" ] || { echo "the mount did not come up" >&2; exit 1; }
}
stop_mount() { kill -TERM "$pid"; wait "$pid"; pid=; }
file="$work/mnt/snapshots/latest$work/src/big.bin"

# cp writes to disk like restore does; each read starts from a fresh mount (empty cache).
rm -f "$restored"
start_mount
t2=$(now)
cp "$file" "$restored"
t3=$(now)
stop_mount
cmp "$restored" "$work/src/big.bin"
start_mount
t4=$(now)
cat "$file" >/dev/null
t5=$(now)
stop_mount

r_restore=$(rate "$t0" "$t1")
r_cp=$(rate "$t2" "$t3")
r_cat=$(rate "$t4" "$t5")
echo "file: $size_mib MiB"
echo "restore:            $r_restore MiB/s"
echo "mount, cp to disk:  $r_cp MiB/s  ($(python3 -c "print(f'{$r_cp / $r_restore:.2f}')")x restore)"
echo "mount, cat:         $r_cat MiB/s  ($(python3 -c "print(f'{$r_cat / $r_restore:.2f}')")x restore)"
