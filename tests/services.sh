#!/usr/bin/env bash
# Runs a command with real Redis and RabbitMQ servers on loopback, then stops them.
#
#   bash tests/services.sh go test ./...
#
# Missing servers, and promtool (Debian's prometheus package, for the metrics tests and
# `make rules`), are installed with apt-get when we run as root. Each server gets free
# ports and a data directory under one temp dir, and is stopped by PID when the command
# ends, however it ends. The command sees ORDERFLOW_TEST_REDIS_URL,
# ORDERFLOW_TEST_AMQP_URL, ORDERFLOW_TEST_RABBITMQ_API (management API, for a vhost per
# test) and ORDERFLOW_TEST_RABBITMQCTL (rabbitmqctl for this broker). Under CI=true a
# server that cannot be had fails the run; elsewhere the tests that need it skip.
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
trap 'exit 143' TERM
trap 'exit 130' INT

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

# free_port: a TCP port on 127.0.0.1 that nothing listens on, below the range the
# kernel hands out to outgoing connections, so that none takes it before we bind it.
free_port() {
	local port low
	low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	while :; do
		port=$((10000 + RANDOM % (low - 10000)))
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
	# The benchmarks read the servers' CPU time from /proc (tests/benchcpu_test.go).
	export ORDERFLOW_TEST_REDIS_PID=$!
	if ! wait_for 10 redis-cli -p "$port" ping; then
		cat "$dir/redis.log" >&2 || true
		unavailable redis "redis-server did not answer on port $port"
		return
	fi
	export ORDERFLOW_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
	log "redis on 127.0.0.1:$port"
}

# start_rabbitmq: a broker of our own, isolated under $work/rabbitmq (see
# ../shared/notes/services.md), with the management API for per-test vhosts.
start_rabbitmq() {
	if ! ensure_installed rabbitmq-server /usr/lib/rabbitmq/bin/rabbitmq-server; then
		unavailable rabbitmq "rabbitmq-server is not installed and we are not root"
		return
	fi
	local dir="$work/rabbitmq" amqp mgmt dist epmd_port
	amqp=$(free_port) mgmt=$(free_port) dist=$(free_port) epmd_port=$(free_port)
	mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
	local cookie="" letters=ABCDEFGHIJKLMNOPQRSTUVWXYZ
	for _ in $(seq 20); do cookie+=${letters:RANDOM%26:1}; done
	printf '%s' "$cookie" >"$dir/home/.erlang.cookie"
	chmod 400 "$dir/home/.erlang.cookie"
	: >"$dir/rabbitmq-env.conf"
	cat >"$dir/rabbitmq.conf" <<-CONF
		listeners.tcp.default = 127.0.0.1:$amqp
		management.tcp.ip = 127.0.0.1
		management.tcp.port = $mgmt
		loopback_users.guest = true
	CONF
	# The environment of the server and of every CLI call.
	cat >"$dir/env" <<-ENV
		export HOME="$dir/home"
		export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
		export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
		export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
		export RABBITMQ_MNESIA_BASE="$dir/mnesia"
		export RABBITMQ_LOG_BASE="$dir/log"
		export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
		export RABBITMQ_NODENAME=rabbit@localhost
		export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
		export RABBITMQ_NODE_PORT=$amqp
		export RABBITMQ_DIST_PORT=$dist
		export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
		export ERL_EPMD_ADDRESS=127.0.0.1
		export ERL_EPMD_PORT=$epmd_port
	ENV
	cat >"$dir/rabbitmqctl" <<-CTL
		#!/usr/bin/env bash
		. "$dir/env"
		exec /usr/lib/rabbitmq/bin/rabbitmqctl "\$@"
	CTL
	chmod +x "$dir/rabbitmqctl"
	(
		. "$dir/env"
		/usr/lib/rabbitmq/bin/rabbitmq-plugins --offline enable rabbitmq_management >"$dir/log/plugins.out" 2>&1
	) || { unavailable rabbitmq "rabbitmq-plugins failed: $(tail -3 "$dir/log/plugins.out")"; return; }

	(. "$dir/env"; exec epmd -address 127.0.0.1 -port "$epmd_port") >"$dir/log/epmd.out" 2>&1 &
	pids+=($!)
	(. "$dir/env"; exec setsid /usr/lib/rabbitmq/bin/rabbitmq-server) >"$dir/log/server.out" 2>&1 &
	local wrapper=$!
	if ! wait_for 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$amqp" ||
		! (. "$dir/env"; wait_for 30 /usr/lib/rabbitmq/bin/rabbitmq-diagnostics -q check_running); then
		tail -20 "$dir/log/server.out" >&2 || true
		kill -KILL "$wrapper" 2>/dev/null || true
		[ -f "$dir/rabbitmq.pid" ] && kill -KILL "$(cat "$dir/rabbitmq.pid")" 2>/dev/null || true
		if [ "$attempt" -lt 3 ]; then
			log "rabbitmq did not start (attempt $attempt); trying again with other ports"
			rm -rf "$dir"
			return 1
		fi
		unavailable rabbitmq "rabbitmq-server did not start"
		return
	fi
	# Stop the broker itself (beam) first, gracefully, then its wrapper; epmd last.
	pids=("$(cat "$dir/rabbitmq.pid")" "$wrapper" "${pids[@]}")
	wait_for 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$mgmt" || true
	export ORDERFLOW_TEST_RABBITMQ_PID="$(cat "$dir/rabbitmq.pid")"
	export ORDERFLOW_TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:$amqp/"
	export ORDERFLOW_TEST_RABBITMQ_API="http://guest:guest@127.0.0.1:$mgmt"
	export ORDERFLOW_TEST_RABBITMQCTL="$dir/rabbitmqctl"
	log "rabbitmq on 127.0.0.1:$amqp (management on $mgmt)"
}

# promtool checks the worker's /metrics and the alert rules; it is a tool, not a server:
# nothing is started.
if ! ensure_installed prometheus promtool; then
	unavailable promtool "promtool is not installed and we are not root"
fi

start_redis
# A port taken between our check and the broker's bind fails its start: try afresh.
for attempt in 1 2 3; do
	[ -n "${ORDERFLOW_TEST_AMQP_URL:-}" ] && break
	start_rabbitmq || true
done

set +e
"$@"
status=$?
set -e
exit $status
