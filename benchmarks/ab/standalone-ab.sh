#!/usr/bin/env bash
# Run from a directory holding wrk-post.lua (benchmarks/src/main/resources/.../load/) and body.json, with the
# benchmark stub on 127.0.0.1:19001: java -cp benchmarks/target/benchmarks.jar io.github.openaiproxy.benchmarks.load.StubUpstream --port=19001
# A/B: the standalone proxy jar $1 (label $2) in front of the benchmark stub; wrk -t2 -c64, per route a warm-up
# then a measured run. Defaults: both routes, 20 s and 20 s; a quick one-route run, as in benchmarks/NOTES.md:
#   ROUTES=/v1/chat/completions WARM=10 MEASURE=15 standalone-ab.sh <jar> <label>
jar=$1; label=$2
routes=${ROUTES:-/v1/chat/completions /}; warm=${WARM:-20}; measure=${MEASURE:-20}
OPENAI_API_KEY=sk-test-123456789012345 OPENAI_BASE_URL=http://127.0.0.1:19001 PORT=19002 OPENAI_PROXY_SESSIONS_STORE=memory \
  OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS=0 OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT=0 \
  java -Xms256m -Xmx1g -XX:+UseG1GC -jar "$jar" > "$label.log" 2>&1 &
pid=$!
sleep 4
tick=$(getconf CLK_TCK)
for path in $routes; do
  WRK_BODY=body.json wrk -t2 -c64 -d${warm}s -s wrk-post.lua "http://127.0.0.1:19002$path" > /dev/null
  before=$(awk '{print $14+$15}' /proc/$pid/stat)
  out=$(WRK_BODY=body.json wrk -t2 -c64 -d${measure}s -s wrk-post.lua "http://127.0.0.1:19002$path" | grep WRK_RESULT)
  after=$(awk '{print $14+$15}' /proc/$pid/stat)
  req=$(echo "$out" | sed 's/.*"requests":\([0-9]*\).*/\1/')
  p99=$(echo "$out" | sed 's/.*"p99_us":\([0-9]*\).*/\1/')
  status=$(echo "$out" | sed 's/.*"status":\([0-9]*\).*/\1/')
  echo "$label $path req/s=$((req/measure)) p99_us=$p99 non2xx=$status proxy_cpu_us_per_req=$(( (after-before)*1000000/tick/req ))"
done
kill $pid; wait $pid 2>/dev/null
