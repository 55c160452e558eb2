package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/middleware"
)

// DedupKeyPrefix starts every dedup key in Redis.
const DedupKeyPrefix = "orderflow:dedup:"

// doneMark is the value of a key whose message was handled.
const doneMark = "done"

// Each script touches one key, so it runs unchanged on Redis Cluster.
var (
	// claimScript: 1 claimed, 2 done, 0 held by another token. One round trip.
	claimScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == '` + doneMark + `' then return 2 end
return 0`)
	// commitScript: 1 when the token still held the key and it is now done.
	commitScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], '` + doneMark + `', 'PX', ARGV[2])
  return 1
end
return 0`)
	// releaseScript deletes the key only if the token still holds it.
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

// Claims is a middleware.ClaimStore in Redis: claim and commit are one round trip each.
type Claims struct {
	client redis.UniversalClient
}

// NewClaims returns a store on client.
func NewClaims(client redis.UniversalClient) *Claims {
	return &Claims{client: client}
}

// Claim implements middleware.ClaimStore.
func (r *Claims) Claim(ctx context.Context, key, token string, lease time.Duration) (middleware.ClaimResult, error) {
	n, err := claimScript.Run(ctx, r.client, []string{DedupKeyPrefix + key}, token, lease.Milliseconds()).Int()
	if err != nil {
		return 0, fmt.Errorf("claim %s: %w", key, err)
	}
	switch n {
	case 1:
		return middleware.Claimed, nil
	case 2:
		return middleware.Done, nil
	}
	return middleware.InFlight, nil
}

// Commit implements middleware.ClaimStore.
func (r *Claims) Commit(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	n, err := commitScript.Run(ctx, r.client, []string{DedupKeyPrefix + key}, token, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("commit %s: %w", key, err)
	}
	return n == 1, nil
}

// Release implements middleware.ClaimStore.
func (r *Claims) Release(ctx context.Context, key, token string) error {
	if err := releaseScript.Run(ctx, r.client, []string{DedupKeyPrefix + key}, token).Err(); err != nil {
		return fmt.Errorf("release %s: %w", key, err)
	}
	return nil
}
