#!/usr/bin/env bash
# Bucket-source benchmark (issue 16): backing up an S3 bucket with cairn's bucket source against
# what a restic user does today, on a SeaweedFS on loopback, in one run, every tool with its
# default settings (KDF included).
#
#   benches/bucket.sh [--work DIR] [--runs N] [--small N] [--out FILE] [--no-build]
#
# The bucket: N small objects (default 20,000; 1-32 KiB, half of them text-like) and three large
# ones (48 MiB each, uploaded in parts). Per run, from new repositories:
#   - cairn: `cairn backup s3:http://…/BUCKET`, first and unchanged;
#   - rclone + restic: `rclone sync` of the bucket to a local mirror followed by `restic backup`
#     of the mirror, first and unchanged (both steps timed together). This is the usual recipe
#     (restic's forum and docs point bucket users at rclone), and the fastest of the two a user
#     would pick: it lists the bucket and fetches objects in parallel;
#   - rclone mount + restic: `restic backup` of an `rclone mount` of the bucket (no VFS cache,
#     rclone's default), first and unchanged: the way that needs no local copy.
# The page cache is dropped before each timed step. Medians over the runs go to the bucket
# section of FILE (default benches/RESULTS.md), as ratios; raw numbers to bucket.json. Needs
# root (drop_caches, FUSE) and installs nothing but SeaweedFS (rclone and restic from Debian).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
work=/work/bench/bucket
runs=1
small=20000
out="$here/RESULTS.md"
build=1
die() { echo "bucket.sh: error: $*" >&2; exit 1; }
while (($#)); do
  case $1 in
    --work) work=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --small) small=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ $(id -u) == 0 && -w /proc/sys/vm/drop_caches ]] || die "must run as root: it writes /proc/sys/vm/drop_caches and mounts FUSE"
for t in rclone restic fusermount3; do command -v $t >/dev/null || die "$t is missing (apt-get install rclone restic fuse3)"; done
target=${CARGO_TARGET_DIR:-$root/target}
if ((build)); then (cd "$root" && cargo build --release --bin cairn >&2); fi
[[ -x $target/release/cairn ]] || die "no release build in $target"
SEAWEEDFS_NO_TRAP=1
# shellcheck source=../scripts/seaweedfs.sh
source "$root/scripts/seaweedfs.sh"
trap 'fusermount3 -u "$work/mnt" 2>/dev/null || true; seaweedfs_stop' EXIT
seaweedfs_start >&2
python3 "$here/bucket_bench.py" --cairn "$target/release/cairn" --work "$work" --runs "$runs" \
  --small "$small" --out "$out" --endpoint "$CAIRN_TEST_S3"
