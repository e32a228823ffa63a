#!/usr/bin/env bash
# Clients leaving mid-stream while other streams run (AbortStorm), against two standalone proxy jars in turn,
# each fronting the benchmark stub, ROUNDS rounds interleaved: the watchers' gaps between events show whether a
# departure ever holds up other streams.
#
#   benchmarks/ab/abort-storm.sh <jar A> <jar B> [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
jar_a=$1; jar_b=$2; rounds=${3:-2}; seconds=${4:-40}
bench=benchmarks/target/benchmarks.jar
work=$(mktemp -d -t abort-storm.XXXX)
stub_port=19301; proxy_port=19302
java -Xmx512m -cp "$bench" io.github.openaiproxy.benchmarks.load.StubUpstream --port=$stub_port --threads=2 \
  > "$work/stub.log" 2>&1 &
stub=$!
proxy=
trap 'kill $proxy $stub 2>/dev/null || true; wait 2>/dev/null || true' EXIT
run() { # label jar
  PORT=$proxy_port HOST=127.0.0.1 OPENAI_BASE_URL=http://127.0.0.1:$stub_port \
    OPENAI_API_KEY=sk-benchmark-not-a-real-key-0000000000000000 OPENAI_PROXY_SESSIONS_STORE=memory \
    OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS=0 OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT=0 \
    java -Xms256m -Xmx1g -XX:+UseG1GC -jar "$2" > "$work/proxy-$1.log" 2>&1 &
  proxy=$!
  for _ in $(seq 200); do grep -q "openai-proxy listening" "$work/proxy-$1.log" && break; sleep 0.3; done
  storm() { java -cp "$bench" io.github.openaiproxy.benchmarks.load.AbortStorm --port=$proxy_port "$@"; }
  storm --watchers=2 --aborters=8 --seconds=10 > /dev/null # warm-up
  echo "$1: $(storm --watchers=20 --aborters=16 --seconds="$seconds")"
  kill $proxy; wait $proxy 2>/dev/null || true
  proxy=
  if grep -q -E "SEVERE|WARNING|Exception" "$work/proxy-$1.log"; then
    echo "  $1 logged:"; grep -E "SEVERE|WARNING|Exception" "$work/proxy-$1.log" | head -5
  fi
}
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then run A "$jar_a"; run B "$jar_b"; else run B "$jar_b"; run A "$jar_a"; fi
done
