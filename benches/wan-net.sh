# A reproducible WAN for the object-storage benchmarks (issue 20): a network namespace holding
# the S3 server, reached from the host through a veth pair whose both ends cap the rate (tc tbf),
# and a relay in the namespace that delays every byte each way (examples/wan_delay.rs). tc netem
# would do the delay in the kernel, but this machine's kernel has no sch_netem ("Specified qdisc
# kind is unknown"); tbf works. Source this file, then:
#
#   wan_up PROFILE                      # near (30 ms each way, 300 Mbit/s) or far (80 ms, 50 Mbit/s)
#   wan_run CMD...                      # runs CMD inside the namespace (e.g. the S3 server)
#   wan_delay RELAY UPSTREAM_PORT PORT  # relay WAN_NS_IP:PORT -> 127.0.0.1:UPSTREAM_PORT in the
#                                       # namespace, delayed by the profile (RELAY: its binary)
#   wan_down                            # removes the namespace, the veth pair and the relay
#
# Exports WAN_HOST_IP (the host's end) and WAN_NS_IP (the server's end). The addresses are a
# /30 on a link that exists only between this host and the namespace created here; nothing
# else is reachable through it. Needs root (ip netns, tc); says so otherwise.

WAN_NS=${WAN_NS:-cairn-wan}
WAN_HOST_IF=cwan-h
WAN_NS_IF=cwan-n
WAN_HOST_IP=10.254.77.1
WAN_NS_IP=10.254.77.2

wan_profile() {
  case $1 in
    near) WAN_DELAY_MS=30 WAN_RATE=300mbit ;;
    far) WAN_DELAY_MS=80 WAN_RATE=50mbit ;;
    *) echo "wan: unknown profile $1 (near or far)" >&2; return 1 ;;
  esac
}

# The rate cap on an interface: a token bucket whose queue holds one bandwidth-delay product and
# more, so the cap does not drop a TCP window on its own.
wan_shape() { # [NETNS_EXEC...] IFACE
  local dev=${!#} exec=("${@:1:$#-1}")
  "${exec[@]}" tc qdisc replace dev "$dev" root tbf rate "$WAN_RATE" burst 256kb latency 400ms
}

wan_up() {
  [ "$(id -u)" = 0 ] || { echo "wan: needs root (ip netns and tc)" >&2; return 1; }
  wan_profile "${1:?profile}" || return 1
  wan_down 2>/dev/null || true
  ip netns add "$WAN_NS"
  ip link add "$WAN_HOST_IF" type veth peer name "$WAN_NS_IF"
  ip link set "$WAN_NS_IF" netns "$WAN_NS"
  ip addr add "$WAN_HOST_IP/30" dev "$WAN_HOST_IF"
  ip link set "$WAN_HOST_IF" up
  ip netns exec "$WAN_NS" ip addr add "$WAN_NS_IP/30" dev "$WAN_NS_IF"
  ip netns exec "$WAN_NS" ip link set "$WAN_NS_IF" up
  ip netns exec "$WAN_NS" ip link set lo up
  wan_shape "$WAN_HOST_IF" || return 1
  wan_shape ip netns exec "$WAN_NS" "$WAN_NS_IF" || return 1
  export WAN_HOST_IP WAN_NS_IP
  echo "wan: $WAN_NS up ($1: $WAN_DELAY_MS ms each way, $WAN_RATE), server side $WAN_NS_IP" >&2
}

wan_run() { ip netns exec "$WAN_NS" "$@"; }

wan_delay() { # RELAY_BINARY UPSTREAM_PORT PORT
  ip netns exec "$WAN_NS" "$1" "$WAN_NS_IP:$3" "127.0.0.1:$2" "$WAN_DELAY_MS" &
  WAN_DELAY_PID=$!
}

wan_down() {
  [ -n "${WAN_DELAY_PID:-}" ] && kill "$WAN_DELAY_PID" 2>/dev/null
  WAN_DELAY_PID=
  ip link del "$WAN_HOST_IF" 2>/dev/null || true
  ip netns del "$WAN_NS" 2>/dev/null || true
}
