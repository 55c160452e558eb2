// Package redisstore keeps every store of the pipeline in Redis (go-redis v9). Every Lua
// script and transaction touches keys of one hash slot, named by a hash tag in braces,
// so the same code runs on a single node, Sentinel or Cluster:
//
//	orderflow:order:{<order>}                    order snapshot (JSON), with its payment id once paid
//	orderflow:{inventory}:available              hash SKU → units that can be reserved
//	orderflow:{inventory}:reserved               hash SKU → units held by open orders
//	orderflow:{inventory}:reservation:<order>    hash: state, outcome, items (7 d once closed)
//	orderflow:payment:{<order>}                  a declined payment's outcome (JSON)
//	orderflow:notification:{<customer>}:<order>  notification (JSON)
//	orderflow:notifications:{<customer>}         sorted set of order ids by time sent
//	orderflow:idempotency:{<key>}                answer to an Idempotency-Key (24 h)
//	orderflow:dedup:{<tag>}:<handler>:<id>       a deferred claim's mark (app/inbox), in the
//	                                             slot of the keys it is claimed and committed with
//	orderflow:dedup:<handler>:<id>               a claim's mark taken by Dedup itself
//
// All inventory keys share the {inventory} slot, because a reservation changes several
// SKUs atomically; on a cluster, inventory lives on one shard.
package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/domain"
)

// The kinds of Redis deployment Open connects to (CONTRACT 6, ORDERFLOW_REDIS_MODE).
const (
	ModeSingle   = "single"
	ModeCluster  = "cluster"
	ModeSentinel = "sentinel"
)

// Open connects to the Redis at rawURL, in go-redis's URL form for mode: ParseURL for a
// single node, ParseClusterURL (redis://host:port?addr=host2:port2&addr=...) for a
// Cluster, ParseFailoverURL (...?master_name=NAME&addr=...) for Sentinel; and checks that
// it answers. tlsConfig, for a rediss:// URL, replaces the one go-redis derives from the
// URL (see configs.TLS.ClientConfig), so that no URL parameter turns verification off.
// Each write waits for replicaAcks replicas (WaitForReplicas).
func Open(ctx context.Context, mode, rawURL string, tlsConfig *tls.Config, replicaAcks int) (redis.UniversalClient, error) {
	client, err := newClient(mode, rawURL, tlsConfig)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	// Before the first command: a ClusterClient's hook reaches only the nodes it meets
	// after it (OnNewNode).
	WaitForReplicas(client, replicaAcks)
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, domain.Unavailable("redis ping", err)
	}
	return client, nil
}

func newClient(mode, rawURL string, tlsConfig *tls.Config) (redis.UniversalClient, error) {
	switch mode {
	case ModeSingle, "":
		opts, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		if opts.TLSConfig != nil && tlsConfig != nil {
			opts.TLSConfig = tlsConfig
		}
		return redis.NewClient(opts), nil
	case ModeCluster:
		opts, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, err
		}
		if opts.TLSConfig != nil && tlsConfig != nil {
			opts.TLSConfig = tlsConfig
		}
		return redis.NewClusterClient(opts), nil
	case ModeSentinel:
		opts, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, err
		}
		if opts.TLSConfig != nil && tlsConfig != nil {
			opts.TLSConfig = tlsConfig
		}
		return redis.NewFailoverClient(opts), nil
	}
	return nil, fmt.Errorf("mode %q is not single, cluster or sentinel", mode)
}

// Stores are the Redis stores on one client.
type Stores struct {
	Orders          *Orders
	Inventory       *Inventory
	Payments        *Payments
	Notifications   *Notifications
	IdempotencyKeys *Leases
	Dedup           *Leases
}

// New returns every store on client.
func New(client redis.UniversalClient) Stores {
	return Stores{
		Orders:          &Orders{client: client},
		Inventory:       &Inventory{client: client},
		Payments:        &Payments{client: client},
		Notifications:   &Notifications{client: client},
		IdempotencyKeys: NewLeases(client, IdempotencyKeyPrefix),
		Dedup:           NewLeases(client, DedupKeyPrefix),
	}
}

// wrap adds op to err and marks it domain.ErrUnavailable unless Redis itself answered
// with an error about the request: a lost connection or a busy server is retried until
// Redis is back, a bug is not hidden that way.
func wrap(op string, err error) error {
	var reply redis.Error
	if errors.As(err, &reply) && !busyReply(reply.Error()) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return domain.Unavailable(op, err)
}

// busyReply reports the error replies of a server that cannot serve now but will.
func busyReply(msg string) bool {
	for _, prefix := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}
