package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app/lease"
)

// The key spaces kept as leases.
const (
	// DedupKeyPrefix starts every dedup mark.
	DedupKeyPrefix = "orderflow:dedup:"
	// IdempotencyKeyPrefix starts every Idempotency-Key answer.
	IdempotencyKeyPrefix = "orderflow:idem:"
)

// Each script touches one key, so it runs unchanged on Redis Cluster. Values are a
// holder's token or a committed value as lease.Encode writes it.
var (
	// claimScript returns nil when it claimed the key, else what the key holds. The key
	// held by the same token is claimed too: go-redis sends a call again when the
	// connection failed before its reply, and the first run may have claimed it.
	claimScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then return false end
return held`)
	// commitScript: 1 when the token still held the key and the value is now kept, or
	// the key keeps that value already (the same commit, sent again by go-redis).
	commitScript = redis.NewScript(`
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
if held == ARGV[2] then return 1 end
return 0`)
	// releaseScript deletes the key only if the token still holds it.
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

// Leases is a lease.Store in Redis under one key prefix: claim and commit are one round
// trip each, and Redis expires what is no longer live.
type Leases struct {
	client redis.UniversalClient
	prefix string
}

// NewLeases returns a store on client whose keys start with prefix.
func NewLeases(client redis.UniversalClient, prefix string) *Leases {
	return &Leases{client: client, prefix: prefix}
}

// Claim implements lease.Store.
func (r *Leases) Claim(ctx context.Context, key, token string, ttl time.Duration) (lease.State, string, error) {
	if err := lease.CheckToken(token); err != nil {
		return 0, "", err
	}
	stored, err := claimScript.Run(ctx, r.client, []string{r.prefix + key}, token, ttl.Milliseconds()).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return lease.Claimed, "", nil
	case err != nil:
		return 0, "", wrap("claim "+key, err)
	}
	state, value := lease.Decode(stored)
	return state, value, nil
}

// Commit implements lease.Store.
func (r *Leases) Commit(ctx context.Context, key, token, value string, ttl time.Duration) (bool, error) {
	n, err := commitScript.Run(ctx, r.client, []string{r.prefix + key}, token, lease.Encode(value), ttl.Milliseconds()).Int()
	if err != nil {
		return false, wrap("commit "+key, err)
	}
	return n == 1, nil
}

// Release implements lease.Store.
func (r *Leases) Release(ctx context.Context, key, token string) error {
	if err := releaseScript.Run(ctx, r.client, []string{r.prefix + key}, token).Err(); err != nil {
		return wrap("release "+key, err)
	}
	return nil
}
