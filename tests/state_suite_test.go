package tests

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHandlerState_memory(t *testing.T)    { t.Parallel(); runStateSuite(t, memoryBackend()) }
func TestHandlerState_miniredis(t *testing.T) { t.Parallel(); runStateSuite(t, miniredisBackend()) }
func TestHandlerState_redis(t *testing.T)     { t.Parallel(); runStateSuite(t, redisBackend()) }

// runStateSuite is the contract of a handler's own state (app.State) on every backend.
func runStateSuite(t *testing.T, b backend) {
	ctx := context.Background()

	t.Run("put once keeps the first value", func(t *testing.T) {
		s := b.New(t).State("h")
		held, created, err := s.PutOnce(ctx, "k", []byte("first"), 0)
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, "first", string(held))
		held, created, err = s.PutOnce(ctx, "k", []byte("second"), 0)
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, "first", string(held))
		got, ok, err := s.Get(ctx, "k")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, "first", string(got))
		_, ok, err = s.Get(ctx, "missing")
		require.NoError(t, err)
		assert.False(t, ok)
	})

	t.Run("handlers do not share keys", func(t *testing.T) {
		storage := b.New(t)
		_, _, err := storage.State("a").PutOnce(ctx, "k", []byte("of a"), 0)
		require.NoError(t, err)
		held, created, err := storage.State("b").PutOnce(ctx, "k", []byte("of b"), 0)
		require.NoError(t, err)
		assert.True(t, created, "b has a key space of its own")
		assert.Equal(t, "of b", string(held))
		_, err = storage.State("a").AddOnce(ctx, "set", "m1", time.Now(), time.Hour)
		require.NoError(t, err)
		n, err := storage.State("b").AddOnce(ctx, "set", "m2", time.Now(), time.Hour)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
	})

	t.Run("a value expires after its ttl", func(t *testing.T) {
		s := b.New(t).State("h")
		_, _, err := s.PutOnce(ctx, "k", []byte("v"), 200*time.Millisecond)
		require.NoError(t, err)
		b.Pass(t, 400*time.Millisecond)
		_, ok, err := s.Get(ctx, "k")
		require.NoError(t, err)
		assert.False(t, ok, "expired")
		held, created, err := s.PutOnce(ctx, "k", []byte("again"), 0)
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, "again", string(held))
	})

	t.Run("add once counts each member once within the window", func(t *testing.T) {
		s := b.New(t).State("h")
		t0 := time.Now()
		add := func(member string, at time.Time) int64 {
			n, err := s.AddOnce(ctx, "cust-1", member, at, time.Minute)
			require.NoError(t, err)
			return n
		}
		assert.Equal(t, int64(1), add("ord-1", t0))
		assert.Equal(t, int64(2), add("ord-2", t0.Add(time.Second)))
		assert.Equal(t, int64(2), add("ord-1", t0.Add(2*time.Second)), "a member added again counts once")
		assert.Equal(t, int64(3), add("ord-3", t0.Add(30*time.Second)))
		// At t0 + 61s the window starts at t0 + 1s: ord-1 (added at t0) is forgotten.
		assert.Equal(t, int64(3), add("ord-4", t0.Add(61*time.Second)))
		assert.Equal(t, int64(2), add("ord-5", t0.Add(100*time.Second)), "only ord-4 and ord-5 are within the window")
	})

	t.Run("add once is atomic under concurrency", func(t *testing.T) {
		s := b.New(t).State("h")
		at := time.Now()
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, err := s.AddOnce(ctx, "same", "m", at, time.Hour)
				assert.NoError(t, err)
			}()
			go func() {
				defer wg.Done()
				_, err := s.AddOnce(ctx, "distinct", fmt.Sprint("m", i), at, time.Hour)
				assert.NoError(t, err)
			}()
		}
		wg.Wait()
		n, err := s.AddOnce(ctx, "same", "m", at, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
		n, err = s.AddOnce(ctx, "distinct", "m0", at, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, int64(40), n)
	})

	t.Run("put once is atomic under concurrency", func(t *testing.T) {
		s := b.New(t).State("h")
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := 0
		held := map[string]bool{}
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, c, err := s.PutOnce(ctx, "k", []byte(fmt.Sprint("v", i)), time.Hour)
				assert.NoError(t, err)
				mu.Lock()
				defer mu.Unlock()
				if c {
					created++
				}
				held[string(v)] = true
			}()
		}
		wg.Wait()
		assert.Equal(t, 1, created, "one writer wins")
		assert.Len(t, held, 1, "every caller sees the winner's value")
	})
}
