#!/usr/bin/env bash
# Per-file costs on trees of many small files: cairn against restic on a
# generated tree of N files of 0-8 KiB (examples/gen_tree.rs: deterministic,
# incompressible, 300 files to a directory, three levels deep).
#
#   benches/million.sh [--files 100000,1000000] [--work DIR] [--out FILE] [--no-build] [--syscalls N]
#
# For each N: generates the tree (timed, not part of the comparison), then for
# cairn and restic, each with its defaults (default KDF and compression),
# drops the page cache before each timed step: first backup, unchanged
# re-backup (warm local cache, as users have it), restore of the whole
# snapshot into an empty directory. Wall time and peak RSS (/usr/bin/time).
# The timed steps run at normal priority; building and generating are niced.
# Each tool's repository and restore target are deleted after its steps, and
# the tree after each N (disk: about 6 KiB per file for the tree, the same
# for one restore and 4.2 KiB for one repository at a time; with less free,
# the tree is deleted before each restore and written again for the next
# tool, which the table says).
#
# --syscalls N (default 10000; 0 skips): also counts cairn's syscalls per
# file on a first and an unchanged backup of an N-file tree (strace -f -c).
# Writes Markdown to --out (default benches/MILLION-RESULTS.md). Needs root
# (drop_caches).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
sizes=100000,1000000
work=/work/bench/million
out=$here/MILLION-RESULTS.md
build=1
syscalls=10000
while (($#)); do
  case $1 in
    --files) sizes=${2:?--files needs a list}; shift 2 ;;
    --work) work=${2:?--work needs a directory}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --no-build) build=0; shift ;;
    --syscalls) syscalls=${2:?--syscalls needs a count}; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "million.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
die() { echo "million.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 && -w /proc/sys/vm/drop_caches ]] || die "must run as root: it writes /proc/sys/vm/drop_caches"
command -v restic >/dev/null || die "restic is not installed"

target=${CARGO_TARGET_DIR:-$root/target}
if ((build)); then
  (cd "$root" && nice -n 19 cargo build --release --bin cairn --example gen_tree >&2)
fi
cairn=$target/release/cairn
gen=$target/release/examples/gen_tree
[ -x "$cairn" ] && [ -x "$gen" ] || die "build cairn and the gen_tree example first"

export CAIRN_PASSWORD=million-bench RESTIC_PASSWORD=million-bench
mkdir -p "$work"
src=$work/src
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# measure CMD...: runs one timed step on a cold page cache at normal
# priority; prints "seconds KiB" (wall time, peak RSS).
measure() {
  drop_caches
  /usr/bin/time -f "%e %M" -o "$work/time.log" "$@" >/dev/null 2>"$work/step.err" ||
    { echo "million.sh: failed: $*" >&2; tail -5 "$work/step.err" >&2; }
  tail -1 "$work/time.log"
}

generate() { # N: a fresh tree; prints its seconds
  rm -rf "$src"
  local t0=$(date +%s.%N)
  nice -n 19 "$gen" "$src" "$1"
  sync
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

# run_tool TOOL N: prints "backup_s backup_k unchanged_s unchanged_k restore_s restore_k"
run_tool() {
  local tool=$1 repo=$work/repo-$1 cache=$work/cache-$1 dest=$work/restore-$1 c
  rm -rf "$repo" "$cache" "$dest"
  case $tool in
    cairn) c=(env "CAIRN_REPOSITORY=$repo" "CAIRN_CACHE_DIR=$cache" "$cairn" -q)
      "${c[@]}" init >/dev/null ;;
    restic) c=(env "RESTIC_REPOSITORY=$repo" restic --quiet --cache-dir "$cache")
      "${c[@]}" init >/dev/null ;;
  esac
  local b u r
  b=$(measure "${c[@]}" backup "$src")
  u=$(measure "${c[@]}" backup "$src")
  ((lean)) && rm -rf "$src"
  case $tool in
    cairn) r=$(measure "${c[@]}" restore latest --target "$dest") ;;
    restic) r=$(measure "${c[@]}" restore latest --target "$dest") ;;
  esac
  local restored
  restored=$(find "$dest" -type f | wc -l)
  [[ $restored == "$2" ]] || echo "million.sh: $tool restored $restored of $2 files" >&2
  rm -rf "$repo" "$cache" "$dest"
  echo "$b $u $r"
}

