#!/usr/bin/env bash
# The Python client of examples/python (written from bridge/PROTOCOL.md alone) against a real
# cephalo-serve --echo process: describe, generate, info and health replies checked by content,
# malformed requests answered with error codes, and the server stopped by SIGTERM exiting 0.
#
#   test_python_client.sh CEPHALO_SERVE DESCRIBE_PY     (ctest: bridge.python_client)
# Environment: PYTHON (default /usr/bin/python3, where Debian's python3-zmq installs pyzmq).
set -uo pipefail

serve=$1
client=$2
python=${PYTHON:-/usr/bin/python3}
if ! "$python" -c 'import zmq' 2>/dev/null; then
  echo "SKIP: $python has no pyzmq (Debian: apt-get install python3-zmq)"
  exit 77
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

"$serve" --echo --bind tcp://127.0.0.1:0 --quiet >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
# the endpoint the server chose is the line of stdout that starts with tcp://
endpoint=
for _ in $(seq 100); do
  endpoint=$(grep -m1 '^tcp://' "$work/serve.out" 2>/dev/null || true)
  [[ -n $endpoint ]] && break
  sleep 0.1
done
if [[ -z $endpoint ]]; then
  echo "FAIL: cephalo-serve printed no endpoint within 10 s"
  cat "$work/serve.out" "$work/serve.err"
  exit 1
fi
echo "cephalo-serve --echo on $endpoint"

# call EXPECTED_EXIT PATTERN... -- CLIENT_ARGS...: runs the client and checks its exit status and
# that its output contains every pattern (fixed strings)
call() {
  local expected_exit=$1
  shift
  local patterns=()
  while [[ $1 != -- ]]; do
    patterns+=("$1")
    shift
  done
  shift
  local output status
  output=$(timeout 30 "$python" "$client" --endpoint "$endpoint" --deadline-ms 5000 "$@" 2>&1)
  status=$?
  if [[ $status -ne $expected_exit ]]; then
    fail "describe.py $* exited $status, expected $expected_exit:"$'\n'"$output"
    return
  fi
  for p in "${patterns[@]}"; do
    if ! grep -qF -- "$p" <<<"$output"; then
      fail "describe.py $*: no '$p' in the reply:"$'\n'"$output"
    fi
  done
  echo "ok: describe.py $*"
}

# a PNG header naming a 4 x 3 RGB image, padded to 1000 bytes (the echo backend does not decode)
"$python" - "$work/crack.png" <<'EOF'
import struct, sys, zlib
ihdr = b"IHDR" + struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0)
png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))
open(sys.argv[1], "wb").write(png.ljust(1000, b"\0"))
EOF
printf 'plain text, not an image' >"$work/notes.txt"

call 0 '"status": "ok"' '"text": "echo: 19 characters, 1 image(s), 1000 bytes"' '"model": "echo"' \
  '"finish_reason": "stop"' -- --image "$work/crack.png" --prompt "Describe the crack."
call 0 '"text": "echo: 19 characters, 2 image(s), 2000 bytes"' -- \
  --image "$work/crack.png" --image "$work/crack.png" --prompt "Compare the cracks."
call 0 '"text": "echo: 5 characters, 0 image(s), 0 bytes"' -- --type generate --prompt hello
call 0 '"backend": "echo"' '"version": "0.1.0"' '"max_message_bytes": 67108864' -- --type info
call 0 '"state": "serving"' '"queued": 0' -- --type health
# malformed requests: answered with an error code, by id
call 1 '"status": "error"' '"code": "bad_request"' -- --prompt hello --body '{"prompt": 7}'
call 1 '"code": "bad_image"' -- --image "$work/notes.txt" --prompt "Describe it."
call 1 '"code": "bad_request"' -- --type generate --prompt hello --body '{"top_p": 2}'

# SIGTERM: the server drains and exits 0
kill -TERM "$server_pid"
exit_code=
for _ in $(seq 100); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    wait "$server_pid"
    exit_code=$?
    break
  fi
  sleep 0.1
done
server_pid_was=$server_pid
server_pid=
if [[ -z $exit_code ]]; then
  kill -KILL "$server_pid_was"
  fail "cephalo-serve did not exit within 10 s of SIGTERM"
elif [[ $exit_code -ne 0 ]]; then
  fail "cephalo-serve exited $exit_code after SIGTERM, expected 0"
  cat "$work/serve.out" "$work/serve.err"
else
  echo "ok: cephalo-serve exited 0 after SIGTERM"
fi

if ((failures > 0)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
