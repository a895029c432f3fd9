#!/usr/bin/env bash
# Live-database benchmark (issue 14): cairn against restic and rustic (borg with --tools) on the
# comparison corpus's SQLite database, in one run, every tool with its default settings (KDF
# included).
#
#   benches/database.sh [--corpus DIR] [--work DIR] [--runs N] [--tools cairn,restic,rustic]
#                       [--out FILE] [--no-build]
#
# Per run and tool, from a new repository: the first backup of a directory holding only
# db.sqlite (~400 MiB), an unchanged re-backup, and a re-backup after the "1 %" change of
# benches/compare.sh (rows updated in place in five ranges and ~0.5 % appended; the same code,
# compare_report.py). Bytes added = growth of the repository directory (du), the same measure
# for every tool. Then, cairn only: an unchanged database read again (--force) as a consistent
# snapshot (with and without quick_check) and as raw bytes (--no-sqlite, stored once before), and the first backup of the whole corpus (real/,
# db.sqlite, random.bin) with and without database snapshots. The page cache is dropped and the
# step's inputs re-read before every timed step. Medians over the runs go to the database section
# of FILE (default benches/RESULTS.md), as ratios to cairn; raw numbers to database.json. Needs root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
corpus=/work/bench/corpus
work=/work/bench/database
runs=3
tools_arg=cairn,restic,rustic
out="$here/RESULTS.md"
build=1

die() { echo "database.sh: error: $*" >&2; exit 1; }
say() { echo "[database $(date +%H:%M:%S)] $*" >&2; }
while (($#)); do
  case $1 in
    --corpus) corpus=${2:?}; shift 2 ;;
    --work) work=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --tools) tools_arg=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ $(id -u) == 0 && -w /proc/sys/vm/drop_caches ]] || die "must run as root: it writes /proc/sys/vm/drop_caches"
IFS=, read -r -a tools <<<"$tools_arg"
for t in "${tools[@]}"; do
  case $t in cairn) ;; restic|rustic|borg) command -v "$t" >/dev/null || die "$t is not installed (benches/compare.sh installs the peers)" ;;
    *) die "unknown tool $t" ;; esac
done

target=${CARGO_TARGET_DIR:-$root/target}
if ((build)); then (cd "$root" && cargo build --release --bin cairn >&2); fi
cairn=$target/release/cairn
[[ -x $cairn ]] || die "no release build at $cairn"
"$root/benches/corpus.sh" "$corpus" >&2

mkdir -p "$work"; work=$(cd "$work" && pwd)
data=$work/data; save=$work/change-save; raw=$work/raw.tsv; bounds=$work/bounds.json
: >"$raw"; : >"$bounds"
password=cairn-database-bench-password # throwaway, only for these local bench repositories
export CAIRN_PASSWORD=$password RESTIC_PASSWORD=$password RUSTIC_PASSWORD=$password BORG_PASSPHRASE=$password
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
reread() { find "$@" -type f -print0 | xargs -0 -r cat >/dev/null; }
repo_bytes() { du -sb "$1" | cut -f1; }

# cmd TOOL REPO CACHE STEP [cairn flags...] -> the command line for that step
cmd() {
  local t=$1 repo=$2 cache=$3 st=$4; shift 4
  case $t in
    cairn) local c=("$cairn" --repo "$repo" --cache-dir "$cache" --quiet)
      if [[ $st == init ]]; then echo "${c[@]}" init; else echo "${c[@]}" backup "$@" "$data"; fi ;;
    restic) local c=(restic -r "$repo" --cache-dir "$cache" --quiet)
      if [[ $st == init ]]; then echo "${c[@]}" init; else echo "${c[@]}" backup "$data"; fi ;;
    rustic) local c=(rustic -r "$repo" --cache-dir "$cache")
      if [[ $st == init ]]; then echo "${c[@]}" init; else echo "${c[@]}" backup "$data"; fi ;;
    borg)
      if [[ $st == init ]]; then echo borg init -e repokey-blake2 "$repo"
      else echo borg create --compression zstd,3 "$repo::$st-$RANDOM$RANDOM" "$data"; fi ;;
  esac
}

