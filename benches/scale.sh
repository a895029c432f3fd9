#!/usr/bin/env bash
# How cairn's cost grows with repository size: the same small backup, check and
# snapshot listing against repositories whose index holds 0, 1M and 10M chunks.
#
#   benches/scale.sh [--chunks 0,1000000,10000000] [--work DIR] [--out FILE] [--no-build]
#
# The large indexes are synthetic (examples/synthetic_index.rs: index entries for
# packs that do not exist), so a 10M-chunk repository (about 5 TiB of data at
# 512 KiB chunks) costs a few hundred MiB of index files, not terabytes. For each size
# it times, with peak RSS: writing the synthetic index; a first backup of a small
# tree with an EMPTY local cache (the cache is rebuilt from the index files); a
# second backup of changed data with a warm cache; `snapshots`; and a structure-only
# `check` (which reports the synthetic packs as missing: exit 4 is expected).
# Writes a Markdown table to --out (default: stdout).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
sizes=0,1000000,10000000
work=/work/bench/scale
out=/dev/stdout
build=1
while (($#)); do
  case $1 in
    --chunks) sizes=${2:?--chunks needs a list}; shift 2 ;;
    --work) work=${2:?--work needs a directory}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "scale.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

target=${CARGO_TARGET_DIR:-$root/target}
if ((build)); then
  (cd "$root" && cargo build --release --bin cairn --example synthetic_index >&2)
fi
cairn=$target/release/cairn
synth=$target/release/examples/synthetic_index
[ -x "$cairn" ] && [ -x "$synth" ] || { echo "scale.sh: build cairn and the example first" >&2; exit 1; }

export CAIRN_PASSWORD=scale-bench
rm -rf "$work"; mkdir -p "$work/src"
# The small tree: 2,000 files of 4-64 KiB, deterministic content.
python3 - "$work/src" <<'PY'
import hashlib, os, sys
root = sys.argv[1]
for i in range(2000):
    d = os.path.join(root, f"d{i % 40:02}")
    os.makedirs(d, exist_ok=True)
    n = 4096 + (int(hashlib.sha256(str(i).encode()).hexdigest()[:4], 16) % 61440)
    with open(os.path.join(d, f"f{i:04}"), "wb") as f:
        f.write(hashlib.shake_256(str(i).encode()).digest(n))
PY

# Runs a step; prints "seconds KiB" of wall time and peak RSS.
measure() {
  local log=$work/time.log
  /usr/bin/time -f "%e %M" -o "$log" "$@" >/dev/null 2>"$work/step.err" || true
  tail -1 "$log"
}

{
  echo "| indexed chunks | index files | write index | first backup, empty cache | backup, warm cache | snapshots | check (structure) |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  IFS=, read -r -a list <<<"$sizes"
  for n in "${list[@]}"; do
    repo=$work/repo-$n cache=$work/cache-$n
    rm -rf "$repo" "$cache"
    "$cairn" -q init --repo "$repo" # the default KDF, as users get it
    read -r ws wk < <(measure "$synth" "$repo" "$n" "$cache")
    files=$( (find "$repo/index" -type f 2>/dev/null || true) | wc -l)
    rm -rf "$cache"
    read -r fs fk < <(measure "$cairn" -q --repo "$repo" --cache-dir "$cache" backup "$work/src")
    echo "changed $n" >>"$work/src/d00/f0000"
    read -r bs bk < <(measure "$cairn" -q --repo "$repo" --cache-dir "$cache" backup "$work/src")
    read -r ss sk < <(measure "$cairn" -q --repo "$repo" --cache-dir "$cache" snapshots)
    read -r cs ck < <(measure "$cairn" -q --repo "$repo" --cache-dir "$cache" check)
    mib() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }
    printf '| %s | %s | %s s, %s | %s s, %s | %s s, %s | %s s, %s | %s s, %s |\n' \
      "$n" "$files" "$ws" "$(mib "$wk")" "$fs" "$(mib "$fk")" "$bs" "$(mib "$bk")" \
      "$ss" "$(mib "$sk")" "$cs" "$(mib "$ck")"
    rm -rf "$repo" "$cache"
  done
} >"$out"
