#!/usr/bin/env bash
# Two standalone proxies side by side on one benchmark stub, loaded in turn (wrk -t2 -c64, or CONNECTIONS=1 for the
# latency one caller sees, 10 s each, the order
# alternating every round): with runs seconds apart, the machine's drift hits both alike, so each round's pair is
# a fair ratio even where one jar's runs move 30% between minutes. Prints req/s, latency and the proxy process's
# CPU per request (user + system from /proc) for every run.
#
#   JAR_A=... JAR_B=... [JAVA_A="..."] [JAVA_B="..."] [ENV_A="K=V ..."] [ENV_B="K=V ..."] [ROUNDS=8] [CONNECTIONS=64] \
#     benchmarks/ab/paired-wrk.sh
#
# ENV_A / ENV_B are extra environment settings of each proxy, for example ENV_B="OPENAI_PROXY_LEDGER_STORE=jdbc
# OPENAI_PROXY_DB_URL=jdbc:postgresql://... OPENAI_PROXY_DB_USER=... OPENAI_PROXY_DB_PASSWORD=...".
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=benchmarks/target/benchmarks.jar
lua=benchmarks/src/main/resources/io/github/openaiproxy/benchmarks/load/wrk-post.lua
java_opts="-Xms256m -Xmx1g -XX:+UseG1GC"
rounds=${ROUNDS:-8}
connections=${CONNECTIONS:-64}
threads=$((connections < 2 ? connections : 2))
work=$(mktemp -d -t paired-wrk.XXXX)
stub_port=19201; port_a=19202; port_b=19203
printf '%s' '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Explain server-sent events in one paragraph."}],"temperature":0.7,"max_tokens":300}' \
  > "$work/body.json"
java -Xmx512m -cp "$bench" io.github.openaiproxy.benchmarks.load.StubUpstream --port=$stub_port --threads=2 \
  > "$work/stub.log" 2>&1 &
stub=$!
start() { # port jar java-opts env
  # shellcheck disable=SC2086 # the options and settings are lists of words
  env PORT="$1" HOST=127.0.0.1 OPENAI_BASE_URL=http://127.0.0.1:$stub_port \
    OPENAI_API_KEY=sk-benchmark-not-a-real-key-0000000000000000 OPENAI_PROXY_SESSIONS_STORE=memory \
    OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS=0 OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT=0 \
    $4 java $3 -jar "$2" > "$work/proxy-$1.log" 2>&1 &
  echo $!
}
a=$(start $port_a "$JAR_A" "${JAVA_A:-$java_opts}" "${ENV_A:-}")
b=$(start $port_b "$JAR_B" "${JAVA_B:-$java_opts}" "${ENV_B:-}")
trap 'kill $a $b $stub 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for p in $port_a $port_b; do
  for _ in $(seq 200); do grep -q "openai-proxy listening" "$work/proxy-$p.log" && break; sleep 0.3; done
done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks (100 a second)
run() { # label port pid seconds
  local before after out
  before=$(cpu "$3")
  out=$(WRK_BODY="$work/body.json" wrk -t$threads -c$connections -d"$4"s -s "$lua" "http://127.0.0.1:$2/v1/chat/completions" \
    | sed -n 's/^WRK_RESULT //p')
  after=$(cpu "$3")
  python3 -c 'import json, sys
r = json.loads(sys.argv[1]); n = r["requests"]
errors = r["status"] + r["timeout"] + r["read"] + r["connect"] + r["write"]
print("%s req/s %.0f p50 %d us p99 %d us errors %d proxy cpu/req %.1f us" % (sys.argv[2], n / (r["duration_us"] / 1e6),
      r["p50_us"], r["p99_us"], errors, (int(sys.argv[3]) - int(sys.argv[4])) * 1e4 / n))' "$out" "$1" "$after" "$before"
}
run warm-up-A $port_a "$a" 8 > /dev/null; run warm-up-B $port_b "$b" 8 > /dev/null
run warm-up-A $port_a "$a" 8; run warm-up-B $port_b "$b" 8
# A pause for both JITs to finish what the warm-up queued before anything is measured. The same jar paired with
# itself still gives medians of 1.01 to 1.09 from run to run (benchmarks/NOTES.md, fifth pass): read a difference
# under about 10% as none.
sleep "${SETTLE:-10}"
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then run A $port_a "$a" 10; run B $port_b "$b" 10; else run B $port_b "$b" 10; run A $port_a "$a" 10; fi
done
