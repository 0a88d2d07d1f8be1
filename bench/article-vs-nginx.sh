#!/usr/bin/env bash
# Anonymous article-page throughput and latency: Snakepit against nginx serving the very
# same rendered HTML as a static file, measured back to back in one run with wrk.
#
#   bench/article-vs-nginx.sh [SLUG] [DURATION] [CONNECTIONS]
#
# Needs wrk and nginx (installed with apt-get when missing). Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
slug=${1:-mutable-default-arguments}
duration=${2:-10s}
conns=${3:-64}

for tool in wrk nginx; do
  if ! command -v "$tool" >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk nginx-light >/dev/null
  fi
done

cargo build --release --locked --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT

./target/release/snakepit serve --bind 127.0.0.1:18080 --data "$work/data" --workers 1 >"$work/snakepit.log" 2>&1 &
for _ in $(seq 100); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.1; done
mkdir -p "$work/www/articles"
curl -sf "http://127.0.0.1:18080/articles/$slug" -o "$work/www/articles/$slug"

cat >"$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log $work/access.log;  # Snakepit logs every request too
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:18081;
    root $work/www;
    location /articles/ { default_type "text/html; charset=utf-8"; etag on; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
sleep 0.3

run() { # name url
  wrk -t2 -c"$conns" -d"$duration" --latency "$2" >"$work/$1.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$1.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/$1.txt")
  echo "$1 $rps $p50 $p99"
}
wrk -t2 -c"$conns" -d2s "http://127.0.0.1:18080/articles/$slug" >/dev/null  # warm-up
read -r _ s_rps s_p50 s_p99 < <(run snakepit "http://127.0.0.1:18080/articles/$slug")
read -r _ n_rps n_p50 n_p99 < <(run nginx "http://127.0.0.1:18081/articles/$slug")
bytes=$(wc -c <"$work/www/articles/$slug")
ratio=$(awk -v a="$s_rps" -v b="$n_rps" 'BEGIN { printf "%.2f", a / b }')

echo "Article page /articles/$slug ($bytes bytes), wrk -t2 -c$conns -d$duration, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| server | requests/s | p50 latency | p99 latency |"
echo "|---|---:|---:|---:|"
echo "| nginx $(nginx -v 2>&1 | sed 's/.*\///') (static file) | $n_rps | $n_p50 | $n_p99 |"
echo "| snakepit | $s_rps | $s_p50 | $s_p99 |"
echo
echo "snakepit / nginx throughput ratio: **$ratio×** (target ≥ 0.9×)"
