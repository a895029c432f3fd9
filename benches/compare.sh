#!/usr/bin/env bash
# End-to-end comparison of cairn with restic, rustic and borg on the same corpus, in one run.
#
#   benches/compare.sh [--corpus DIR] [--work DIR] [--runs N] [--tools cairn,restic,rustic,borg]
#                      [--steps init,open,backup,unchanged,change,restore,check,read-data,prune]
#                      [--out FILE] [--quick] [--no-install] [--no-build] [--no-limits] [--s3]
#
# Every tool encrypts and compresses with zstd (level 3 where it can be chosen). Each run
# starts from a new, empty repository and cache per tool and times, tool after tool, each
# step: init, open (list snapshots), first backup, unchanged re-backup, re-backup after a
# deterministic ~1% change (reverted afterwards), full restore, check, check --read-data,
# forget + prune, plus the repository size. Before every timed step the page cache is
# dropped and the step's inputs are re-read, so every tool starts from the same warm cache.
# The report (Markdown, default benches/RESULTS.md) gives the median over the runs; the raw
# numbers go to a JSON file next to it (RESULTS.md -> results.json). Needs root (drop_caches).
#
# --no-install: do not apt-get/cargo install missing peers (they are skipped, with a note);
# --no-build: use the existing $CARGO_TARGET_DIR/release/cairn; --no-limits: skip the
# page-cache and criterion measurements of the machine's limits.
# --quick builds a ~70 MB corpus (every 25th small file + 20 MiB of the db and random.bin)
# in the work dir and does one run: for testing this script, not for measuring.
# --s3: every repository lives on a throwaway SeaweedFS S3 server on loopback
# (scripts/seaweedfs.sh) instead of a local directory; only cairn and restic speak S3 here.
# Repository sizes are not measured in this mode.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
helper="$here/compare_report.py"

default_corpus=/work/bench/corpus
corpus=$default_corpus
work=/work/bench/compare
runs=3
runs_given=0
tools_arg=cairn,restic,rustic,borg
steps_arg=init,open,backup,unchanged,change,restore,check,read-data,prune
out="$here/RESULTS.md"
quick=0
install=1
limits=1
build=1
s3=0

die() { echo "compare.sh: error: $*" >&2; exit 1; }
say() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }

while (($#)); do
  case $1 in
    --corpus) corpus=${2:?--corpus needs a directory}; shift 2 ;;
    --work) work=${2:?--work needs a directory}; shift 2 ;;
    --runs) runs=${2:?--runs needs a number}; runs_given=1; shift 2 ;;
    --tools) tools_arg=${2:?--tools needs a list}; shift 2 ;;
    --steps) steps_arg=${2:?--steps needs a list}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --quick) quick=1; shift ;;
    --no-install) install=0; shift ;;
    --no-build) build=0; shift ;;
    --no-limits) limits=0; shift ;;
    --s3) s3=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, got '$runs'"
if ((quick)) && ((!runs_given)); then runs=1; fi

all_tools=(cairn restic rustic borg)
all_steps=(init open backup unchanged change restore check read-data prune)
IFS=, read -r -a tools <<<"$tools_arg"
IFS=, read -r -a steps <<<"$steps_arg"
if ((s3)); then
  s3_tools=()
  for t in "${tools[@]}"; do [[ $t == cairn || $t == restic ]] && s3_tools+=("$t"); done
  tools=("${s3_tools[@]}")
fi
for t in "${tools[@]}"; do [[ " ${all_tools[*]} " == *" $t "* ]] || die "unknown tool '$t' (known: ${all_tools[*]})"; done
for s in "${steps[@]}"; do [[ " ${all_steps[*]} " == *" $s "* ]] || die "unknown step '$s' (known: ${all_steps[*]})"; done
want_step() { [[ " ${steps[*]} " == *" $1 "* ]]; }
# every later step needs a repository with a snapshot in it
want_step init || steps+=(init)
want_step backup || steps+=(backup)