# timed RUN TOOL STEP REPO CACHE [cairn flags...]: one measured step, appended to $raw
timed() {
  local run=$1 t=$2 st=$3 repo=$4 cache=$5; shift 5
  local line; line=$(cmd "$t" "$repo" "$cache" "$st" "$@")
  drop_caches; reread "$data"; [[ -d $cache ]] && reread "$cache"
  local before=0; [[ -d $repo ]] && before=$(repo_bytes "$repo")
  local t0 t1; t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  BORG_CACHE_DIR=$cache $line >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; die "$t $st failed"; }
  t1=$(date +%s.%N)
  local after; after=$(repo_bytes "$repo")
  printf '%s\t%s\t%s\t%s\t%s\n' "$run" "$t" "$st" "$(echo "$t1 - $t0" | bc)" "$((after - before))" >>"$raw"
}

fresh_data() {
  rm -rf "$data" "$save"; mkdir -p "$data"
  cp "$corpus/db.sqlite" "$data/db.sqlite"
}

for ((run = 1; run <= runs; run++)); do
  say "run $run of $runs"
  for t in "${tools[@]}"; do
    fresh_data
    repo=$work/repo-$t; cache=$work/cache-$t; rm -rf "$repo" "$cache"
    timed "$run" "$t" init "$repo" "$cache"
    timed "$run" "$t" first "$repo" "$cache"
    timed "$run" "$t" unchanged "$repo" "$cache"
    python3 "$here/compare_report.py" change apply "$data" "$save" >/dev/null
    if [[ ! -s $bounds ]]; then # once: what no tool can go below (untimed)
      python3 "$here/database_bounds.py" "$save/db.sqlite" "$data/db.sqlite" >"$bounds"
    fi
    timed "$run" "$t" change "$repo" "$cache"
    if [[ $t == cairn ]]; then
      timed "$run" cairn reread-snapshot "$repo" "$cache" --force
      timed "$run" cairn reread-nocheck "$repo" "$cache" --force --sqlite-check none
      # The raw bytes are stored once untimed, so the timed raw re-read, like the
      # snapshot re-read, finds every chunk known and measures reading alone.
      $(cmd cairn "$repo" "$cache" backup --no-sqlite) >/dev/null 2>&1
      timed "$run" cairn reread-raw "$repo" "$cache" --force --no-sqlite
    fi
  done
  # The whole corpus's first backup, with and without database snapshots.
  for variant in corpus-default corpus-no-sqlite; do
    repo=$work/repo-$variant; cache=$work/cache-$variant; rm -rf "$repo" "$cache"
    flags=(); [[ $variant == corpus-no-sqlite ]] && flags=(--no-sqlite)
    "$cairn" --repo "$repo" --cache-dir "$cache" --quiet init >/dev/null
    drop_caches; reread "$corpus"
    t0=$(date +%s.%N)
    "$cairn" --repo "$repo" --cache-dir "$cache" --quiet backup "${flags[@]}" "$corpus" >/dev/null
    t1=$(date +%s.%N)
    printf '%s\tcairn\t%s\t%s\t%s\n' "$run" "$variant" "$(echo "$t1 - $t0" | bc)" "$(repo_bytes "$repo")" >>"$raw"
  done
done
rm -rf "$data" "$save"

python3 - "$raw" "$out" "$(dirname "$out")/database.json" "$(du -sh --apparent-size "$corpus/db.sqlite" | cut -f1)" "$bounds" <<'PY'
import json, statistics, sys
raw, out, js, dbsize, bounds = sys.argv[1:6]
bounds = json.load(open(bounds))
rows = [l.rstrip("\n").split("\t") for l in open(raw) if l.strip()]
m = {}
for run, tool, step, secs, added in rows:
    m.setdefault((tool, step), []).append((float(secs), int(added)))
