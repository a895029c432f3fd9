#!/usr/bin/env bash
# cairn, restic and rustic against S3 across a reproducible WAN (issue 20), in one run:
#
#   benches/wan.sh [--profiles near,far] [--runs N] [--tools cairn,restic,rustic]
#                  [--corpus DIR] [--work DIR] [--out FILE] [--no-build] [--extra-mib 256]
#                  [--cairn BIN]
#
# For each profile (benches/wan-net.sh: near = 30 ms each way and 300 Mbit/s, far = 80 ms and
# 50 Mbit/s) and each run, a new SeaweedFS starts inside the network namespace, behind the
# shaped veth pair and the delaying relay; every tool then gets its own bucket and, with its
# defaults (KDF included), runs: init, first backup, unchanged re-backup, backup after the ~1%
# change of compare.sh, full restore, restore of one small file, `ls` of the deepest directory,
# `find` of that file's name, check and check --read-data (benches/wan_bench.py). The sources
# are the benchmark corpus plus 256 MiB (--extra-mib) of seeded random data, so each repository holds more
# than 1 GiB. Records go to WORK/records-PROFILE-TOOLS.jsonl (rewritten by each run of this
# script); the report (default benches/RESULTS-WAN.md) is made from every records file in WORK,
# the newest file winning for a tool it shares with an older one: `--profiles near --runs 3`
# then `--profiles far --runs 1` give one report, and `--tools cairn` later replaces cairn's rows.
# Needs root (network namespace, tc, drop_caches).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
profiles=near,far
runs=3
tools=cairn,restic,rustic
corpus=/work/bench/corpus
work=/work/bench/wan
out="$here/RESULTS-WAN.md"
build=1
extra_mib=256
cairn_arg=""
die() { echo "wan.sh: error: $*" >&2; exit 1; }
while (($#)); do
  case $1 in
    --profiles) profiles=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --tools) tools=${2:?}; shift 2 ;;
    --corpus) corpus=${2:?}; shift 2 ;;
    --work) work=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --no-build) build=0; shift ;;
    --extra-mib) extra_mib=${2:?}; shift 2 ;;
    --cairn) cairn_arg=${2:?}; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ $(id -u) == 0 ]] || die "needs root (ip netns, tc, drop_caches)"
[[ -d $corpus/real ]] || die "no corpus at $corpus (benches/corpus.sh makes it)"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-main}
if ((build)); then
  (cd "$root" && cargo build --release --quiet --bin cairn --example wan_delay) || die "cargo build failed"
fi
cairn_bin=${cairn_arg:-$CARGO_TARGET_DIR/release/cairn} relay_bin=$CARGO_TARGET_DIR/release/examples/wan_delay
[[ -x $cairn_bin && -x $relay_bin ]] || die "no release cairn or wan_delay in $CARGO_TARGET_DIR"
rustic_bin=$(command -v rustic) || die "rustic is missing: cargo install rustic-rs --locked"
command -v restic >/dev/null || die "restic is missing: apt-get install restic"
mkdir -p "$work/tmp"
work=$(cd "$work" && pwd)

# shellcheck source=benches/wan-net.sh
source "$here/wan-net.sh"
server_pid=""
# Stops the server and the relay: every process in the namespace, then the server's data.
stop_server() {
  local pids
  for sig in TERM TERM TERM TERM TERM TERM TERM TERM TERM KILL; do
    pids=$(ip netns pids "$WAN_NS" 2>/dev/null) || break
    [[ -n $pids ]] || break
    kill -s "$sig" $pids 2>/dev/null || true
    sleep 0.5
  done
  [[ -n $server_pid ]] && { wait "$server_pid" 2>/dev/null || true; }
  server_pid="" WAN_DELAY_PID=""
  rm -rf "${server_tmp:-/nonexistent}"/cairn-seaweedfs.*
}
trap 'stop_server; wan_down' EXIT
trap 'exit 130' INT TERM

# The extra seeded random data (256 MiB by default), made once per size.
extra=$work/extra-$extra_mib
if [[ ! -f $extra/random-extra.bin ]]; then
  mkdir -p "$extra"
  python3 -c 'import random, sys; r = random.Random(20261206); [sys.stdout.buffer.write(r.randbytes(1 << 20)) for _ in range(int(sys.argv[1]))]' "$extra_mib" >"$extra/random-extra.bin.tmp"
  mv "$extra/random-extra.bin.tmp" "$extra/random-extra.bin"