[[ $(id -u) == 0 && -w /proc/sys/vm/drop_caches ]] || die "must run as root: it writes /proc/sys/vm/drop_caches"
command -v python3 >/dev/null || die "python3 is required"
[[ -f $helper ]] || die "missing $helper"

mkdir -p "$work"
work=$(cd "$work" && pwd)
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
out_base=$(basename "$out"); out_base=${out_base%.*}
json_out="$(dirname "$out")/${out_base,,}.json"

export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-main}

notes=()
note() { notes+=("$*"); say "note: $*"; }

# ------------------------------------------------------------------ tools
apt_missing=()
[[ -x /usr/bin/time ]] || apt_missing+=(time)
for t in "${tools[@]}"; do
  case $t in
    restic) command -v restic >/dev/null || apt_missing+=(restic) ;;
    borg) command -v borg >/dev/null || apt_missing+=(borgbackup) ;;
  esac
done
if ((${#apt_missing[@]})); then
  if ((install)); then
    say "installing ${apt_missing[*]} from Debian"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}" >/dev/null \
      || die "apt-get install ${apt_missing[*]} failed"
  fi
fi
[[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time) is missing: apt-get install -y time"

rustic_bin=$(command -v rustic || true)
[[ -n $rustic_bin ]] || { [[ -x $HOME/.cargo/bin/rustic ]] && rustic_bin=$HOME/.cargo/bin/rustic; } || true
if [[ " ${tools[*]} " == *" rustic "* && -z $rustic_bin ]]; then
  if ((install)); then
    say "compiling rustic-rs with cargo install (this takes a long time)"
    CARGO_TARGET_DIR=${RUSTIC_TARGET_DIR:-/work/rustic-target} cargo install rustic-rs --locked \
      || die "cargo install rustic-rs --locked failed"
    rustic_bin=$(command -v rustic) || die "rustic still not found after cargo install"
  fi
fi

kept=()
for t in "${tools[@]}"; do
  case $t in
    restic) command -v restic >/dev/null || { note "restic is not installed (--no-install): skipped"; continue; } ;;
    borg) command -v borg >/dev/null || { note "borg is not installed (--no-install): skipped"; continue; } ;;
    rustic) [[ -n $rustic_bin ]] || { note "rustic is not installed (--no-install; \`cargo install rustic-rs --locked\`): skipped"; continue; } ;;
  esac
  kept+=("$t")
done
tools=("${kept[@]}")
((${#tools[@]})) || die "no tool left to compare"

cairn_bin="$CARGO_TARGET_DIR/release/cairn"
has_tool() { [[ " ${tools[*]} " == *" $1 "* ]]; }
if has_tool cairn && ((build)); then
  say "building cairn (cargo build --release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$root" && cargo build --release --quiet --bin cairn) || die "cargo build --release failed"
  # Only the limits need it: a failure there is a note in the report, not the end of the run.
  if ((limits)); then
    (cd "$root" && cargo build --release --quiet --example pipeline_limits) ||
      note "building examples/pipeline_limits failed: no corpus-measured bound"
  fi
fi
if has_tool cairn; then [[ -x $cairn_bin ]] || die "no cairn binary at $cairn_bin"; fi

# Commands cairn does not have yet are "n/a"; picked up automatically once they exist.
cairn_check=0 cairn_read_data=0 cairn_prune=0
if has_tool cairn; then
  cairn_subcommands=$("$cairn_bin" --help | sed -n '/^Commands:/,/^$/p')
  if grep -qE '^\s+check\s' <<<"$cairn_subcommands"; then
    cairn_check=1
    "$cairn_bin" check --help 2>/dev/null | grep -q -- '--read-data' && cairn_read_data=1
  fi
  if grep -qE '^\s+forget\s' <<<"$cairn_subcommands" \
    && "$cairn_bin" forget --help 2>/dev/null | grep -q -- '--prune' \
    && "$cairn_bin" forget --help 2>/dev/null | grep -q -- '--keep-last'; then
    cairn_prune=1
  fi
fi

version_of() {
  case $1 in
    cairn) "$cairn_bin" --version ;;
    restic) restic version ;;
    rustic) "$rustic_bin" --version ;;
    borg) borg --version ;;
  esac 2>&1 | head -n1 | tr -d '\t\r'
}

