#!/usr/bin/env bash
# Run like standalone-ab.sh (wrk-post.lua and body.json in the working directory, the stub on 19001): v1.sh <jar> <label> [path]
# One route, quick: 10 s warm-up, 15 s measured.
jar=$1; label=$2; path=${3:-/v1/chat/completions}
OPENAI_API_KEY=sk-test-123456789012345 OPENAI_BASE_URL=http://127.0.0.1:19001 PORT=19002 OPENAI_PROXY_SESSIONS_STORE=memory \
  OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS=0 OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT=0 \
  java -Xms256m -Xmx1g -XX:+UseG1GC -jar "$jar" > "$label.log" 2>&1 &
pid=$!
sleep 4
tick=$(getconf CLK_TCK)
WRK_BODY=body.json wrk -t2 -c64 -d10s -s wrk-post.lua "http://127.0.0.1:19002$path" > /dev/null
before=$(awk '{print $14+$15}' /proc/$pid/stat)
out=$(WRK_BODY=body.json wrk -t2 -c64 -d15s -s wrk-post.lua "http://127.0.0.1:19002$path" | grep WRK_RESULT)
after=$(awk '{print $14+$15}' /proc/$pid/stat)
req=$(echo "$out" | sed 's/.*"requests":\([0-9]*\).*/\1/')
echo "$label $path req/s=$((req/15)) proxy_cpu_us_per_req=$(( (after-before)*1000000/tick/req ))"
kill $pid; wait $pid 2>/dev/null
