#!/usr/bin/env bash
# Prune benchmark: cairn against restic and rustic on the same data, in one run.
#
#   benches/prune.sh [--work DIR] [--snapshots N] [--out FILE]
#
# Measures the issue requirement "prune of a repository after forgetting half of 30
# snapshots: at least twice as fast as restic's prune on the same data, with lower peak
# memory". A deterministic working tree (~220 MB: every 4th file of
# /work/bench/corpus/real, relative paths kept, plus a 60 MiB slice of
# /work/bench/corpus/db.sqlite) is built in the work dir. It is backed up N times
# (default 30) by each tool; before every backup after the first the tree is mutated
# deterministically from the snapshot number (~3% of the small files rewritten with new
# pseudo-random content, a few deleted, a few added, two 1 MiB ranges of the db slice
# overwritten), once, and then backed up by cairn, restic and rustic in turn, so every
# tool sees exactly the same sequence of trees.
#
# Then half the snapshots are forgotten with `forget --keep-last N/2` (cairn's forget has
# no way to remove snapshots by id, so the same rule is used for every tool; this removes
# the N/2 oldest), untimed. Then, per tool, the page cache is dropped, the repository and
# the tool's cache are re-read (as benches/compare.sh does, so every tool starts from the
# same warm cache) and `prune` alone is timed with GNU time (wall, user+sys, max RSS):
#   cairn  prune --grace 0            (delete at once instead of condemning, like restic)
#   restic prune
#   rustic prune --instant-delete
# The repository size (du -sb) is recorded before and after prune, and the peak RSS of
# `snapshots` afterwards (the fixed cost of opening the repository, key derivation
# included) as a floor for the prune's peak RSS. The Markdown table is
# printed to stdout and written to --out (default WORK/RESULTS.md); logs stay in WORK/logs.
# Encryption/compression as in compare.sh: cairn zstd 3 with its default Argon2id (64 MiB,
# 3 passes, 4 lanes), restic repository version 2 with --compression auto, rustic zstd 3.
# Needs root (it writes /proc/sys/vm/drop_caches).
set -euo pipefail

corpus=/work/bench/corpus
work=/work/bench/prune
snapshots=30
out=""

die() { echo "prune.sh: error: $*" >&2; exit 1; }
say() { echo "[prune $(date +%H:%M:%S)] $*" >&2; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }

while (($#)); do
  case $1 in
    --work) work=${2:?--work needs a directory}; shift 2 ;;
    --snapshots) snapshots=${2:?--snapshots needs a number}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

[[ $snapshots =~ ^[1-9][0-9]*$ ]] && ((snapshots >= 2)) || die "--snapshots must be an integer >= 2, got '$snapshots'"
[[ $(id -u) == 0 && -w /proc/sys/vm/drop_caches ]] || die "must run as root: it writes /proc/sys/vm/drop_caches"
[[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time) is missing: apt-get install -y time"
command -v python3 >/dev/null || die "python3 is required"
[[ -d $corpus/real && -f $corpus/db.sqlite ]] || die "needs $corpus/real and $corpus/db.sqlite (benches/corpus.sh)"

cairn_bin=${CAIRN_BIN:-/work/target-s3/release/cairn}
[[ -x $cairn_bin ]] || die "no cairn binary at $cairn_bin (set CAIRN_BIN)"
command -v restic >/dev/null || die "restic is not installed"
rustic_bin=$(command -v rustic || true)
[[ -n $rustic_bin ]] || rustic_bin=$HOME/.cargo/bin/rustic
[[ -x $rustic_bin ]] || die "rustic is not installed (cargo install rustic-rs --locked)"

mkdir -p "$work"
work=$(cd "$work" && pwd)
[[ -n $out ]] || out="$work/RESULTS.md"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"

tools=(cairn restic rustic)
keep=$((snapshots - snapshots / 2))
tree="$work/tree"
logs="$work/logs"
password=cairn-prune-bench-password # throwaway, only for these local bench repositories

# ------------------------------------------------------------------ tools
repo_of() { echo "$work/$1/repo"; }
cache_of() { echo "$work/$1/cache"; }

# tool_cmd TOOL ACTION: sets CMD (argv)
tool_cmd() {
  local tool=$1 action=$2 repo cache
  repo=$(repo_of "$tool"); cache=$(cache_of "$tool")
  case $tool in
    cairn)
      local c=(env "CAIRN_PASSWORD=$password" "CAIRN_REPOSITORY=$repo" "CAIRN_CACHE_DIR=$cache" "$cairn_bin")
      case $action in
        init) CMD=("${c[@]}" init --compression 3) ;;
        backup) CMD=("${c[@]}" backup "$tree") ;;
        snapshots) CMD=("${c[@]}" snapshots) ;;
        forget) CMD=("${c[@]}" forget --keep-last "$keep") ;;
        prune) CMD=("${c[@]}" prune --grace 0) ;;
      esac ;;
    restic)
      local c=(env "RESTIC_PASSWORD=$password" "RESTIC_REPOSITORY=$repo" "RESTIC_CACHE_DIR=$cache" restic --cache-dir "$cache")
      case $action in
        init) CMD=("${c[@]}" init --repository-version 2) ;;
        backup) CMD=("${c[@]}" backup --compression auto "$tree") ;;
        snapshots) CMD=("${c[@]}" snapshots) ;;
        forget) CMD=("${c[@]}" forget --keep-last "$keep") ;;
        prune) CMD=("${c[@]}" prune) ;;
      esac ;;
    rustic)
      # XDG_CONFIG_HOME: no rustic.toml profile from the machine leaks into the bench
      local c=(env "RUSTIC_PASSWORD=$password" "RUSTIC_REPOSITORY=$repo" "RUSTIC_CACHE_DIR=$cache"
        "XDG_CONFIG_HOME=$cache/xdg-config" "$rustic_bin" --no-progress)
      case $action in
        init) CMD=("${c[@]}" init --set-compression 3) ;;
        backup) CMD=("${c[@]}" backup "$tree") ;;
        snapshots) CMD=("${c[@]}" snapshots) ;;
        forget) CMD=("${c[@]}" forget --keep-last "$keep") ;;
        # --instant-delete: free the space now, like restic (the default only marks packs)
        prune) CMD=("${c[@]}" prune --instant-delete) ;;
      esac ;;
  esac
}