med = {k: (statistics.median(s for s, _ in v), statistics.median(a for _, a in v)) for k, v in m.items()}
summary = {f"{t}/{s}": {"seconds": v[0], "bytes_added": v[1]} for (t, s), v in med.items()}
summary["bounds"] = bounds
json.dump(summary, open(js, "w"), indent=1)
tools = [t for t in ["cairn", "restic", "rustic", "borg"] if (t, "first") in med]
def mb(b): return f"{b / 1e6:,.1f} MB"
lines = ["<!-- database:begin -->", "## Live SQLite database (benches/database.sh)", "",
         f"db.sqlite ({dbsize}) alone; every tool with its default settings; medians of {len(set(r[0] for r in rows))} runs. "
         "Bytes added = repository growth; time ratio = tool's time / cairn's (higher = cairn faster).", "",
         "| tool | first backup | time × | unchanged | time × | after the 1 % change: bytes added | bytes × | time × |",
         "|---|---|---|---|---|---|---|---|"]
c = {s: med[("cairn", s)] for s in ["first", "unchanged", "change"]}
for t in tools:
    f, u, ch = med[(t, "first")], med[(t, "unchanged")], med[(t, "change")]
    lines.append(f"| {t} | {mb(f[1])} | {f[0] / c['first'][0]:.2f} | {mb(u[1])} | {u[0] / c['unchanged'][0]:.2f} | "
                 f"{mb(ch[1])} | {ch[1] / max(c['change'][1], 1):.1f} | {ch[0] / c['change'][0]:.2f} |")
snap, rawr = med[("cairn", "reread-snapshot")], med[("cairn", "reread-raw")]
noch = med[("cairn", "reread-nocheck")]
cd, cn = med[("cairn", "corpus-default")], med[("cairn", "corpus-no-sqlite")]
lines += ["", f"- Unchanged database read again (`--force`): consistent snapshot / raw bytes (`--no-sqlite`) time = "
          f"**{snap[0] / rawr[0]:.2f}** (without `quick_check`, `--sqlite-check none`: **{noch[0] / rawr[0]:.2f}**).",
          f"- First backup of the whole corpus: with database snapshots / without (`--no-sqlite`) time = "
          f"**{cd[0] / cn[0]:.2f}**; repository size {mb(cd[1])} vs {mb(cn[1])}.",
          f"- What no tool can go below (`benches/database_bounds.py`): the change wrote {mb(bounds['new_row_bytes'])} "
          f"of new, random row content and rewrote {bounds['changed_pages']:,} pages of 4 KiB, "
          f"{mb(bounds['changed_pages_zstd'])} with zstd -3; `PRAGMA quick_check` alone, page cache warm, takes "
          f"{bounds['quick_check_cpu_seconds']:.2f} CPU-s."]
if ("restic", "change") in med:
    r = med[("restic", "change")]
    lines.append(f"- Against restic: 10× fewer bytes would be {mb(r[1] / 10)}, below the new row content alone; "
                 f"3× faster would be {r[0] / 3:.2f} s, {'below' if r[0] / 3 < bounds['quick_check_cpu_seconds'] else 'above'} "
                 f"the verification the snapshot runs ({bounds['quick_check_cpu_seconds']:.2f} s).")
lines += ["<!-- database:end -->", ""]
section = "\n".join(lines)
try:
    text = open(out).read()
except FileNotFoundError:
    text = ""
if "<!-- database:begin -->" in text:
    a, rest = text.split("<!-- database:begin -->", 1)
    text = a + section + rest.split("<!-- database:end -->", 1)[1].lstrip("\n")
else:
    text = text.rstrip("\n") + "\n\n" + section
open(out, "w").write(text)
print(section)
PY