# ------------------------------------------------------------------ corpus
if [[ $corpus == "$default_corpus" || ! -e $corpus ]]; then
  say "making sure the corpus exists: $corpus (benches/corpus.sh)"
  bash "$here/corpus.sh" "$corpus" >&2
fi
[[ -d $corpus ]] || die "corpus $corpus is not a directory"
corpus=$(cd "$corpus" && pwd)
case "$work/" in "$corpus/"*) die "the work dir must not be inside the corpus" ;; esac
case "$corpus/" in "$work/"*) [[ $quick == 1 ]] || die "the corpus must not be inside the work dir" ;; esac

if ((quick)); then
  for f in real db.sqlite random.bin; do [[ -e $corpus/$f ]] || die "--quick needs a full corpus with $f in $corpus"; done
  qc="$work/quick-corpus"
  if [[ ! -f $work/quick-corpus.done ]]; then
    rm -rf "$qc" "$work/quick-corpus.done"
    say "building the quick corpus in $qc"
    python3 "$helper" quick-corpus "$corpus" "$qc" >&2
    touch "$work/quick-corpus.done"
  fi
  corpus=$qc
fi

corpus_files=$(find "$corpus" -type f | wc -l)
corpus_bytes=$(find "$corpus" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')
corpus_random_bytes=0
[[ -f $corpus/random.bin ]] && corpus_random_bytes=$(stat -c %s "$corpus/random.bin")
((corpus_files > 0)) || die "corpus $corpus has no files"

# ------------------------------------------------------------------ records
logs="$work/logs"
runs_dir="$work/runs"
save="$work/change-save"
tsv="$work/records.tsv"
rm -rf "$logs" "$runs_dir" "$work/restore"
mkdir -p "$logs" "$runs_dir"
: >"$tsv"
rec() { local IFS=$'\t'; printf '%s\n' "$*" | tr -d '\r' >>"$tsv"; }
meta() { rec meta "$1" "$(printf '%s' "$2" | tr '\t\n' '  ')"; }

# ------------------------------------------------------------------ the ~1% change
change_applied=0
revert_change() {
  if [[ -f $save/manifest.json ]]; then
    say "reverting the ~1% change"
    python3 "$helper" change revert "$corpus" "$save"
  fi
  change_applied=0
}
cleanup() {
  local rc=$?
  if ((change_applied)) || [[ -f $save/manifest.json ]]; then revert_change || echo "compare.sh: could not revert the change; originals are in $save" >&2; fi
  ((s3)) && seaweedfs_stop
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
revert_change # a change left behind by an interrupted run

if ((s3)); then
  # shellcheck source=scripts/seaweedfs.sh
  source "$root/scripts/seaweedfs.sh"
  SEAWEEDFS_NO_TRAP=1 seaweedfs_start >&2 || die "could not start the S3 server"
  note "repositories on a loopback SeaweedFS S3 server ($CAIRN_TEST_S3); sizes not measured"
fi
# repo_of RUN TOOL: where that tool's repository lives
repo_of() {
  if ((s3)); then echo "s3:$CAIRN_TEST_S3/bench-r$1-$2"; else echo "$runs_dir/r$1/$2/repo"; fi
}

# ------------------------------------------------------------------ timing
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
reread() { local d; for d in "$@"; do [[ -e $d ]] && find "$d" -type f -print0 | xargs -0 -r cat >/dev/null; done; return 0; }

password=cairn-compare-bench-password # throwaway, only for these local bench repositories

declare -A broken # tool -> 1 once its repository of this run is unusable
declare -A last_archive # borg archive to restore

# tool_cmd TOOL ACTION REPO CACHE [ARG]: sets CMD (argv) and CWD; returns 1 if the tool has no such command
tool_cmd() {
  local tool=$1 action=$2 repo=$3 cache=$4 arg=${5:-}
  CWD=$work
  case $tool in
    cairn)
      local c=(env "CAIRN_PASSWORD=$password" "CAIRN_REPOSITORY=$repo" "CAIRN_CACHE_DIR=$cache" "$cairn_bin")
      case $action in
        init) CMD=("${c[@]}" init --compression 3) ;;
        open) CMD=("${c[@]}" snapshots) ;;
        backup|unchanged|change) CMD=("${c[@]}" backup "$corpus") ;;
        restore) CMD=("${c[@]}" restore latest --target "$arg") ;;
        check) ((cairn_check)) || return 1; CMD=("${c[@]}" check) ;;
        read-data) ((cairn_read_data)) || return 1; CMD=("${c[@]}" check --read-data) ;;
        # --grace 0: delete at once, like restic and rustic --instant-delete (the default condemns)
        prune) ((cairn_prune)) || return 1; CMD=("${c[@]}" forget --keep-last 1 --prune --grace 0) ;;
      esac ;;
    restic)
      local c=(env "RESTIC_PASSWORD=$password" "RESTIC_REPOSITORY=$repo" "RESTIC_CACHE_DIR=$cache" restic --cache-dir "$cache")
      case $action in
        init) CMD=("${c[@]}" init --repository-version 2) ;;
        open) CMD=("${c[@]}" snapshots) ;;
        backup|unchanged|change) CMD=("${c[@]}" backup --compression auto "$corpus") ;;
        restore) CMD=("${c[@]}" restore latest --target "$arg") ;;
        check) CMD=("${c[@]}" check) ;;
        read-data) CMD=("${c[@]}" check --read-data) ;;
        prune) CMD=("${c[@]}" forget --keep-last 1 --prune) ;;
      esac ;;
    rustic)
      # XDG_CONFIG_HOME: no rustic.toml profile from the machine leaks into the bench
      local c=(env "RUSTIC_PASSWORD=$password" "RUSTIC_REPOSITORY=$repo" "RUSTIC_CACHE_DIR=$cache"
        "XDG_CONFIG_HOME=$cache/xdg-config" "$rustic_bin" --no-progress)
      case $action in
        init) CMD=("${c[@]}" init --set-compression 3) ;;
        open) CMD=("${c[@]}" snapshots) ;;
        backup|unchanged|change) CMD=("${c[@]}" backup "$corpus") ;;
        restore) CMD=("${c[@]}" restore latest "$arg") ;;
        check) CMD=("${c[@]}" check) ;;
        read-data) CMD=("${c[@]}" check --read-data) ;;
        # --instant-delete: free the space now, like restic and borg (the default only marks packs)
        prune) CMD=("${c[@]}" forget --keep-last 1 --prune --instant-delete) ;;
      esac ;;
    borg)
      local c=(env "BORG_PASSPHRASE=$password" "BORG_REPO=$repo" "BORG_BASE_DIR=$cache"
        BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_DISPLAY_PASSPHRASE=no)
      case $action in
        init) CMD=("${c[@]}" borg init -e repokey-blake2) ;;
        open) CMD=("${c[@]}" borg list) ;;
        backup|unchanged|change) CMD=("${c[@]}" borg create --compression zstd,3 "::$action" "$corpus") ;;
        restore) CMD=("${c[@]}" borg extract "::${last_archive[borg]}"); CWD=$arg ;;
        check) CMD=("${c[@]}" borg check) ;;
        read-data) CMD=("${c[@]}" borg check --verify-data) ;;
        prune) CMD=("${c[@]}" bash -c 'borg prune --keep-last 1 && borg compact') ;;
      esac ;;
  esac
  return 0
}

