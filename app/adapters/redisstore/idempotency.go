package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app"
)

// IdempotencyKeys keeps the answers to Idempotency-Key headers.
type IdempotencyKeys struct {
	client redis.UniversalClient
}

func idempotencyKey(key string) string { return "orderflow:idempotency:{" + key + "}" }

// pendingMark is the value of a key whose request has not answered yet; answers are
// order ids, which never equal it.
const pendingMark = "\x00pending"

// beginScript claims a key, or returns what it holds: one round trip.
var beginScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])`)

// Begin implements app.IdempotencyKeys.
func (s *IdempotencyKeys) Begin(ctx context.Context, key string, lease time.Duration) (app.KeyState, string, error) {
	held, err := beginScript.Run(ctx, s.client, []string{idempotencyKey(key)}, pendingMark, lease.Milliseconds()).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return app.KeyClaimed, "", nil
	case err != nil:
		return 0, "", wrap("claim idempotency key", err)
	case held == pendingMark:
		return app.KeyPending, "", nil
	}
	return app.KeyDone, held, nil
}

// Complete implements app.IdempotencyKeys.
func (s *IdempotencyKeys) Complete(ctx context.Context, key, answer string, ttl time.Duration) error {
	if err := s.client.Set(ctx, idempotencyKey(key), answer, ttl).Err(); err != nil {
		return wrap("complete idempotency key", err)
	}
	return nil
}

// Forget implements app.IdempotencyKeys.
func (s *IdempotencyKeys) Forget(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, idempotencyKey(key)).Err(); err != nil {
		return wrap("forget idempotency key", err)
	}
	return nil
}
