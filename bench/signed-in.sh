#!/usr/bin/env bash
# Signed-in vs anonymous article-page throughput (target: signed-in >= 0.8x anonymous).
# Builds the release binary, starts it on a loopback port with a fresh database, signs a
# user up (with a bookmark and notes on the benchmarked article), then runs wrk twice.
# Usage: bench/signed-in.sh [seconds] [connections]   (needs wrk: apt-get install wrk)
# Environment: SLUG (default mutable-default-arguments), CONTENT (default ./content),
# SKIP_BUILD=1 to use an existing release binary in $CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNS="${2:-32}"
THREADS=2
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/snakepit"
DATA="$(mktemp -d)"
chmod 755 "$DATA"   # the sandbox wants its scratch space reachable by its run users
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
SLUG="${SLUG:-mutable-default-arguments}"
CONTENT="${CONTENT:-content}"
SNAKEPIT_LOG=warn SNAKEPIT_WORKERS=1 "$BIN" serve --bind "127.0.0.1:$PORT" --content "$CONTENT" --data "$DATA" >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 200); do curl -s -o /dev/null "$BASE/api/me" && break; sleep 0.1; done

JAR="$DATA/cookies"
ME="$(curl -fs -c "$JAR" -H 'content-type: application/json' -d '{"username":"bench","password":"benchmark password"}' "$BASE/api/signup")"
CSRF="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["csrf_token"])' "$ME")"
COOKIE="$(awk '$6=="snakepit_session"{print $6"="$7}' "$JAR")"
H=(-H "cookie: $COOKIE" -H "x-csrf-token: $CSRF" -H 'content-type: application/json')
curl -fs -X PUT "${H[@]}" "$BASE/api/bookmarks/$SLUG" >/dev/null
for i in 1 2 3; do
  curl -fs "${H[@]}" -d "{\"article\":\"$SLUG\",\"anchor\":null,\"body\":\"benchmark note $i with **markdown**\"}" "$BASE/api/notes" >/dev/null
done
PAGE="$(curl -fs -H "cookie: $COOKIE" "$BASE/articles/$SLUG")"
case "$PAGE" in *'class="nav-user"'*) ;; *) echo "the signed-in page does not show the user" >&2; exit 1;; esac

run() { wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" "$@" "$BASE/articles/$SLUG" | awk '/Requests\/sec/{print $2}'; }
wrk -t"$THREADS" -c"$CONNS" -d2s "$BASE/articles/$SLUG" >/dev/null   # warm-up
# Alternate the two, twice each, so drift on a shared machine hits both alike.
A1="$(run)"; S1="$(run -H "cookie: $COOKIE")"; A2="$(run)"; S2="$(run -H "cookie: $COOKIE")"
ANON="$(python3 -c "print(f'{($A1+$A2)/2:.0f}')")"
SIGNED="$(python3 -c "print(f'{($S1+$S2)/2:.0f}')")"
RATIO="$(python3 -c "print(f'{$SIGNED/$ANON:.2f}')")"
BYTES="$(curl -fs "$BASE/articles/$SLUG" | wc -c)"
echo "article page /articles/$SLUG ($BYTES bytes anonymous), wrk -t$THREADS -c$CONNS -d${DURATION}s, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo "anonymous:  $ANON req/s  (runs: $A1, $A2)"
echo "signed-in:  $SIGNED req/s  (runs: $S1, $S2; bookmark + 3 notes on the page)"
echo "ratio:      $RATIO (target >= 0.80)"
python3 -c "import sys; sys.exit(0 if $SIGNED/$ANON >= 0.8 else 1)"
