#!/usr/bin/env bash
# The first request after a start, two standalone jars in turn: each round starts a jar in demo mode, waits WAIT
# seconds after it says it listens, and times its first and second POST /v1/chat/completions with curl. Extra
# settings of both (ENV="K=V ...") say what the request meets, for example a token limit, whose first count loads
# the tokenizer:
#
#   JAR_A=... JAR_B=... [ENV="OPENAI_PROXY_POLICIES_ANONYMOUS_TOKENS_PER_MINUTE=10000000"] [WAIT=4] [ROUNDS=3] \
#     benchmarks/ab/first-request.sh
set -euo pipefail
wait_s=${WAIT:-4}
rounds=${ROUNDS:-3}
port=19211
work=$(mktemp -d -t first-request.XXXX)
body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
once() { # label jar
  # shellcheck disable=SC2086 # the settings are a list of words
  env -u OPENAI_API_KEY ${ENV:-} java -XX:+UseSerialGC -jar "$2" --demo --port=$port > "$work/server.log" 2>&1 &
  local pid=$! times=()
  for _ in $(seq 1 600); do grep -q "listening on" "$work/server.log" && break; sleep 0.1; done
  sleep "$wait_s"
  for _ in 1 2; do
    times+=("$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/v1/chat/completions" \
      -H 'Content-Type: application/json' -d "$body")")
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$1 first ${times[0]} s, second ${times[1]} s"
}
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then once A "$JAR_A"; once B "$JAR_B"; else once B "$JAR_B"; once A "$JAR_A"; fi
done
rm -rf "$work"