# syscall_counts N: strace -c of cairn's first and unchanged backup.
syscall_counts() {
  local n=$1 repo=$work/repo-strace cache=$work/cache-strace
  rm -rf "$repo" "$cache"
  nice -n 19 "$gen" "$src" "$n"
  local c=(env "CAIRN_REPOSITORY=$repo" "CAIRN_CACHE_DIR=$cache" "$cairn" -q)
  "${c[@]}" init >/dev/null
  echo "| syscall | first backup, per file | unchanged backup, per file |"
  echo "|---|---:|---:|"
  nice -n 19 strace -f -c -o "$work/strace-first" "${c[@]}" backup "$src" >/dev/null
  nice -n 19 strace -f -c -o "$work/strace-again" "${c[@]}" backup "$src" >/dev/null
  local wanted='statx|lstat|newfstatat|fstat|open|openat|read|close|getdents64|fadvise64|llistxattr|lgetxattr|flistxattr|fgetxattr|readlink'
  count() { awk -v s="$2" '$NF == s { print ($4 ~ /^[0-9]+$/ ? $4 : $3) }' "$1"; }
  for s in ${wanted//|/ }; do
    local a b
    a=$(count "$work/strace-first" "$s") b=$(count "$work/strace-again" "$s")
    [[ -z $a && -z $b ]] && continue
    awk -v s="$s" -v a="${a:-0}" -v b="${b:-0}" -v n="$n" \
      'BEGIN { printf "| %s | %.2f | %.2f |\n", s, a / n, b / n }'
  done
  rm -rf "$repo" "$cache" "$src"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", (a > 0 ? b / a : 0) }'; }

df -h "$work" >&2
{
  echo "# A million small files (benches/million.sh)"
  echo
  echo "Generated by \`benches/million.sh --files $sizes\` on $(date -u '+%Y-%m-%d %H:%M UTC') ($(nproc) cores, release build; cairn $("$cairn" --version | awk '{print $2}'), $(restic version | awk '{print $1, $2}'))."
  echo "**The machine was shared**: other benchmarks and builds ran at the same time (niced), so absolute times are noisy; the two tools ran back to back on the same tree."
  echo "Each tool with its defaults (default KDF and compression); page cache dropped before every step; the unchanged re-backup keeps each tool's local cache."
  echo "Tree: N files of 0-8 KiB, incompressible, 300 per directory, three levels (\`examples/gen_tree.rs\`)."
  echo
  echo "| files | tree written | tool | first backup | unchanged backup | restore | restore files/s |"
  echo "|---:|---:|---|---:|---:|---:|---:|"
} >"$out"
declare -A res
IFS=, read -r -a list <<<"$sizes"
for n in "${list[@]}"; do
  # The tree, one repository and one restore at a time: about 6 + 4.2 + 6 KiB
  # per file. Short of that, the tree is deleted before each restore and
  # written again for the next tool (lean).
  avail=$(df -k --output=avail "$work" | tail -1)
  lean=$((avail < n * 18)) gs=
  ((lean)) && echo "million.sh: $((avail / 1048576)) GiB free: the tree is deleted before each restore" >&2
  for tool in cairn restic; do
    [[ -d $src ]] || gs=$(generate "$n")
    read -r bs bk us uk rs rk < <(run_tool "$tool" "$n")
    res[$tool-$n]="$bs $bk $us $uk $rs $rk"
    fps=$(awk -v n="$n" -v s="$rs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
    printf '| %s | %s s%s | %s | %s s, %s | %s s, %s | %s s, %s | %s |\n' "$n" "$gs" "$( ((lean)) && echo ', deleted before restore')" "$tool" \
      "$bs" "$(mib "$bk")" "$us" "$(mib "$uk")" "$rs" "$(mib "$rk")" "$fps" >>"$out"
  done
  rm -rf "$src"
done
{
  echo
  echo "Cells: wall time, peak RSS."
  echo
  echo "## cairn against restic (restic's time or memory ÷ cairn's; above 1 is cairn ahead)"
  echo
  echo "| files | first backup time | memory | unchanged time | memory | restore time | memory |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  for n in "${list[@]}"; do
    read -r cb cbk cu cuk cr crk <<<"${res[cairn-$n]}"
    read -r rb rbk ru ruk rr rrk <<<"${res[restic-$n]}"
    echo "| $n | $(ratio "$cb" "$rb") | $(ratio "$cbk" "$rbk") | $(ratio "$cu" "$ru") | $(ratio "$cuk" "$ruk") | $(ratio "$cr" "$rr") | $(ratio "$crk" "$rrk") |"
  done
} >>"$out"
if ((syscalls > 0)); then
  {
    echo
    echo "## cairn's syscalls per file on backup ($syscalls files, \`strace -f -c\`)"
    echo
    syscall_counts "$syscalls"
  } >>"$out"
fi
echo "million.sh: wrote $out" >&2
