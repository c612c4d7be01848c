# lib.sh — sourced by the gateway benchmarks (cpu.sh, floor.sh, soak.sh, streams.sh): a
# temporary directory and the processes started, both gone at exit; the repo's fake upstream
# and `belt serve` (belt-serve.sh) started on loopback and waited for.
#   after sourcing: $here $top $build are set; call bench_init NAME first.
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${BELT_BUILD:-$top/build}
lua=${CHAT_LUA:-$top/../shared/bench/peers/chat.lua}
pids=()

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null
  rm -rf "$tmp"
}

# bench_init NAME: $tmp = a new /tmp/belt-NAME.XXXXXX, removed at exit with the processes.
bench_init() {
  tmp=$(mktemp -d "/tmp/belt-$1.XXXXXX")
  trap bench_cleanup EXIT
}

# need_lua: the peers' wrk script (chat.lua) is there.
need_lua() { [ -f "$lua" ] || { echo "needs $lua (../shared/bench/peers)"; exit 1; }; }

# wait_line FILE TEXT: until FILE has a line with TEXT (5 s at most).
wait_line() { for _ in $(seq 50); do grep -q "$2" "$1" && return 0; sleep 0.1; done; return 1; }

# start_fake: the fake upstream on a free port; sets $fport and exports $FAKE_URL.
start_fake() {
  "$build/tests/fake_upstream" --port 0 > "$tmp/fake.out" 2>&1 & pids+=($!)
  wait_line "$tmp/fake.out" PORT || { echo "the fake upstream did not start"; exit 1; }
  fport=$(awk '/PORT/{print $2}' "$tmp/fake.out")
  export FAKE_URL="http://127.0.0.1:$fport/v1"
}

# start_belt PORT [THREADS]: belt-serve.sh with its store in $tmp/belt; sets $bpid.
start_belt() {
  BELT_BIN="$build/belt" BELT_BENCH_DIR="$tmp/belt" "$here/belt-serve.sh" "$1" "${2:-2}" \
      > "$tmp/belt.out" 2>&1 & bpid=$!; pids+=($bpid)
  wait_line "$tmp/belt.out" listening || { echo "belt serve did not start:"; cat "$tmp/belt.out"; exit 1; }
}
