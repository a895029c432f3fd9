#!/usr/bin/env bash
# `cairn serve` benchmark (issue 15): what running backups through the service costs compared with
# the command line, what the idle service holds, and how fast the API answers at 10,000 snapshots.
#
#   benches/serve.sh [--corpus DIR] [--work DIR] [--runs N] [--out FILE] [--no-build]
#
# Steps, every repository with cairn's default settings (KDF included), the page cache dropped and
# the inputs re-read before each timed backup:
#   1. first and unchanged backups of the corpus by `cairn backup`, and the same two backups run by
#      the service (a job triggered with POST /api/v1/plans/bench/run, timed from the request to
#      the job's final status as the API reports it);
#   2. the idle service's resident memory (VmRSS, and its peak VmHWM) and CPU time over 30 s after
#      the jobs;
#   3. GET /api/v1/repositories/bench/snapshots at 10,000 snapshots (examples/fill_snapshots adds
#      them), the first call and the median and 95th percentile of 50 more;
#   4. a first backup (into a second repository) with 50 clients each polling GET /api/v1/jobs and
#      GET /api/v1/jobs/{id} every 50 ms, against the first backup without them.
# Medians over the runs go to the serve section of FILE (default benches/RESULTS.md); raw numbers
# to serve.json beside it. Needs root (drop_caches).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
corpus=/work/bench/corpus
work=/work/bench/serve
runs=3
out="$here/RESULTS.md"
build=1
die() { echo "serve.sh: error: $*" >&2; exit 1; }
while (($#)); do
  case $1 in
    --corpus) corpus=${2:?}; shift 2 ;;
    --work) work=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ $(id -u) == 0 && -w /proc/sys/vm/drop_caches ]] || die "must run as root: it writes /proc/sys/vm/drop_caches"
target=${CARGO_TARGET_DIR:-$root/target}
if ((build)); then (cd "$root" && cargo build --release --bin cairn --example fill_snapshots >&2); fi
[[ -x $target/release/cairn && -x $target/release/examples/fill_snapshots ]] || die "no release build in $target"
"$root/benches/corpus.sh" "$corpus" >&2
exec python3 "$here/serve_bench.py" --cairn "$target/release/cairn" \
  --fill "$target/release/examples/fill_snapshots" --corpus "$corpus" --work "$work" \
  --runs "$runs" --out "$out"
