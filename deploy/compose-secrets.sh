#!/usr/bin/env bash
# Writes the secrets that deploy/compose.yaml mounts, each a file of its own:
#
#   bash deploy/compose-secrets.sh [DIR]              # DIR: deploy/secrets (git ignores it)
#   bash deploy/compose-secrets.sh --cluster [DIR]    # and those of deploy/compose.cluster.yaml
#
# Random passwords for the three RabbitMQ users of deploy/rabbitmq/definitions.json and
# for Redis, the URLs the workers connect with, a signing key and the two tokens. A file
# that exists already is kept, so running it again changes nothing. To rotate a secret,
# delete its file and those made from it (amqp-url comes from rabbitmq-worker-password;
# redis-url and redis-users.acl from redis-password), run this again, then
# `compose up` again (README, "Compose").
#
# --cluster adds what the clustered variant needs beside these: the Erlang cookie its
# three RabbitMQ nodes share, the worker's URL of each node (amqp-cluster-url, from
# rabbitmq-worker-password), a Redis Cluster URL of the six nodes (redis-cluster-url,
# from redis-password), the ACL file of the Redis Cluster with two more users (one that
# creates the cluster, one the replicas replicate as) and the replicas' credentials
# (redis-replication.conf). Without it, the script writes what it always wrote.
set -euo pipefail
umask 077

cluster=
if [ "${1:-}" = --cluster ]; then
	cluster=1
	shift
fi
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

[ -n "$cluster" ] || exit 0

# The clustered variant (deploy/compose.cluster.yaml).
put rabbitmq-erlang-cookie "$(random)"
# One URL per node, separated by commas; they differ in host and port only (CONTRACT 6).
urls=
for n in 1 2 3; do
	urls="$urls${urls:+,}amqp://orderflow-worker:$worker@rabbitmq-$n:5672/orderflow"
done
put amqp-cluster-url "$urls"
# go-redis ParseClusterURL: the first node in the authority, the others as addr=.
addrs=
for n in 2 3 4 5 6; do
	addrs="$addrs${addrs:+&}addr=redis-$n:6379"
done
put redis-cluster-url "redis://orderflow:$redis@redis-1:6379?$addrs"
put redis-admin-password "$(random)"
put redis-replication-password "$(random)"
admin=$(cat "$dir/redis-admin-password")
replication=$(cat "$dir/redis-replication-password")
# The single node's two users, then orderflow-admin, which redis-cluster-create runs
# redis-cli --cluster as (CLUSTER ADDSLOTS, MEET and REPLICATE are @dangerous), and
# replication, which may only do what a replica does to its master.
put redis-cluster-users.acl "user default on nopass resetchannels -@all +ping
user orderflow on >$redis ~* &* +@all -@dangerous
user orderflow-admin on >$admin ~* &* +@all
user replication on >$replication resetchannels -@all +psync +replconf +ping"
# Every node gets it, not only the three replicas: after a failover the old master
# comes back as a replica of its own.
put redis-replication.conf "masteruser replication
masterauth $replication"
