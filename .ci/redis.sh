#!/usr/bin/env bash
# Starts throw-away Redis servers on loopback for the Redis limit store's tests, from Debian's `redis-server`
# package (installed when missing): one standalone server and one single-node Redis Cluster (all 16384 slots on
# one node). No persistence, no system service: the servers are this script's own processes. Source it: it
# exports OPENAI_PROXY_TEST_REDIS_URL and OPENAI_PROXY_TEST_REDIS_CLUSTER_URL, and defines stop_test_redis.
# Used by .ci/run; works the same by hand:
#   source .ci/redis.sh && ./mvnw verify; stop_test_redis
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v redis-server >/dev/null 2>&1; then
  echo "ci: installing redis-server"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

# A free port from $1 up (another server may be running on this machine).
free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

redis_dir=$(mktemp -d /tmp/openai-proxy-test-redis.XXXXXX)
redis_port=
redis_cluster_port=

# Defined before the servers start, so a failure half-way still stops what started.
stop_test_redis() {
  local port
  for port in $redis_port $redis_cluster_port; do
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  done
  rm -rf "$redis_dir"
}

# $1 name, $2 port, then extra options.
start_redis() {
  local name=$1 port=$2
  shift 2
  mkdir -p "$redis_dir/$name"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$redis_dir/$name" --pidfile "$redis_dir/$name/redis.pid" --logfile "$redis_dir/$name/redis.log" "$@"
  for _ in $(seq 1 100); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ] && return 0
    sleep 0.1
  done
  echo "ci: redis-server ($name) did not start on port $port" >&2
  cat "$redis_dir/$name/redis.log" >&2
  return 1
}

redis_port=$(free_port 6390)
start_redis standalone "$redis_port"
redis_cluster_port=$(free_port $((redis_port + 1)))
start_redis cluster "$redis_cluster_port" --cluster-enabled yes --cluster-config-file "$redis_dir/cluster/nodes.conf"
redis-cli -p "$redis_cluster_port" cluster addslotsrange 0 16383 >/dev/null
for _ in $(seq 1 100); do
  redis-cli -p "$redis_cluster_port" cluster info | grep -q '^cluster_state:ok' && break
  sleep 0.1
done
redis-cli -p "$redis_cluster_port" cluster info | grep -q '^cluster_state:ok' \
  || { echo "ci: the single-node Redis Cluster is not ok" >&2; exit 1; }

export OPENAI_PROXY_TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
export OPENAI_PROXY_TEST_REDIS_CLUSTER_URL="redis://127.0.0.1:$redis_cluster_port"
echo "ci: Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2) on port $redis_port, a one-node cluster on port $redis_cluster_port"

