package tests

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/memory"
	"github.com/orderflow/orderflow/app/adapters/redisstore"
	"github.com/orderflow/orderflow/app/lease"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/middleware"
)

// dedupRig runs one handler behind poison → retry → dedup on GoChannel and records its
// effects per message id.
type dedupRig struct {
	pubsub   *gochannel.GoChannel
	poisoned atomic.Int64

	mu      sync.Mutex
	calls   map[string]int
	effects map[string]int
}

// dedupDefaults is Dedup as the default configuration sets it.
func dedupDefaults() middleware.Dedup {
	d := configs.Default().Dedup
	return middleware.Dedup{Lease: d.Lease, TTL: d.TTL}
}

func withLease(d middleware.Dedup, lease time.Duration) middleware.Dedup {
	d.Lease = lease
	return d
}

func failOpen(d middleware.Dedup) middleware.Dedup {
	d.FailOpen = true
	return d
}

// redisDedup is the dedup lease store on client, as the worker builds it.
func redisDedup(client redis.UniversalClient) lease.Store {
	return redisstore.New(client).Dedup
}

func newDedupRig(t *testing.T, claims lease.Store, dedup middleware.Dedup, handle func(msg *message.Message, call int) error) *dedupRig {
	t.Helper()
	r := &dedupRig{pubsub: gochannel.NewGoChannel(gochannel.Config{}, nil), calls: map[string]int{}, effects: map[string]int{}}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 5 * time.Second}, nil)
	require.NoError(t, err)
	dedup.Store = claims
	dedup.Logger = Logger()
	router.AddConsumerHandler("h", "in", r.pubsub, func(msg *message.Message) error {
		r.mu.Lock()
		r.calls[msg.UUID]++
		call := r.calls[msg.UUID]
		r.mu.Unlock()
		if err := handle(msg, call); err != nil {
			return err
		}
		r.mu.Lock()
		r.effects[msg.UUID]++
		r.mu.Unlock()
		return nil
	}).AddMiddleware(
		middleware.Poison{Publisher: r.pubsub, Topic: "poison", Logger: Logger(), OnPoisoned: func(string) { r.poisoned.Add(1) }}.Middleware,
		middleware.Retry{MaxAttempts: 20, InitialInterval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond, MaxElapsed: 2 * time.Second}.Middleware,
		dedup.Middleware,
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = router.Run(ctx); close(done) }()
	<-router.Running()
	t.Cleanup(func() { cancel(); <-done; _ = r.pubsub.Close() })
	return r
}

func (r *dedupRig) publish(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		require.NoError(t, r.pubsub.Publish("in", message.NewMessage(id, nil)))
	}
}

func (r *dedupRig) counts(id string) (calls, effects int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id], r.effects[id]
}

func (r *dedupRig) waitEffects(t *testing.T, ids ...string) {
	t.Helper()
	Eventually(t, 10*time.Second, func() string {
		for _, id := range ids {
			if _, effects := r.counts(id); effects == 0 {
				return id + " not handled yet"
			}
		}
		return ""
	})
}

// countingClaims counts the claims that found the message in flight.
type countingClaims struct {
	lease.Store
	inFlight atomic.Int64
}

func (c *countingClaims) Claim(ctx context.Context, key, token string, ttl time.Duration) (lease.State, string, error) {
	state, value, err := c.Store.Claim(ctx, key, token, ttl)
	if state == lease.Held {
		c.inFlight.Add(1)
	}
	return state, value, err
}

func TestDedup_memory(t *testing.T) {
	t.Parallel()
	runDedupSuite(t, func(*testing.T) lease.Store { return memory.NewLeases() })
}

func TestDedup_redis(t *testing.T) {
	t.Parallel()
	runDedupSuite(t, func(t *testing.T) lease.Store { return redisDedup(RedisClient(t)) })
}

