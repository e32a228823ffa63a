#!/usr/bin/env bash
# Where the ledger's CPU goes under load: one standalone proxy on the benchmark stub, loaded with wrk -t2 -c64
# (15 s of warm-up, then three 10 s runs), with the CPU per request of the proxy, the stub and every postgres
# process on the machine (user + system from /proc, children included) read around each run; the last batch of
# rows is given 1.5 s to be written before the reading.
#
#   OPENAI_PROXY_DB_URL=jdbc:postgresql://... OPENAI_PROXY_DB_USER=... OPENAI_PROXY_DB_PASSWORD=... \
#     LEDGER=jdbc benchmarks/ab/ledger-cpu.sh <proxy jar>        # LEDGER=none for the baseline
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=benchmarks/target/benchmarks.jar
lua=benchmarks/src/main/resources/io/github/openaiproxy/benchmarks/load/wrk-post.lua
work=$(mktemp -d -t ledger-cpu.XXXX)
stub_port=19401; port=19402
printf '%s' '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Explain server-sent events in one paragraph."}],"temperature":0.7,"max_tokens":300}' \
  > "$work/body.json"
java -Xmx512m -cp "$bench" io.github.openaiproxy.benchmarks.load.StubUpstream --port=$stub_port --threads=2 \
  > "$work/stub.log" 2>&1 &
stub=$!
env PORT=$port HOST=127.0.0.1 OPENAI_BASE_URL=http://127.0.0.1:$stub_port \
  OPENAI_API_KEY=sk-benchmark-not-a-real-key-0000000000000000 OPENAI_PROXY_SESSIONS_STORE=memory \
  OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS=0 OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT=0 \
  OPENAI_PROXY_LEDGER_STORE="${LEDGER:-jdbc}" \
  java -Xms256m -Xmx1g -XX:+UseG1GC -jar "$1" > "$work/proxy.log" 2>&1 &
proxy=$!
trap 'kill $proxy $stub 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 200); do grep -q "openai-proxy listening" "$work/proxy.log" && break; sleep 0.3; done
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat" 2>/dev/null || echo 0; } # 100 a second
postgres() { local t=0; for p in $(pgrep -x postgres || true); do t=$((t + $(ticks "$p"))); done; echo $t; }
load() { WRK_BODY="$work/body.json" wrk -t2 -c64 -d"$1"s -s "$lua" "http://127.0.0.1:$port/v1/chat/completions"; }
load 15 > /dev/null
for _ in 1 2 3; do
  p0=$(postgres); c0=$(ticks $proxy); s0=$(ticks $stub)
  out=$(load 10 | sed -n 's/^WRK_RESULT //p')
  sleep 1.5
  p1=$(postgres); c1=$(ticks $proxy); s1=$(ticks $stub)
  python3 -c 'import json, sys
r = json.loads(sys.argv[1]); n = r["requests"]; a = [int(x) for x in sys.argv[2:]]
print("req/s %.0f  CPU per request: proxy %.1f us, postgres %.1f us, stub %.1f us" % (n / (r["duration_us"] / 1e6),
      (a[1] - a[0]) * 1e4 / n, (a[3] - a[2]) * 1e4 / n, (a[5] - a[4]) * 1e4 / n))' "$out" $c0 $c1 $p0 $p1 $s0 $s1
done
