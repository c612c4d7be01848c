#!/usr/bin/env bash
# bench_evhttp_hop (bench/bench_evhttp_hop.c: a do-nothing proxy on libevent's evhttp alone)
# pointed at $FAKE_URL, for the peer benchmark's `custom` target:
#   ./run.sh custom evhttp-hop "$PWD/../../../main/bench/gateway/evhttp-hop.sh 18796 2" \
#            http://127.0.0.1:18796/v1 ''
#   usage: evhttp-hop.sh PORT [THREADS]      (env: BELT_BUILD, FAKE_URL)
set -eu
build=${BELT_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
hp=${FAKE_URL:?FAKE_URL is the upstream base URL}
hp=${hp#http://}
hp=${hp%%/*}
exec "$build/bench/bench_evhttp_hop" "${1:?port}" "${hp%:*}" "${hp#*:}" "${2:-2}"