fi
# The small file to restore and find (the first of 1-8 KiB at the deepest level), its directory to list.
read -r one_file < <(find "$corpus/real" -type f -size +1k -size -8k -printf '%d %p\n' | sort -k1,1nr -k2 | head -n1 | cut -d' ' -f2-)
deep_dir=$(dirname "$one_file")
pattern=$(basename "$one_file")

metrics_port=29999 relay_port=29998
# The server's data in memory when /dev/shm has room for three repositories (the disk here is
# small; the server is the far end of the WAN, its disk is not what is measured).
server_tmp=$work/tmp
if (($(df --output=avail -k /dev/shm 2>/dev/null | tail -n1 || echo 0) > 6 * 1024 * 1024)); then
  server_tmp=/dev/shm/cairn-wan-bench; mkdir -p "$server_tmp"
fi
start_server() {
  local envfile=$work/tmp/server.env
  rm -f "$envfile"
  # shellcheck disable=SC2016
  TMPDIR=$server_tmp SEAWEEDFS_EXTRA_ARGS="-metricsPort=$metrics_port" wan_run bash -c '
    source "$1/scripts/seaweedfs.sh"; SEAWEEDFS_NO_TRAP=1 seaweedfs_start >&2 || exit 1
    trap seaweedfs_stop EXIT; trap "exit 0" TERM
    (umask 077; printf "%s\n" "${CAIRN_TEST_S3##*:}" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$2")
    wait' _ "$root" "$envfile" &
  server_pid=$!
  for _ in $(seq 600); do [[ -s $envfile ]] && break; kill -0 "$server_pid" 2>/dev/null || die "SeaweedFS did not start"; sleep 0.1; done
  local s3_port
  { read -r s3_port; read -r AWS_ACCESS_KEY_ID; read -r AWS_SECRET_ACCESS_KEY; } <"$envfile"
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  wan_delay "$relay_bin" "$s3_port" "$relay_port"
}

IFS=, read -r -a profile_list <<<"$profiles"
for profile in "${profile_list[@]}"; do
  wan_up "$profile"
  rate=${WAN_RATE%mbit}
  records=$work/records-$profile-${tools//,/+}.jsonl
  : >"$records"
  for ((run = 1; run <= runs; run++)); do
    start_server
    python3 "$here/wan_bench.py" run --profile "$profile" --endpoint "http://$WAN_NS_IP:$relay_port" \
      --metrics-cmd "ip netns exec $WAN_NS curl -s http://127.0.0.1:$metrics_port/metrics" \
      --link-dev "$WAN_HOST_IF" --rate-mbit "$rate" --delay-ms "$WAN_DELAY_MS" --corpus "$corpus" \
      --extra "$extra" --work "$work" --run "$run" --tools "$tools" --cairn "$cairn_bin" \
      --rustic "$rustic_bin" --records "$records" --one-file "$one_file" --deep-dir "$deep_dir" \
      --pattern "$pattern"
    stop_server
    rm -rf "$work/r$run"
  done
  wan_down
done

meta=$(python3 - "$corpus" "$extra" "$cairn_bin" "$rustic_bin" <<'EOF'
import json, os, subprocess, sys, time
corpus, extra, cairn, rustic = sys.argv[1:]
files = sum(len(f) for _, _, f in os.walk(corpus)) + 1
size = sum(os.lstat(os.path.join(d, n)).st_size for d, _, fs in os.walk(corpus) for n in fs) + os.path.getsize(f"{extra}/random-extra.bin")
ver = lambda c: subprocess.run(c, capture_output=True, text=True).stdout.splitlines()[0]
intro = (f"Generated by `benches/wan.sh` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (2 cores). "
         f"Sources: the benchmark corpus (`{corpus}`) plus {os.path.getsize(f'{extra}/random-extra.bin') >> 20} MiB of seeded random data: {files:,} files, "
         f"{size / 1e6:,.0f} MB. Tools, each with its defaults (KDF included): {ver([cairn, '--version'])}; "
         f"{ver(['restic', 'version'])}; {ver([rustic, '--version'])} (S3 through opendal). One SeaweedFS per run, "
         "inside a network namespace reached through a veth pair capped by `tc tbf` at both ends and a relay "
         "that delays every byte each way (`benches/wan-net.sh`; the kernel has no `sch_netem`). The page "
         "cache is dropped before every step; each tool keeps its own local cache between the steps of a run, "
         "as users' machines do.")
print(json.dumps({"intro": intro}))
EOF
)
python3 "$here/wan_bench.py" report --out "$out" --meta "$meta" "$work"/records-*.jsonl
echo "wan.sh: wrote $out" >&2
