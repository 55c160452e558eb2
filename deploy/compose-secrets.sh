#!/usr/bin/env bash
# Writes the secrets that deploy/compose.yaml mounts, each a file of its own:
#
#   bash deploy/compose-secrets.sh [DIR]        # DIR: deploy/secrets (git ignores it)
#
# Random passwords for the three RabbitMQ users of deploy/rabbitmq/definitions.json and
# for Redis, the URLs the workers connect with, a signing key and the two tokens. A file
# that exists already is kept, so running it again changes nothing. To rotate a secret,
# delete its file and those made from it (amqp-url comes from rabbitmq-worker-password;
# redis-url and redis-users.acl from redis-password), run this again, then
# `compose up` again (README, "Compose").
set -euo pipefail
umask 077

dir=${1:-"$(dirname "$0")/secrets"}
mkdir -p "$dir"
chmod 700 "$dir"

# random: 48 hex digits (192 bits), safe in a URL, a shell and an ACL file alike.
random() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

# put NAME CONTENT: write DIR/NAME unless it exists. Readable by all: the containers run
# as users of their own (rabbitmq, redis, 65532, nobody) and see only their own files;
# on this machine the directory, mode 700, keeps everyone else out.
put() {
	[ -e "$dir/$1" ] && return 0
	printf '%s\n' "$2" >"$dir/$1"
	chmod 644 "$dir/$1"
	echo "wrote $dir/$1"
}

for user in worker producer monitor; do
	put "rabbitmq-$user-password" "$(random)"
done
put redis-password "$(random)"

worker=$(cat "$dir/rabbitmq-worker-password")
redis=$(cat "$dir/redis-password")
put amqp-url "amqp://orderflow-worker:$worker@rabbitmq:5672/orderflow"
put redis-url "redis://orderflow:$redis@redis:6379/0"
# Redis ACL: the workers' user, and an anonymous default user that may only PING, for
# the healthcheck.
put redis-users.acl "user default on nopass resetchannels -@all +ping
user orderflow on >$redis ~* &* +@all -@dangerous"

put signing-keys "k$(date -u +%Y%m%d):$(random)"
put admin-token "$(random)"
put api-tokens "$(random)"