# run TOOL ACTION LOGNAME: run untimed, output to the log; dies on failure
run() {
  local tool=$1 action=$2 log="$logs/$3.log"
  tool_cmd "$tool" "$action"
  mkdir -p "$(cache_of "$tool")"
  if ! (cd "$work" && exec "${CMD[@]}") >"$log" 2>&1 </dev/null; then
    echo "prune.sh: $tool $action failed; last lines of $log:" >&2
    tail -n 15 "$log" >&2 || true
    exit 1
  fi
}

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
reread() { local d; for d in "$@"; do [[ -e $d ]] && find "$d" -type f -print0 | xargs -0 -r cat >/dev/null; done; return 0; }
repo_bytes() { du -sb "$(repo_of "$1")" | cut -f1; }

# ------------------------------------------------------------------ the data
# tree.py build CORPUS TREE | mutate TREE I: deterministic; the mutation depends only on I
# and the tree's current content list.
treepy="$work/tree.py"
cat >"$treepy" <<'PY'
import os, random, shutil, sys

MIB = 1 << 20

def files(root):
    out = []
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(os.path.relpath(p, root))
    return sorted(out)

def build(corpus, tree):
    real = os.path.join(corpus, "real")
    for n, rel in enumerate(files(real)):
        if n % 4 != 3:
            continue
        dst = os.path.join(tree, "real", rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(real, rel), dst)
    with open(os.path.join(corpus, "db.sqlite"), "rb") as s, open(os.path.join(tree, "db.sqlite"), "wb") as d:
        d.write(s.read(60 * MIB))

def mutate(tree, i):
    rng = random.Random(1_000_003 * i + 17)
    small = [f for f in files(tree) if f.startswith("real" + os.sep)]
    rewrite = rng.sample(small, max(1, len(small) * 3 // 100))
    for rel in rewrite:
        p = os.path.join(tree, rel)
        size = max(64, os.path.getsize(p))
        with open(p, "wb") as f:
            f.write(rng.randbytes(min(size, 4 * MIB)))
    rest = sorted(set(small) - set(rewrite))
    deleted = rng.sample(rest, 5)
    for rel in deleted:
        os.remove(os.path.join(tree, rel))
    dirs = sorted({os.path.dirname(f) for f in small})
    for k in range(5):
        d = os.path.join(tree, rng.choice(dirs))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"bench-new-{i}-{k}.bin"), "wb") as f:
            f.write(rng.randbytes(rng.randint(1024, 256 * 1024)))
    db = os.path.join(tree, "db.sqlite")
    blocks = os.path.getsize(db) // MIB
    with open(db, "r+b") as f:
        for b in sorted(rng.sample(range(blocks), 2)):
            f.seek(b * MIB)
            f.write(rng.randbytes(MIB))
    print(f"snapshot {i}: {len(rewrite)} files rewritten, 5 deleted, 5 added, 2 MiB of the db overwritten")

if sys.argv[1] == "build":
    build(sys.argv[2], sys.argv[3])
else:
    mutate(sys.argv[2], int(sys.argv[3]))
PY

say "fresh start in $work (tree, repositories, caches, logs)"
for t in "${tools[@]}"; do rm -rf "${work:?}/$t"; done
rm -rf "$tree" "$logs"
mkdir -p "$tree" "$logs"

say "building the tree from $corpus"
python3 "$treepy" build "$corpus" "$tree"
tree_files=$(find "$tree" -type f | wc -l)
tree_bytes=$(du -sb --apparent-size "$tree" | cut -f1)
say "tree: $tree_files files, $((tree_bytes / 1048576)) MiB"

