#!/usr/bin/env bash
# Snakepit's request path against references serving the very same bytes, in the same run:
#
#   - article pages (the shortest, median and longest article) and a static asset, each in
#     gzip, br and identity, against nginx: one worker, access log on, sendfile,
#     gzip_static and brotli_static serving the byte-identical .gz/.br files;
#   - /healthz and /api/search against a bare hyper server (examples/bare_hyper.rs) on the
#     same tokio runtime, returning the captured bytes with no routing or middleware;
#   - a signed-in reader (a bookmark and 3 notes on the page) against an anonymous one.
#
#   bench/http-vs-references.sh [DURATION] [CONNECTIONS] [RUNS]     (defaults: 5s 32 3)
#
# Before any figure is trusted, every reference answer is checked against Snakepit's:
# status 200 and the same body bytes (SHA-256) per encoding (the search answer only differs
# in its `took_us` digits, so its length must match within 8 bytes). wrk must report no
# non-2xx answers and no socket errors, or the script stops.
#
# The load generator (wrk, one thread) is pinned to CPU 0 and every server to CPU 1 with
# taskset, so the servers get one core each and never share it with wrk. Cases alternate
# Snakepit / reference within each run, and each figure is the median of RUNS runs with the
# spread (min–max) beside it. On a machine with other load, only the ratios mean anything.
#
# Needs wrk, nginx and nginx's brotli_static module (apt-get install wrk nginx-light
# libnginx-mod-http-brotli-static; installed when missing). SKIP_BUILD=1 uses existing
# release binaries in $CARGO_TARGET_DIR (default target); SNAKEPIT_BIN=path measures another
# build of Snakepit against the same references (how the README's before/after were taken).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-5s}
CONNS=${2:-32}
RUNS=${3:-3}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
[ -e /usr/lib/nginx/modules/ngx_http_brotli_static_module.so ] || need+=(libnginx-mod-http-brotli-static)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --locked --quiet --bin snakepit --example bare_hyper
fi
BIN="${SNAKEPIT_BIN:-$CARGO_TARGET_DIR/release/snakepit}"   # SNAKEPIT_BIN: compare another build
HYPER="$CARGO_TARGET_DIR/release/examples/bare_hyper"

if [ "$(nproc)" -ge 2 ]; then
  LOAD=(taskset -c 0); SERVER=(taskset -c 1); PINNING="wrk on CPU 0, servers on CPU 1"
else
  LOAD=(); SERVER=(); PINNING="one CPU: wrk and the servers share it"
fi

work=$(mktemp -d)
chmod 755 "$work"   # the sandbox wants its scratch space reachable by its run users
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SP=$(free_port); NG=$(free_port); HY=$(free_port)
S="http://127.0.0.1:$SP"; N="http://127.0.0.1:$NG"; H="http://127.0.0.1:$HY"

# Snakepit as deployed: request log on (info, to a file like nginx's access log).
SNAKEPIT_WORKERS=1 "${SERVER[@]}" "$BIN" serve --bind "127.0.0.1:$SP" --content content \
  --data "$work/data" >"$work/snakepit.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$S/healthz")" = 200 ] && break
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$S/healthz")" = 200 ] || { echo "snakepit did not become healthy" >&2; cat "$work/snakepit.log" >&2; exit 1; }

# The articles by page size: shortest, median, longest.
mkdir -p "$work/www/articles" "$work/www/static" "$work/hyper"
curl -sf "$S/" | grep -o 'href="/articles/[^"#]*"' | sed 's/href="\/articles\///; s/"$//' | sort -u >"$work/slugs"
while read -r slug; do
  printf '%s %s\n' "$(curl -sf "$S/articles/$slug" | wc -c)" "$slug"
done <"$work/slugs" | sort -n >"$work/sizes"
count=$(wc -l <"$work/sizes")
[ "$count" -ge 3 ] || { echo "expected at least 3 articles, found $count" >&2; exit 1; }
SHORT=$(sed -n '1p' "$work/sizes" | cut -d' ' -f2)
MEDIAN=$(sed -n "$(( (count + 1) / 2 ))p" "$work/sizes" | cut -d' ' -f2)
LONG=$(sed -n '$p' "$work/sizes" | cut -d' ' -f2)

# nginx gets the bytes Snakepit sends: the page, its .gz and its .br.
fetch() { # path file [encoding]
  curl -sf ${3:+-H "Accept-Encoding: $3"} "$S$1" -o "$2"
}
for slug in "$SHORT" "$MEDIAN" "$LONG"; do
  fetch "/articles/$slug" "$work/www/articles/$slug"
  fetch "/articles/$slug" "$work/www/articles/$slug.gz" gzip
  fetch "/articles/$slug" "$work/www/articles/$slug.br" br
