# Sourced by the example scripts: start_serve LOG ARGS... starts cephalo-serve (the path in
# $serve) with ARGS on a free loopback port, sets $endpoint and $server_pid, and stops the
# server when the script exits. The server prints its endpoint on the first line of its stdout,
# then serves until SIGTERM.
start_serve() {
  local log=$1
  shift
  coproc SERVER { exec "$serve" "$@" --bind tcp://127.0.0.1:0 --quiet 2>"$log"; }
  server_pid=$SERVER_PID
  trap 'kill -TERM $server_pid 2>/dev/null; wait $server_pid 2>/dev/null || true' EXIT
  if ! read -r -t 120 endpoint <&"${SERVER[0]}"; then
    echo "$(basename "$0"): cephalo-serve did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
}