# ------------------------------------------------------------------ snapshots
for t in "${tools[@]}"; do run "$t" init "$t-init"; done
backup_start=$(date +%s)
mutation_desc=""
for ((i = 0; i < snapshots; i++)); do
  if ((i > 0)); then
    d=$(python3 "$treepy" mutate "$tree" "$i")
    [[ -n $mutation_desc ]] || mutation_desc=$d
  fi
  for t in "${tools[@]}"; do run "$t" backup "$t-backup-$i"; done
  say "snapshot $((i + 1))/$snapshots done by ${tools[*]} ($(($(date +%s) - backup_start)) s so far)"
done

# ------------------------------------------------------------------ forget
declare -A before after wall cpu rss load base_rss
for t in "${tools[@]}"; do
  run "$t" forget "$t-forget"
  run "$t" snapshots "$t-snapshots-after-forget"
done
say "forgot the $((snapshots / 2)) oldest snapshots (--keep-last $keep) with every tool"

# ------------------------------------------------------------------ prune
for t in "${tools[@]}"; do
  before[$t]=$(repo_bytes "$t")
  tool_cmd "$t" prune
  printf '%q ' "${CMD[@]}" | sed 's/ $//' >"$logs/$t-prune.cmd"
  drop_caches
  reread "$(repo_of "$t")" "$(cache_of "$t")"
  load[$t]=$(cut -d' ' -f1-3 /proc/loadavg)
  rc=0
  (cd "$work" && exec /usr/bin/time -f '%e %U %S %M' -o "$logs/$t-prune.time" "${CMD[@]}") \
    >"$logs/$t-prune.log" 2>&1 </dev/null || rc=$?
  if ((rc != 0)); then
    echo "prune.sh: $t prune failed (exit $rc); last lines of $logs/$t-prune.log:" >&2
    tail -n 15 "$logs/$t-prune.log" >&2 || true
    exit 1
  fi
  read -r w u s m < <(tail -n1 "$logs/$t-prune.time")
  wall[$t]=$w
  cpu[$t]=$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}')
  rss[$t]=$m
  after[$t]=$(repo_bytes "$t")
  say "$(printf '%-6s' "$t") prune ${wall[$t]} s wall, ${cpu[$t]} s cpu, $((rss[$t] / 1024)) MiB peak RSS (load ${load[$t]})"
done
# the fixed cost of opening the repository (key derivation included): `snapshots` under GNU time
for t in "${tools[@]}"; do
  tool_cmd "$t" snapshots
  (cd "$work" && exec /usr/bin/time -f '%e %U %S %M' -o "$logs/$t-snapshots.time" "${CMD[@]}") \
    >"$logs/$t-snapshots-after-prune.log" 2>&1 </dev/null || die "$t snapshots failed after prune"
  read -r _ _ _ m < <(tail -n1 "$logs/$t-snapshots.time")
  base_rss[$t]=$m
done

# ------------------------------------------------------------------ report
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
{
  echo "# Prune: cairn vs restic and rustic"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(df -T "$work" | awk 'NR == 2 {print $2}')."
  echo "Tree: $tree_files files, $(mib "$tree_bytes") MiB; $snapshots snapshots, the $((snapshots / 2)) oldest forgotten (\`forget --keep-last $keep\`), then \`prune\` timed alone after dropping the page cache and re-reading repository and cache."
  echo "Mutation per snapshot: ${mutation_desc#snapshot 1: }."
  echo
  echo "| tool | prune wall s | CPU s | peak RSS MiB | repo before MiB | repo after MiB | speed ratio peer/cairn | memory ratio cairn/peer | open-only RSS MiB | load avg at start |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for t in "${tools[@]}"; do
    if [[ $t == cairn ]]; then sr="-" mr="-"; else sr=$(ratio "${wall[$t]}" "${wall[cairn]}"); mr=$(ratio "${rss[cairn]}" "${rss[$t]}"); fi
    echo "| $t | ${wall[$t]} | ${cpu[$t]} | $(mib $((rss[$t] * 1024))) | $(mib "${before[$t]}") | $(mib "${after[$t]}") | $sr | $mr | $(mib $((base_rss[$t] * 1024))) | ${load[$t]} |"
  done
  echo
  echo "Versions: $("$cairn_bin" --version 2>&1 | head -n1); $(restic version 2>&1 | head -n1); $("$rustic_bin" --version 2>&1 | head -n1)."
  echo
  echo "Commands (prune, timed):"
  echo
  for t in "${tools[@]}"; do echo "- $t: \`$(sed 's/RESTIC_PASSWORD=[^ ]*/RESTIC_PASSWORD=…/; s/CAIRN_PASSWORD=[^ ]*/CAIRN_PASSWORD=…/; s/RUSTIC_PASSWORD=[^ ]*/RUSTIC_PASSWORD=…/' "$logs/$t-prune.cmd")\`"; done
  echo
  echo "Speed ratio > 2 and memory ratio < 1 against restic meet the requirement. Other processes may have shared the CPUs (see the load average)."
  echo "Open-only RSS: peak RSS of \`snapshots\` on the pruned repository, i.e. the fixed cost of opening it (key derivation:"
  echo "cairn's default Argon2id 64 MiB, restic/rustic scrypt); a prune peak close to it means prune itself added little."
} | tee "$out"
say "wrote $out (logs in $logs)"
