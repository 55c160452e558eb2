package worker

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/adapters/memory"
	"github.com/orderflow/orderflow/app/adapters/redisstore"
	"github.com/orderflow/orderflow/app/lease"
	"github.com/orderflow/orderflow/configs"
)

// Storage is the stores, the dedup marks, each handler's own state, and how to tell
// whether they answer.
type Storage struct {
	Stores app.Stores
	// Dedup keeps each handler's marks of the messages it handled.
	Dedup lease.Store
	// Inbox is true when the stores and State run a handler's deferred claims on Dedup's
	// marks (app/inbox), so that handlers built WithInbox get Dedup.Defer.
	Inbox bool
	// State returns the key space of the handler named.
	State func(handler string) app.State
	Check func(ctx context.Context) error
}

// ProvideStorage opens the stores that cfg names.
func ProvideStorage(cfg *configs.Config, logger *slog.Logger) (Storage, func(), error) {
	switch cfg.Store {
	case configs.StoreMemory:
		return NewMemoryStorage(), func() {}, nil
	case configs.StoreRedis:
		return NewRedisStorage(cfg, logger)
	}
	return Storage{}, nil, fmt.Errorf("store %q is not supported", cfg.Store)
}

// redisConnectTimeout bounds the first connection at start-up.
const redisConnectTimeout = 10 * time.Second

// NewRedisStorage connects to the Redis of cfg; logger warns when TLS does not verify
// the server.
func NewRedisStorage(cfg *configs.Config, logger *slog.Logger) (Storage, func(), error) {
	where := "store redis at " + configs.Redact(cfg.Redis.URL)
	tlsConfig, err := clientTLS("redis", func() (*tls.Config, error) { return cfg.Redis.TLS.ClientConfig(cfg.Redis.URL) }, cfg.Redis.URL, logger)
	if err != nil {
		return Storage{}, nil, fmt.Errorf("%s: %w", where, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisConnectTimeout)
	defer cancel()
	client, err := redisstore.Open(ctx, cfg.Redis.Mode, cfg.Redis.URL, tlsConfig, cfg.Redis.ReplicaAcks)
	if err != nil {
		return Storage{}, nil, fmt.Errorf("%s: %w", where, err)
	}
	return RedisStorage(client), func() { _ = client.Close() }, nil
}

// RedisStorage returns the stores on client.
func RedisStorage(client redis.UniversalClient) Storage {
	s := redisstore.New(client)
	return Storage{
		Stores: app.Stores{
			Orders:          s.Orders,
			Inventory:       s.Inventory,
			Payments:        s.Payments,
			Notifications:   s.Notifications,
			IdempotencyKeys: s.IdempotencyKeys,
		},
		Dedup: s.Dedup,
		Inbox: true,
		State: func(handler string) app.State { return redisstore.NewState(client, handler) },
		Check: func(ctx context.Context) error {
			if err := client.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("redis: %w", err)
			}
			return nil
		},
	}
}

// NewMemoryStorage returns empty in-memory stores, which run deferred claims on the
// dedup marks as the Redis ones do.
func NewMemoryStorage() Storage {
	marks := memory.NewLeases()
	orders, inventory, payments, notifications, states := memory.NewOrders(), memory.NewInventory(), memory.NewPayments(), memory.NewNotifications(), memory.NewStates()
	for _, s := range []interface{ ClaimOn(*memory.Leases) }{orders, inventory, payments, notifications, states} {
		s.ClaimOn(marks)
	}
	return Storage{
		Stores: app.Stores{
			Orders:          orders,
			Inventory:       inventory,
			Payments:        payments,
			Notifications:   notifications,
			IdempotencyKeys: memory.NewLeases(),
		},
		Dedup: marks,
		Inbox: true,
		State: states.For,
		Check: func(context.Context) error { return nil },
	}
}