done
ASSET=app.css
fetch "/static/$ASSET" "$work/www/static/$ASSET"
fetch "/static/$ASSET" "$work/www/static/$ASSET.gz" gzip
fetch "/static/$ASSET" "$work/www/static/$ASSET.br" br
cmp -s "$work/www/static/$ASSET" "static/$ASSET" || { echo "/static/$ASSET is not the file" >&2; exit 1; }

cat >"$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_http_brotli_static_module.so;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log $work/access.log;  # Snakepit logs every request too
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NG;
    root $work/www;
    location /articles/ { default_type "text/html; charset=utf-8"; etag on; gzip_static on; brotli_static on; gzip_vary on; }
    location /static/ { types { text/css css; } etag on; gzip_static on; brotli_static on; gzip_vary on; }
  }
}
CONF
"${SERVER[@]}" nginx -c "$work/nginx.conf" -p "$work" -e "$work/nginx-error.log"

# The bare hyper server gets what Snakepit answers on /healthz and /api/search.
QUERY="/api/search?q=mutable+default"
curl -sf "$S/healthz" -o "$work/hyper/healthz"
curl -sf "$S$QUERY" -o "$work/hyper/search"
"${SERVER[@]}" "$HYPER" "127.0.0.1:$HY" \
  "/healthz=$work/hyper/healthz=application/json" \
  "$QUERY=$work/hyper/search=application/json" &
pids+=($!)
for _ in $(seq 100); do curl -sf "$H/healthz" >/dev/null && curl -sf "$N/static/$ASSET" >/dev/null && break; sleep 0.1; done

# Check the references before trusting them.
digest() { # url [encoding] -> "status encoding sha256 length"
  local f="$work/check"
  local meta
  meta=$(curl -s ${2:+-H "Accept-Encoding: $2"} -o "$f" -w '%{http_code} %header{content-encoding}' "$1")
  printf '%s %s %s\n' "$meta" "$(sha256sum <"$f" | cut -c1-16)" "$(wc -c <"$f")"
}
same() { # snakepit-url reference-url encoding
  local a b
  a=$(digest "$1" "$3"); b=$(digest "$2" "$3")
  if [ "$a" != "$b" ]; then
    echo "reference differs for $2 (${3:-identity}): snakepit [$a] reference [$b]" >&2
    exit 1
  fi
}
for slug in "$SHORT" "$MEDIAN" "$LONG"; do
  for enc in gzip br ""; do same "$S/articles/$slug" "$N/articles/$slug" "$enc"; done