# step RUN TOOL STEP [ARG]: drop caches, re-read the inputs, run the step under GNU time, record it.
# Returns 0 on success, 1 on failure (or skipped: the tool's repository is broken), 2 if n/a.
step() {
  local run=$1 tool=$2 st=$3 arg=${4:-}
  local dir="$runs_dir/r$run/$tool" repo cache="$runs_dir/r$run/$tool/cache"
  repo=$(repo_of "$run" "$tool")
  local base="$logs/r$run-$tool-$st"
  if [[ -n ${broken[$tool]:-} ]]; then rec step "$run" "$tool" "$st" skip - - - -; return 1; fi
  if ! tool_cmd "$tool" "$st" "$repo" "$cache" "$arg"; then
    rec step "$run" "$tool" "$st" n/a - - - -
    return 2
  fi
  mkdir -p "$dir" "$cache"
  drop_caches
  case $st in
    init|backup|unchanged|change) reread "$corpus" "$cache" ;;
    *) reread "$repo" "$cache" ;;
  esac
  local rc=0
  (cd "$CWD" && exec /usr/bin/time -f '%e %U %S %M' -o "$base.time" "${CMD[@]}") >"$base.log" 2>&1 </dev/null || rc=$?
  local wall user sys rss
  read -r wall user sys rss < <(tail -n1 "$base.time" 2>/dev/null || echo "- - - -")
  if ((rc == 0)); then
    rec step "$run" "$tool" "$st" ok "$wall" "$user" "$sys" "$rss"
    say "run $run  $(printf '%-6s %-9s' "$tool" "$st")  ${wall}s wall  $(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')s cpu  $((rss / 1024)) MiB"
    return 0
  fi
  rec step "$run" "$tool" "$st" fail "$wall" "$user" "$sys" "$rss"
  echo "compare.sh: $tool $st failed (exit $rc); last lines of $base.log:" >&2
  tail -n 15 "$base.log" >&2 || true
  return 1
}

