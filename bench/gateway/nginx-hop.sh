#!/usr/bin/env bash
# A reverse proxy that does no work: nginx in the foreground, proxy_pass to the fake upstream
# over a keep-alive pool (HTTP/1.1, access log off, no buffering). It is the floor of a proxy
# hop on this machine; floor.sh runs it, and the peer benchmark takes it as a `custom` target:
#   cd ../shared/bench/peers && ./run.sh custom nginx-hop \
#       "$PWD/../../../main/bench/gateway/nginx-hop.sh 18795 2" http://127.0.0.1:18795/v1 '' ...
#   usage: nginx-hop.sh PORT [WORKERS]        (env: FAKE_URL, http://HOST:PORT/v1, set by run.sh)
set -eu
port=${1:?port}
workers=${2:-2}
up=${FAKE_URL:?FAKE_URL is the upstream base URL}
up=${up#http://}
up=${up%%/*}
command -v nginx > /dev/null || { echo "needs nginx (scripts/deps.sh --bench)"; exit 1; }
dir=$(mktemp -d /tmp/belt-nginx-hop.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir;
  proxy_temp_path $dir;
  upstream fake { server $up; keepalive 128; }
  server {
    listen 127.0.0.1:$port reuseport;
    location / {
      proxy_pass http://fake;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
CONF
# not exec: the trap removes the directory when nginx stops (the master quits on TERM/QUIT)
nginx -c "$dir/nginx.conf" -e "$dir/error.log" & ngx=$!
trap 'kill -QUIT $ngx 2>/dev/null; wait $ngx; rm -rf "$dir"' EXIT INT TERM
wait $ngx
