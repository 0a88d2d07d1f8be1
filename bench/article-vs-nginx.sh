#!/usr/bin/env bash
# Anonymous article-page throughput and latency: Snakepit against nginx serving the very
# same rendered HTML as a static file, measured back to back in one run with wrk; once
# uncompressed (nginx with sendfile) and once as browsers ask for it, gzip (nginx with
# gzip_static serving the byte-identical .gz that Snakepit precompressed).
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
curl -sf -H "Accept-Encoding: gzip" "http://127.0.0.1:18080/articles/$slug" -o "$work/www/articles/$slug.gz"

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
    location /articles/ { default_type "text/html; charset=utf-8"; etag on; gzip_static on; gzip_vary on; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
sleep 0.3

run() { # name url [header]
  wrk -t2 -c"$conns" -d"$duration" --latency ${3:+-H "$3"} "$2" >"$work/$1.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$1.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/$1.txt")
  echo "$1 $rps $p50 $p99"
}
snakepit_url="http://127.0.0.1:18080/articles/$slug"
nginx_url="http://127.0.0.1:18081/articles/$slug"
wrk -t2 -c"$conns" -d2s "$snakepit_url" >/dev/null  # warm-up
wrk -t2 -c"$conns" -d2s -H "Accept-Encoding: gzip" "$snakepit_url" >/dev/null
read -r _ s_rps s_p50 s_p99 < <(run snakepit "$snakepit_url")
read -r _ n_rps n_p50 n_p99 < <(run nginx "$nginx_url")
read -r _ sz_rps sz_p50 sz_p99 < <(run snakepit-gzip "$snakepit_url" "Accept-Encoding: gzip")
read -r _ nz_rps nz_p50 nz_p99 < <(run nginx-gzip "$nginx_url" "Accept-Encoding: gzip")
bytes=$(wc -c <"$work/www/articles/$slug")
gz_bytes=$(wc -c <"$work/www/articles/$slug.gz")
ratio=$(awk -v a="$s_rps" -v b="$n_rps" 'BEGIN { printf "%.2f", a / b }')
gz_ratio=$(awk -v a="$sz_rps" -v b="$nz_rps" 'BEGIN { printf "%.2f", a / b }')
nginx_version=$(nginx -v 2>&1 | sed 's/.*\///')

echo "Article page /articles/$slug, wrk -t2 -c$conns -d$duration, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| server | encoding | requests/s | p50 latency | p99 latency |"
echo "|---|---|---:|---:|---:|"
echo "| nginx $nginx_version (gzip_static) | gzip, $gz_bytes bytes | $nz_rps | $nz_p50 | $nz_p99 |"
echo "| snakepit (precompressed) | gzip, $gz_bytes bytes | $sz_rps | $sz_p50 | $sz_p99 |"
echo "| nginx $nginx_version (sendfile) | none, $bytes bytes | $n_rps | $n_p50 | $n_p99 |"
echo "| snakepit | none, $bytes bytes | $s_rps | $s_p50 | $s_p99 |"
echo
echo "snakepit / nginx throughput: **$gz_ratio×** compressed as browsers fetch it, $ratio× uncompressed (target ≥ 0.9×)"
