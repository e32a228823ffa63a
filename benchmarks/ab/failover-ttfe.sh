#!/usr/bin/env bash
# Issue 13's failover row: the time to the first event of a streamed chat through the standalone proxy jar $1,
# one connection, per model taken in turn within one run (FailoverTtfe), against the benchmark stub on
# 127.0.0.1:$STUB_PORT (default 19001; its /refuse/<status>/ paths answer every request with that status):
#   gpt-4o-mini    named upstream b (the stub) directly: the baseline
#   fail-default   upstream a refusing every request with $STATUS (default 503), defaults (2 retries, breaker
#                  after 5 failures for 30 s), fallback b:gpt-4o-mini: after the first requests the breaker is
#                  open and a is skipped
#   fail-every     upstream c refusing every request, retries 0 and breaker off, fallback b: every request
#                  asks c first, then b
#   plain          no named upstream: the default upstream (base-url), as before issue 13
#   ROUNDS=500 WARM=100 failover-ttfe.sh <proxy jar> <benchmarks jar>
jar=$1; bench=$2
stub_port=${STUB_PORT:-19001}; port=${PORT:-19002}; status=${STATUS:-503}
stub=http://127.0.0.1:$stub_port
env OPENAI_API_KEY=sk-test-123456789012345 OPENAI_BASE_URL=$stub PORT=$port OPENAI_PROXY_SESSIONS_STORE=memory \
  OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS=0 OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT=0 \
  OPENAI_PROXY_UPSTREAMS_B_KIND=compatible OPENAI_PROXY_UPSTREAMS_B_BASE_URL=$stub/v1 \
  OPENAI_PROXY_UPSTREAMS_B_MODELS=gpt-4o-mini \
  OPENAI_PROXY_UPSTREAMS_A_KIND=compatible OPENAI_PROXY_UPSTREAMS_A_BASE_URL=$stub/refuse/$status/v1 \
  OPENAI_PROXY_UPSTREAMS_A_MODELS=fail-default OPENAI_PROXY_UPSTREAMS_A_FALLBACK=b:gpt-4o-mini \
  OPENAI_PROXY_UPSTREAMS_C_KIND=compatible OPENAI_PROXY_UPSTREAMS_C_BASE_URL=$stub/refuse/$status/v1 \
  OPENAI_PROXY_UPSTREAMS_C_MODELS=fail-every OPENAI_PROXY_UPSTREAMS_C_FALLBACK=b:gpt-4o-mini \
  OPENAI_PROXY_UPSTREAMS_C_RETRIES=0 OPENAI_PROXY_UPSTREAMS_C_BREAKER_FAILURES=0 \
  java -Xms256m -Xmx1g -XX:+UseG1GC -jar "$jar" > failover-proxy.log 2>&1 &
pid=$!
for _ in $(seq 60); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.5; done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
java -cp "$bench" io.github.openaiproxy.benchmarks.load.FailoverTtfe --url=http://127.0.0.1:$port/v1/chat/completions \
  --models=plain,gpt-4o-mini,fail-default,fail-every --rounds="${ROUNDS:-500}" --warm="${WARM:-100}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill $pid; wait $pid 2>/dev/null