size() { # RUN TOOL WHAT
  local repo="$runs_dir/r$1/$2/repo"
  [[ -d $repo ]] && rec size "$1" "$2" "$3" "$(du -sb "$repo" | cut -f1)"
  return 0
}

# ------------------------------------------------------------------ meta
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta cpu "$( (lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p'; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) | head -n1 | sed 's/^ *//')"
meta nproc "$(nproc)"
meta mem "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
meta kernel "$(uname -sr)"
meta fs "$(df -T "$work" | awk 'NR == 2 {print $2}')"
meta runs "$runs"
meta quick "$quick"
meta tools "$(IFS=,; echo "${tools[*]}")"
meta corpus "$corpus"
meta corpus_files "$corpus_files"
meta corpus_bytes "$corpus_bytes"
meta corpus_random_bytes "$corpus_random_bytes"
desc=""
[[ -d $corpus/real ]] && desc+="real/: $(find "$corpus/real" -type f | wc -l) small files from system directories ($(du -sh --apparent-size "$corpus/real" | cut -f1)); "
[[ -f $corpus/db.sqlite ]] && desc+="db.sqlite: seeded SQLite database ($(du -sh --apparent-size "$corpus/db.sqlite" | cut -f1)); "
[[ -f $corpus/random.bin ]] && desc+="random.bin: incompressible seeded data ($(du -sh --apparent-size "$corpus/random.bin" | cut -f1))"
meta corpus_desc "$desc"
for t in "${tools[@]}"; do meta "version_$t" "$(version_of "$t")"; done
has_tool cairn && ((!cairn_check)) && note "cairn has no \`check\` command yet: check and check --read-data are n/a"
has_tool cairn && ((!cairn_prune)) && note "cairn has no \`forget --prune\` yet: forget + prune is n/a"
has_tool restic && note "restic and rustic derive their key with their default KDF on every command, borg with PBKDF2 (100k rounds); cairn uses its default Argon2id (64 MiB, 3 passes, 4 lanes): the \`open\` step shows this fixed per-command cost"
has_tool borg && note "borg is single-threaded; borg extract restores relative to its working directory"
want_step prune && note 'forget + prune keeps the last snapshot with the default repacking policy of each tool: restic and rustic leave up to 5% unused space in partly used packs, `borg compact` frees all of it'

say "corpus $corpus: $corpus_files files, $corpus_bytes bytes; tools: ${tools[*]}; runs: $runs; work: $work"

