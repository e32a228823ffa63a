#!/usr/bin/env bash
# Heap per open stream of a standalone proxy jar: starts the benchmark stub and the proxy, warms the proxy up
# with 300 short streams, then opens N streams (events 1 s apart, long enough to stay open while measured)
# and reads the proxy's heap after a full GC, idle and with the N streams open, three ways:
#   gc-log    the full GC's own "before->after" line (-Xlog:gc): the heap right after the collection
#   heap-info jcmd GC.heap_info right after jcmd GC.run, as run-load.sh reads it (it also counts what the
#             open streams allocated between the collection and the reading)
#   live      the total of jcmd GC.class_histogram (a full GC, then the live objects)
# and keeps the class histograms in the work directory.
#
#   benchmarks/ab/stream-heap.sh <proxy jar> <benchmarks jar> <streams> [work dir]
#
# Each open stream holds two sockets in the proxy (client and upstream): N is limited by the open-file limit
# (ulimit -n), about half of it. With UPSTREAM_HTTP_VERSION=2 the proxy calls the stub over HTTP/2 (at most 256
# streams a connection), so a stream holds one socket and N can come close to the limit.
set -euo pipefail
jar=$1; bench=$2; n=$3; out=${4:-$(mktemp -d -t stream-heap.XXXX)}
mkdir -p "$out"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
stub_port=19101; proxy_port=19102
for _ in $(seq 100); do # wait for a previous run to let go of the ports
  (echo > /dev/tcp/127.0.0.1/$proxy_port) 2>/dev/null || (echo > /dev/tcp/127.0.0.1/$stub_port) 2>/dev/null || break
  sleep 0.5
done
java -Xmx512m -cp "$bench" io.github.openaiproxy.benchmarks.load.StubUpstream --port=$stub_port --threads=2 \
  > "$out/stub.log" 2>&1 &
stub=$!
PORT=$proxy_port HOST=127.0.0.1 OPENAI_BASE_URL=http://127.0.0.1:$stub_port \
  OPENAI_API_KEY=sk-benchmark-not-a-real-key-0000000000000000 OPENAI_PROXY_SESSIONS_STORE=memory \
  OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS=0 OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT=0 \
  OPENAI_PROXY_UPSTREAM_HTTP_VERSION="${UPSTREAM_HTTP_VERSION:-auto}" \
  java -Xms256m -Xmx1g -XX:+UseG1GC -Xlog:gc -jar "$jar" > "$out/proxy.log" 2>&1 &
proxy=$!
client=
trap 'kill $client $proxy $stub 2>/dev/null || true; wait 2>/dev/null || true' EXIT
# Its own start line, not the port: a proxy of a previous run may still hold the port while it stops.
for _ in $(seq 300); do grep -q "openai-proxy listening" "$out/proxy.log" && break; sleep 0.3; done
open_streams() { # streams events pause-ms
  java -cp "$bench" io.github.openaiproxy.benchmarks.load.OpenStreams --port=$proxy_port \
    --streams="$1" --events="$2" --pause-ms="$3" --rate=1000
}
measure() { # label
  jcmd $proxy GC.run > /dev/null
  local info after live
  info=$(jcmd $proxy GC.heap_info | sed -n 's/.*heap *total [0-9]*K, used \([0-9]*\)K.*/\1/p')
  after=$(grep "Pause Full" "$out/proxy.log" | tail -1 | sed 's/.*->\([0-9]*\)M(.*/\1/')
  jcmd $proxy GC.class_histogram > "$out/histogram-$1.txt"
  live=$(awk '/^Total/ {print $3}' "$out/histogram-$1.txt")
  echo "$1: gc-log ${after} MiB, heap-info $((info / 1024)) MiB, live $((live / 1048576)) MiB," \
    "RSS $(awk '/^VmRSS/ {print int($2 / 1024)}' /proc/$proxy/status) MiB," \
    "threads $(awk '/^Threads/ {print $2}' /proc/$proxy/status), open files $(ls /proc/$proxy/fd | wc -l)," \
    "upstream connections $(ss -Htn state established "( dport = :$stub_port )" | wc -l)"
}
open_streams 300 3 10 > "$out/warm-up.log" 2>&1
measure idle
open_streams "$n" 600 1000 > "$out/open.log" 2>&1 &
client=$!
for _ in $(seq 240); do
  sleep 1
  r=$(grep -a receiving "$out/open.log" | tail -1 | awk '{print $2}' | tr -d , || true)
  [ "${r:-0}" -ge "$n" ] && break
done
sleep 5
echo "client: $(grep -a receiving "$out/open.log" | tail -1 || true)"
measure "$n-streams"
echo "work dir: $out"