func runDedupSuite(t *testing.T, newClaims func(*testing.T) lease.Store) {
	t.Run("same id twice has one effect", func(t *testing.T) {
		t.Parallel()
		r := newDedupRig(t, newClaims(t), dedupDefaults(), func(*message.Message, int) error { return nil })
		r.publish(t, "m1")
		r.waitEffects(t, "m1")
		r.publish(t, "m1", "m2")
		r.waitEffects(t, "m2")
		Eventually(t, 5*time.Second, func() string {
			if calls, _ := r.counts("m1"); calls != 1 {
				return fmt.Sprintf("m1 called %d times", calls)
			}
			return ""
		})
		_, effects := r.counts("m1")
		assert.Equal(t, 1, effects)
	})

	t.Run("a failure then a redelivery is processed", func(t *testing.T) {
		t.Parallel()
		r := newDedupRig(t, newClaims(t), dedupDefaults(), func(_ *message.Message, call int) error {
			if call == 1 {
				return errors.New("provider timed out")
			}
			return nil
		})
		r.publish(t, "m1")
		r.waitEffects(t, "m1")
		calls, effects := r.counts("m1")
		assert.Equal(t, 2, calls, "the failed attempt's claim was released, so the retry ran")
		assert.Equal(t, 1, effects)
		assert.Zero(t, r.poisoned.Load())
	})

	t.Run("a message that fails for good twice is poisoned once", func(t *testing.T) {
		t.Parallel()
		r := newDedupRig(t, newClaims(t), dedupDefaults(), func(*message.Message, int) error {
			return domain.Rulef("items[0].quantity must be 1..1000")
		})
		r.publish(t, "m1", "m1")
		Eventually(t, 5*time.Second, func() string {
			if r.poisoned.Load() == 0 {
				return "not poisoned yet"
			}
			return ""
		})
		time.Sleep(200 * time.Millisecond) // past the duplicate's retries
		calls, _ := r.counts("m1")
		assert.Equal(t, 1, calls, "the copy found the poisoned message done")
		assert.Equal(t, int64(1), r.poisoned.Load())
	})

	t.Run("a duplicate during a slow first run is retried, then skipped as done", func(t *testing.T) {
		t.Parallel()
		claims := &countingClaims{Store: newClaims(t)}
		release := make(chan struct{})
		r := newDedupRig(t, claims, dedupDefaults(), func(_ *message.Message, call int) error {
			if call == 1 {
				<-release
			}
			return nil
		})
		r.publish(t, "m1", "m1")
		Eventually(t, 5*time.Second, func() string {
			if claims.inFlight.Load() < 2 {
				return "the duplicate has not met the original in flight twice yet"
			}
			return ""
		})
		close(release)
		r.waitEffects(t, "m1")
		time.Sleep(300 * time.Millisecond) // past the duplicate's next retry
		calls, effects := r.counts("m1")
		assert.Equal(t, 1, calls, "the duplicate never ran the handler")
		assert.Equal(t, 1, effects)
		assert.Zero(t, r.poisoned.Load(), "a duplicate in flight is not poisoned")
	})
}

func TestDedup_redis_down_fails_closed_and_resumes(t *testing.T) {
	t.Parallel()
	server := StartRedis(t)
	client := redis.NewClient(&redis.Options{Addr: server.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	r := newDedupRig(t, redisDedup(client), withLease(dedupDefaults(), time.Second), func(*message.Message, int) error { return nil })

	r.publish(t, "before")
	r.waitEffects(t, "before")

	server.Stop(t)
	r.publish(t, "during-1", "during-2", "during-3")
	time.Sleep(500 * time.Millisecond)
	for _, id := range []string{"during-1", "during-2", "during-3"} {
		calls, _ := r.counts(id)
		assert.Zero(t, calls, "fail closed: %s is not handled while Redis is down", id)
	}

	server.Start(t)
	r.waitEffects(t, "during-1", "during-2", "during-3")
	assert.Zero(t, r.poisoned.Load(), "nothing is poisoned for an outage")
	r.publish(t, "before")
	time.Sleep(200 * time.Millisecond)
	calls, _ := r.counts("before")
	assert.Equal(t, 1, calls, "the done mark survived the restart")
}

func TestDedup_redis_down_fail_open_handles_anyway(t *testing.T) {
	t.Parallel()
	server := StartRedis(t)
	client := redis.NewClient(&redis.Options{Addr: server.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	r := newDedupRig(t, redisDedup(client), failOpen(dedupDefaults()), func(*message.Message, int) error { return nil })
	server.Stop(t)
	r.publish(t, "m1")
	r.waitEffects(t, "m1")
}

// TestDedup_redis_reads_marks_written_before_leases: a mark from before the lease store
// ("done", no value) still drops the duplicate, so upgrading does not re-run a day of
// handled messages.
func TestDedup_redis_reads_marks_written_before_leases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := RedisClient(t)
	require.NoError(t, client.Set(ctx, redisstore.DedupKeyPrefix+"inventory-reserve:m1", "done", time.Hour).Err())
	state, value, err := redisDedup(client).Claim(ctx, "inventory-reserve:m1", uuid.NewString(), time.Minute)
	require.NoError(t, err)
	assert.Equal(t, lease.Done, state)
	assert.Empty(t, value)
}