done
for enc in gzip br ""; do same "$S/static/$ASSET" "$N/static/$ASSET" "$enc"; done
same "$S/healthz" "$H/healthz" ""
a=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$S$QUERY")
b=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$H$QUERY")
[ "${a%% *}" = 200 ] && [ "${b%% *}" = 200 ] && [ $(( ${a##* } - ${b##* } )) -le 8 ] && [ $(( ${b##* } - ${a##* } )) -le 8 ] \
  || { echo "search answers differ: snakepit [$a] reference [$b]" >&2; exit 1; }

# A signed-in reader with a bookmark and three notes on the median article.
JAR="$work/cookies"
ME=$(curl -fs -c "$JAR" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"benchmark password"}' "$S/api/signup")
CSRF=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["csrf_token"])' "$ME")
COOKIE=$(awk '$6=="snakepit_session"{print $6"="$7}' "$JAR")
AUTH=(-H "cookie: $COOKIE" -H "x-csrf-token: $CSRF" -H 'content-type: application/json')
curl -fs -X PUT "${AUTH[@]}" "$S/api/bookmarks/$MEDIAN" >/dev/null
for i in 1 2 3; do
  curl -fs "${AUTH[@]}" -d "{\"article\":\"$MEDIAN\",\"anchor\":null,\"body\":\"benchmark note $i with **markdown**\"}" "$S/api/notes" >/dev/null
done
PAGE=$(curl -fs -H "cookie: $COOKIE" "$S/articles/$MEDIAN")
case "$PAGE" in *'class="nav-user"'*) ;; *) echo "the signed-in page does not show the reader" >&2; exit 1;; esac

# One wrk measurement: prints requests/s; stops the script on errors or non-2xx answers.
measure() { # url [header...]
  local url=$1; shift
  local args=()
  for h in "$@"; do args+=(-H "$h"); done
  local out
  out=$("${LOAD[@]}" wrk -t1 -c"$CONNS" -d"$DURATION" "${args[@]}" "$url")
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "wrk reported errors for $url:" >&2; echo "$out" >&2; exit 1
  fi
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}

# case name | snakepit URL | reference URL | header | reference name
cases=()
for slug in "$SHORT" "$MEDIAN" "$LONG"; do
  for enc in gzip br identity; do
    cases+=("page $enc $slug|$S/articles/$slug|$N/articles/$slug|Accept-Encoding: $enc|nginx")
  done
done
for enc in gzip br identity; do
  cases+=("static $enc /static/$ASSET|$S/static/$ASSET|$N/static/$ASSET|Accept-Encoding: $enc|nginx")
done
cases+=("/healthz|$S/healthz|$H/healthz|Accept-Encoding: gzip|hyper")
cases+=("$QUERY|$S$QUERY|$H$QUERY|Accept-Encoding: identity|hyper")
cases+=("signed-in page gzip $MEDIAN|$S/articles/$MEDIAN#signed-in|$S/articles/$MEDIAN|Accept-Encoding: gzip|anonymous")

# Warm-up: every URL once, briefly.
for c in "${cases[@]}"; do
  IFS='|' read -r _ su ru hdr _ <<<"$c"
  "${LOAD[@]}" wrk -t1 -c"$CONNS" -d1s -H "$hdr" "${su%#*}" >/dev/null
  "${LOAD[@]}" wrk -t1 -c"$CONNS" -d1s -H "$hdr" "$ru" >/dev/null
done

results="$work/results"
: >"$results"
for run in $(seq "$RUNS"); do
  for i in "${!cases[@]}"; do
    IFS='|' read -r name su ru hdr ref <<<"${cases[$i]}"
    if [ "${su#*#}" = signed-in ]; then
      s=$(measure "${su%#*}" "$hdr" "cookie: $COOKIE")
    else
      s=$(measure "$su" "$hdr")
    fi
    r=$(measure "$ru" "$hdr")
    echo "$i $run $s $r" >>"$results"
  done
done

# Median and spread per case; the ratio's spread is over the runs' own ratios.
python3 - "$results" "$RUNS" "${cases[@]}" <<'PY'
import statistics, sys
path, runs, cases = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rows = {}
for line in open(path):
    i, run, s, r = line.split()
    rows.setdefault(int(i), []).append((float(s), float(r)))
def fmt(xs):
    return f"{statistics.median(xs):,.0f} ({min(xs):,.0f}–{max(xs):,.0f})"
print("| case | snakepit req/s | reference req/s | reference | ratio (spread) |")
print("|---|---:|---:|---|---:|")
ratios = {}
for i, case in enumerate(cases):
    name, _, _, _, ref = case.split("|")
    pairs = rows[i]
    s = [p[0] for p in pairs]; r = [p[1] for p in pairs]
    q = [a / b for a, b in pairs]
    ratios[name] = statistics.median(q)
    print(f"| {name} | {fmt(s)} | {fmt(r)} | {ref} | **{statistics.median(q):.2f}×** ({min(q):.2f}–{max(q):.2f}) |")
print()
def group(prefix):
    return [v for k, v in ratios.items() if k.startswith(prefix)]
targets = [
    ("gzip pages, median of the three articles vs nginx", statistics.median(group("page gzip")), 0.9),
    ("br pages, median of the three articles vs nginx", statistics.median(group("page br")), 0.9),
    ("identity pages, median of the three articles vs nginx (no target)", statistics.median(group("page identity")), None),
    ("static asset, median of gzip/br/identity vs nginx", statistics.median(group("static")), 0.9),
    ("/healthz vs bare hyper", group("/healthz")[0], 0.8),
    ("/api/search vs bare hyper (no target)", group("/api/search")[0], None),
    ("signed-in vs anonymous page", group("signed-in")[0], 0.8),
]
print("| measure | ratio | target |")
print("|---|---:|---|")
for name, value, target in targets:
    verdict = "" if target is None else (f"≥ {target} ✔" if value >= target else f"≥ {target} ✘ missed")
    print(f"| {name} | **{value:.2f}×** | {verdict} |")
PY
echo
echo "wrk -t1 -c$CONNS -d$DURATION, $RUNS runs, $PINNING; $(nproc) CPUs; nginx $(nginx -v 2>&1 | sed 's/.*\///'); $(date -u +%Y-%m-%d)"
echo "articles: shortest $SHORT ($(sed -n '1p' "$work/sizes" | cut -d' ' -f1) bytes), median $MEDIAN ($(sed -n "$(( (count + 1) / 2 ))p" "$work/sizes" | cut -d' ' -f1) bytes), longest $LONG ($(sed -n '$p' "$work/sizes" | cut -d' ' -f1) bytes)"
echo "compressed: $(for s in "$SHORT" "$MEDIAN" "$LONG"; do printf '%s gzip %s br %s; ' "$s" "$(wc -c <"$work/www/articles/$s.gz")" "$(wc -c <"$work/www/articles/$s.br")"; done)"
