#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server on loopback for the JDBC session store tests, from Debian's
# `postgresql` package (installed when missing). Source it: it exports OPENAI_PROXY_TEST_PG_URL, _USER and
# _PASSWORD, and defines stop_test_postgres. Used by .ci/run; works the same by hand:
#   source .ci/postgres.sh && ./mvnw verify; stop_test_postgres
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { as_root runuser -u postgres -- "$@"; }

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "ci: installing postgresql"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

pg_dir=$(mktemp -d /tmp/openai-proxy-test-pg.XXXXXX)
as_root chown postgres:postgres "$pg_dir"
as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres --no-sync >/dev/null

# A free port from 54329 up (another server may be running on this machine). A port nobody listens on can
# still be taken as the local end of some other connection (it is in the ephemeral range), and then the
# server cannot bind it: try the next one.
pg_port=54329
for attempt in 1 2 3 4 5; do
  while (exec 3<>"/dev/tcp/127.0.0.1/$pg_port") 2>/dev/null; do pg_port=$((pg_port + 1)); done
  if as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
    -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null; then
    break
  fi
  if [ "$attempt" -eq 5 ]; then
    echo "ci: PostgreSQL did not start" >&2
    tail -n 20 "$pg_dir/server.log" >&2
    exit 1
  fi
  pg_port=$((pg_port + 1))
done
as_postgres "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qAt -v ON_ERROR_STOP=1 \
  -c "CREATE USER openai_proxy PASSWORD 'openai_proxy'" \
  -c "CREATE DATABASE openai_proxy_test OWNER openai_proxy" >/dev/null

export OPENAI_PROXY_TEST_PG_URL="jdbc:postgresql://127.0.0.1:$pg_port/openai_proxy_test"
export OPENAI_PROXY_TEST_PG_USER=openai_proxy
export OPENAI_PROXY_TEST_PG_PASSWORD=openai_proxy
echo "ci: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on port $pg_port ($OPENAI_PROXY_TEST_PG_URL)"

stop_test_postgres() {
  as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  as_root rm -rf "$pg_dir"
}
