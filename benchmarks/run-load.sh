#!/usr/bin/env bash
# The side-by-side load benchmark: a stub upstream, nginx in front of it and the standalone proxy in front
# of it, measured with the same load in one run; writes BENCHMARKS.md at the repository root.
#
#   benchmarks/run-load.sh            full run (3 runs of each measurement, 1,000 and 5,000 streams; ~8 min)
#   benchmarks/run-load.sh --quick    one run of each, 200 and 1,000 streams (under a minute)
#
# Other options go to the Java driver: --out=FILE, --runs=N, --streams=1000,5000, --work-dir=DIR,
# --proxy-java-opts="-Xmx512m ..." (the proxy's JVM options), --only=streaming (time to first event alone,
# direct, nginx and the proxy, in the log with each run's five slowest streams; no report is written).
# Needs nginx and wrk (installed with apt-get when missing and running as root) and a JDK 17+. Rebuilds the
# jars when a source is newer than them.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "run-load: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 5,000 streams hold 10,000+ sockets (client to proxy, proxy to stub): raise the open-file limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

proxy_jar=examples/standalone/target/openai-proxy-standalone.jar
spring_jar=examples/spring-boot-app/target/openai-proxy-spring-boot-app.jar
bench_jar=benchmarks/target/benchmarks.jar
stale() {
  [ ! -f "$proxy_jar" ] || [ ! -f "$spring_jar" ] || [ ! -f "$bench_jar" ] && return 0
  local newest
  newest=$(find pom.xml core servlet-adapter graphql-module spring-starter examples benchmarks \
    \( -name target -prune \) -o \( -type f \( -name '*.java' -o -name 'pom.xml' -o -name '*.lua' \) \
    \( -newer "$proxy_jar" -o -newer "$spring_jar" -o -newer "$bench_jar" \) -print \) | head -1)
  [ -n "$newest" ]
}
if stale; then
  echo "run-load: building the proxy and the benchmark jars"
  ./mvnw -q -DskipTests -Dspotless.skip=true -pl examples/standalone,examples/spring-boot-app,benchmarks -am package
fi

cmd="benchmarks/run-load.sh"
for a in "$@"; do
  cmd="$cmd $a"
done
exec java -Xms256m -Xmx1g -cp "$bench_jar" io.github.openaiproxy.benchmarks.load.LoadBenchmark \
  --proxy-jar="$proxy_jar" --spring-jar="$spring_jar" --out=BENCHMARKS.md --notes=benchmarks/NOTES.md --command="$cmd" "$@"
