#!/usr/bin/env bash
# Image storage (issue 14): what storing a generated image costs, and that it is streamed.
#   1. latency: an image host and upstream stub (ImageStub, 1 MiB images by default) and two standalone proxies,
#      one with images.store=none, one with images.store=filesystem; ImageClient times, one request at a time,
#      a fetch straight from the image host and a generation through each proxy. The storing proxy should add
#      the fetch time plus at most 5 ms at p50.
#   2. heap: the stub again with 4 MiB images, a storing proxy with a small heap (-Xmx$BURST_HEAP, default
#      128m: 100 images of 4 MiB held whole would not fit), 100 concurrent generations; the heap after a full GC
#      before and after, and the most heap in use (garbage included) sampled every 100 ms during the burst.
#
#   benchmarks/ab/image-storage.sh <proxy jar> <benchmarks jar> [work dir]
#   (env: SIZE=1048576 REQUESTS=300 WARM=100 BURST=100 BURST_SIZE=4194304 BURST_HEAP=128m)
set -euo pipefail
jar=$1; bench=$2; out=${3:-$(mktemp -d -t image-storage.XXXX)}
size=${SIZE:-1048576}; requests=${REQUESTS:-300}; warm=${WARM:-100}
burst=${BURST:-100}; burst_size=${BURST_SIZE:-4194304}; burst_heap=${BURST_HEAP:-128m}
mkdir -p "$out"
stub_port=19111; plain_port=19112; storing_port=19113
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
start_stub() { # size
  # nodelay: without it the JDK server's separate header and body writes meet delayed ACKs (40 ms).
  java -Xmx256m -Dsun.net.httpserver.nodelay=true -cp "$bench" io.github.openaiproxy.benchmarks.load.ImageStub --port=$stub_port --size="$1" \
    > "$out/stub-$1.log" 2>&1 &
  stub=$!; pids+=("$stub")
  for _ in $(seq 100); do grep -q "listening" "$out/stub-$1.log" && break; sleep 0.2; done
}
start_proxy() { # port store heap log
  PORT=$1 HOST=127.0.0.1 OPENAI_BASE_URL=http://127.0.0.1:$stub_port \
    OPENAI_API_KEY=sk-benchmark-not-a-real-key-0000000000000000 OPENAI_PROXY_SESSIONS_STORE=memory \
    OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS=0 OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT=0 \
    OPENAI_PROXY_IMAGES_STORE=$2 OPENAI_PROXY_IMAGES_DIRECTORY="$out/images-$1" \
    java -Xms"$3" -Xmx"$3" -XX:+UseG1GC -jar "$jar" > "$out/$4" 2>&1 &
  proxy=$!; pids+=("$proxy")
  for _ in $(seq 300); do grep -q "openai-proxy listening" "$out/$4" && break; sleep 0.3; done
}
used_mib() { # pid
  jcmd "$1" GC.heap_info | sed -n 's/.*heap *total [0-9]*K, used \([0-9]*\)K.*/\1/p' | awk '{print int($1 / 1024)}'
}

echo "== latency: $size-byte images, $requests requests per target after $warm"
start_stub "$size"
start_proxy $plain_port none 512m proxy-plain.log
start_proxy $storing_port filesystem 512m proxy-storing.log
java -cp "$bench" io.github.openaiproxy.benchmarks.load.ImageClient --mode=latency --stub=$stub_port \
  --plain=$plain_port --storing=$storing_port --requests="$requests" --warm="$warm"
echo "stored files: $(find "$out/images-$storing_port" -name '*.meta' | wc -l)"
kill "${pids[@]}"; wait 2>/dev/null || true; pids=()

echo "== heap: $burst concurrent generations of $burst_size-byte images, storing proxy at -Xmx$burst_heap"
start_stub "$burst_size"
start_proxy $storing_port filesystem "$burst_heap" proxy-burst.log
java -cp "$bench" io.github.openaiproxy.benchmarks.load.ImageClient --mode=burst --stub=$stub_port \
  --storing=$storing_port --concurrency=10 > /dev/null # warm-up
jcmd "$proxy" GC.run > /dev/null
echo "heap after GC, idle: $(used_mib "$proxy") MiB"
java -cp "$bench" io.github.openaiproxy.benchmarks.load.ImageClient --mode=burst --stub=$stub_port \
  --storing=$storing_port --concurrency="$burst" > "$out/burst.log" 2>&1 &
client=$!
peak=0
while kill -0 $client 2>/dev/null; do
  u=$(used_mib "$proxy" || echo 0); [ "${u:-0}" -gt "$peak" ] && peak=$u
  sleep 0.1
done
wait $client
cat "$out/burst.log"
echo "most heap in use during the burst (garbage included): $peak MiB"
jcmd "$proxy" GC.run > /dev/null
echo "heap after GC, after the burst: $(used_mib "$proxy") MiB"
grep -c "OutOfMemoryError" "$out/proxy-burst.log" | sed 's/^/OutOfMemoryErrors in the proxy log: /' || true
echo "stored files: $(find "$out/images-$storing_port" -name '*.meta' | wc -l)"
echo "work dir: $out"