# ------------------------------------------------------------------ runs
for ((run = 1; run <= runs; run++)); do
  broken=()
  last_archive=()
  rm -rf "$runs_dir/r$run"
  for t in "${tools[@]}"; do
    step "$run" "$t" init || broken[$t]=1
    want_step open && { step "$run" "$t" open || true; }
    if step "$run" "$t" backup; then last_archive[$t]=backup; size "$run" "$t" first; else broken[$t]=1; fi
  done
  if want_step unchanged; then
    for t in "${tools[@]}"; do step "$run" "$t" unchanged && last_archive[$t]=unchanged || true; done
  fi
  if want_step change; then
    say "applying the ~1% change"
    change_applied=1
    desc=$(python3 "$helper" change apply "$corpus" "$save") || die "applying the change failed"
    if ((run == 1)); then meta change_desc "$desc"; fi
    for t in "${tools[@]}"; do step "$run" "$t" change && last_archive[$t]=change || true; done
    revert_change
  fi
  for t in "${tools[@]}"; do size "$run" "$t" final; done
  if want_step restore; then
    for t in "${tools[@]}"; do
      target="$work/restore/$t"
      rm -rf "$target"; mkdir -p "$target"
      if step "$run" "$t" restore "$target"; then
        n=$(find "$target" -type f | wc -l)
        ((n == corpus_files)) || note "run $run: $t restored $n files, the corpus has $corpus_files"
      fi
      rm -rf "$target"
    done
  fi
  for st in check read-data; do
    want_step "$st" || continue
    for t in "${tools[@]}"; do step "$run" "$t" "$st" || true; done
  done
  if want_step prune; then
    for t in "${tools[@]}"; do step "$run" "$t" prune && size "$run" "$t" pruned || true; done
  fi
  # keep only the last run's repositories (for inspection)
  if ((run < runs)); then rm -rf "$runs_dir/r$run"; fi
done
rm -rf "$work/restore"

# ------------------------------------------------------------------ limits
measure_limits() {
  local t0 t1 best k
  say "limits: page-cache read throughput"
  reread "$corpus"
  for k in 1 2; do
    best=""
    for _ in 1 2 3; do
      t0=$(date +%s%N)
      find "$corpus" -type f -print0 | xargs -0 -r -P "$k" -n 512 cat >/dev/null
      t1=$(date +%s%N)
      [[ -z $best || $((t1 - t0)) -lt $best ]] && best=$((t1 - t0))
    done
    rec limit "read_$k" "$(awk -v b="$corpus_bytes" -v ns="$best" 'BEGIN {printf "%.0f", b / (ns / 1e9)}')"
  done
  say "limits: stage costs on this corpus (examples/pipeline_limits)"
  local pl="$CARGO_TARGET_DIR/release/examples/pipeline_limits"
  if [[ -x $pl ]] && reread "$corpus" && "$pl" "$corpus" 3 >"$logs/pipeline_limits.tsv" 2>>"$logs/pipeline_limits.log"; then
    awk -F'\t' '{printf "limit\tcorpus_%s_bytes\t%s\nlimit\tcorpus_%s_s\t%s\n", $1, $2, $1, $3}' \
      "$logs/pipeline_limits.tsv" >>"$tsv"
  else
    note "examples/pipeline_limits missing or failed (see $logs): no corpus-measured bound"
  fi
  say "limits: criterion micro-benchmarks (cargo bench --bench micro)"
  if (cd "$root" && cargo bench --bench micro -- --warm-up-time 0.3 --measurement-time 1 \
    "$(python3 "$helper" criterion-filter)") >"$logs/micro.log" 2>&1; then
    python3 "$helper" criterion "$logs/micro.log" >>"$tsv"
  else
    note "cargo bench --bench micro failed (see $logs/micro.log): no ideal-pipeline estimate"
  fi
}
if ((limits)); then measure_limits || note "measuring the limits failed"; fi

for n in "${notes[@]}"; do rec note "$(printf '%s' "$n" | tr '\t\n' '  ')"; done
python3 "$helper" report "$tsv" "$out" "$json_out"
say "wrote $out and $json_out (logs and raw records in $work)"
