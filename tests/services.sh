#!/usr/bin/env bash
# Runs a command with real Redis and RabbitMQ servers on loopback, then stops them.
#
#   bash tests/services.sh go test ./...
#
# Missing servers are installed with apt-get when we run as root. Each server gets free
# ports and a data directory under one temp dir, and is stopped by PID when the command
# ends, however it ends. The command sees ORDERFLOW_TEST_REDIS_URL (and, with RabbitMQ,
# ORDERFLOW_TEST_AMQP_URL). Under CI=true a server that cannot be had fails the run;
# elsewhere the integration tests that need it skip.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/orderflow-services.XXXXXX")
pids=()

log() { echo "services: $*" >&2; }

stop_all() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap stop_all EXIT

# unavailable SERVER WHY: fail under CI, else carry on without the server.
unavailable() {
	if [ "${CI:-}" = "true" ]; then
		log "$1 is required under CI=true: $2"
		exit 1
	fi
	log "$1 unavailable ($2); its integration tests will skip"
}

# ensure_installed PACKAGE BINARY: apt-get install PACKAGE when BINARY is missing.
ensure_installed() {
	command -v "$2" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" != 0 ]; then
		return 1
	fi
	log "installing $1 with apt-get"
	if [ -z "${apt_updated:-}" ]; then
		apt-get update -qq >&2 || return 1
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >&2 || return 1
	command -v "$2" >/dev/null 2>&1
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

start_redis() {
	if ! ensure_installed redis-server redis-server; then
		unavailable redis "redis-server is not installed and we are not root"
		return
	fi
	local port dir
	port=$(free_port)
	dir="$work/redis"
	mkdir -p "$dir"
	redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize no \
		--save '' --appendonly no --databases 10000 --logfile "$dir/redis.log" &
	pids+=($!)
	if ! wait_for 10 redis-cli -p "$port" ping; then
		cat "$dir/redis.log" >&2 || true
		unavailable redis "redis-server did not answer on port $port"
		return
	fi
	export ORDERFLOW_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
	log "redis on 127.0.0.1:$port"
}

start_redis

set +e
"$@"
status=$?
set -e
exit $status
