#!/usr/bin/env bash
# The server's CPU for one GraphQL document of fragment chains: starts a standalone proxy jar in demo mode, posts
# `{ __typename }` three times (warm-up), then a document of CHAINS chains of DEPTH fragments, each spreading the next
# (the last selects __typename; no operation spreads them), REPS times, and prints each answer's status and the
# process's CPU (user + system, from /proc) and wall time. graphql-java's fragment-cycle check costs about the
# fragments times the square of their chains, so this is what an anonymous client can make one request cost.
#
#   benchmarks/ab/graphql-document-cost.sh <standalone jar> <chains> <depth> [reps]
set -euo pipefail
jar=$1; chains=$2; depth=$3; reps=${4:-5}
port=19311
work=$(mktemp -d -t graphql-cost.XXXX)
{
  printf '{"query":"{ __typename }'
  for ((c = 0; c < chains; c++)); do
    for ((i = 1; i < depth; i++)); do printf ' fragment F%d_%d on Query { ...F%d_%d }' "$c" "$i" "$c" $((i + 1)); done
    printf ' fragment F%d_%d on Query { __typename }' "$c" "$depth"
  done
  printf '"}'
} > "$work/body.json"
env -u OPENAI_API_KEY PORT=$port HOST=127.0.0.1 OPENAI_PROXY_SESSIONS_STORE=memory \
  java -jar "$jar" --demo-if-no-key > "$work/proxy.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening" "$work/proxy.log" && break; sleep 0.3; done
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
post() { curl -s -o "$work/answer.json" -w '%{http_code}' -H 'content-type: application/json' --data-binary "@$1" \
  "http://127.0.0.1:$port/graphql"; }
printf '{"query":"{ __typename }"}' > "$work/small.json"
for _ in 1 2 3; do post "$work/small.json" > /dev/null; done
echo "document: $chains chains of $depth fragments, $(wc -c < "$work/body.json") bytes"
for _ in $(seq "$reps"); do
  c0=$(cpu); t0=$(date +%s%N)
  status=$(post "$work/body.json")
  c1=$(cpu); t1=$(date +%s%N)
  echo "status $status cpu $(( (c1 - c0) * 1000 / ticks )) ms wall $(( (t1 - t0) / 1000000 )) ms" \
    "$(head -c 120 "$work/answer.json")"
done
