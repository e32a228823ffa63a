#!/usr/bin/env bash
# Throughput with the usage ledger off, in memory and on PostgreSQL (issue 12), side by side: the standalone
# proxy jar $1 in front of the benchmark stub (started by hand as for standalone-ab.sh, on 127.0.0.1:19001), run
# from a directory holding wrk-post.lua and body.json. For each round, each ledger in $LEDGERS (default
# "none jdbc memory"), in turn: a fresh server on the same PostgreSQL database (sessions in memory, keys and
# policies in the database for every variant), a warm-up and a measured wrk -t2 -c64 run on $ROUTE. With
# ledger=jdbc, after the run: the rows the ledger wrote against the 2xx answers wrk counted (the difference is
# what was dropped, less the requests wrk cut at its end) and the server's own dropped warnings.
#   OPENAI_PROXY_TEST_PG_URL=... _USER=... _PASSWORD=... ROUNDS=2 WARM=10 MEASURE=20 ledger-ab.sh <jar>
# The tables go to the schema $SCHEMA (default bench_ledger), created if missing and emptied before each run.
jar=$1
ledgers=${LEDGERS:-none jdbc memory}; rounds=${ROUNDS:-2}; warm=${WARM:-10}; measure=${MEASURE:-20}
route=${ROUTE:-/v1/chat/completions}; schema=${SCHEMA:-bench_ledger}; stub_port=${STUB_PORT:-19001}; port=${PORT:-19002}
pg=${OPENAI_PROXY_TEST_PG_URL#jdbc:postgresql://}; hostport=${pg%%/*}; db=${pg#*/}; db=${db%%\?*}
export PGPASSWORD=$OPENAI_PROXY_TEST_PG_PASSWORD
sql() { psql -qtA -h "${hostport%:*}" -p "${hostport#*:}" -U "$OPENAI_PROXY_TEST_PG_USER" "$db" -c "$1"; }
sql "CREATE SCHEMA IF NOT EXISTS $schema" > /dev/null
tick=$(getconf CLK_TCK)
field() { echo "$1" | sed "s/.*\"$2\":\([0-9]*\).*/\1/"; }
for round in $(seq "$rounds"); do
  for ledger in $ledgers; do
    sql "DO \$\$ BEGIN IF to_regclass('$schema.openai_proxy_usage') IS NOT NULL THEN
         TRUNCATE $schema.openai_proxy_usage, $schema.openai_proxy_usage_daily; END IF; END \$\$" > /dev/null
    OPENAI_API_KEY=sk-test-123456789012345 OPENAI_BASE_URL=http://127.0.0.1:$stub_port PORT=$port \
      OPENAI_PROXY_SESSIONS_STORE=memory OPENAI_PROXY_LEDGER_STORE=$ledger \
      OPENAI_PROXY_DB_URL="$OPENAI_PROXY_TEST_PG_URL?currentSchema=$schema" \
      OPENAI_PROXY_DB_USER=$OPENAI_PROXY_TEST_PG_USER OPENAI_PROXY_DB_PASSWORD=$OPENAI_PROXY_TEST_PG_PASSWORD \
      OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS=0 OPENAI_PROXY_LIMITS_MAX_CONCURRENT_UPSTREAM_CALLS_PER_CLIENT=0 \
      java -Xms256m -Xmx1g -XX:+UseG1GC -jar "$jar" > "ledger-$ledger-$round.log" 2>&1 &
    pid=$!
    for _ in $(seq 60); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.5; done
    w=$(WRK_BODY=body.json wrk -t2 -c64 -d${warm}s -s wrk-post.lua "http://127.0.0.1:$port$route" | grep WRK_RESULT)
    load=$(cut -d' ' -f1 /proc/loadavg)
    before=$(awk '{print $14+$15}' /proc/$pid/stat)
    out=$(WRK_BODY=body.json wrk -t2 -c64 -d${measure}s -s wrk-post.lua "http://127.0.0.1:$port$route" | grep WRK_RESULT)
    after=$(awk '{print $14+$15}' /proc/$pid/stat)
    req=$(field "$out" requests)
    extra=""
    if [ "$ledger" = jdbc ]; then
      sleep 3 # the writer flushes at least every second
      ok=$(( $(field "$w" requests) - $(field "$w" status) + req - $(field "$out" status) ))
      rows=$(sql "SELECT count(*) FROM $schema.openai_proxy_usage")
      extra=" 2xx=$ok ledger_rows=$rows missing=$(( ok > rows ? ok - rows : 0 )) dropped_warnings=$(grep -ci dropped "ledger-$ledger-$round.log")"
    fi
    echo "round=$round ledger=$ledger load1=$load req/s=$((req/measure)) p50_us=$(field "$out" p50_us) p99_us=$(field "$out" p99_us) non2xx=$(field "$out" status) proxy_cpu_us_per_req=$(( (after-before)*1000000/tick/req ))$extra"
    kill $pid; wait $pid 2>/dev/null
  done
done
