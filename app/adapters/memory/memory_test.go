package memory

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app"
)

// TestIdempotencyKeys_memory_is_bounded_by_live_keys: keys that expired are dropped, so a
// flood of one-off keys does not grow the store for ever.
func TestIdempotencyKeys_memory_is_bounded_by_live_keys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := NewIdempotencyKeys()
	s.now = func() time.Time { return now }
	for i := range 1000 {
		key := "k" + strconv.Itoa(i)
		state, _, err := s.Begin(ctx, key, time.Second)
		require.NoError(t, err)
		require.Equal(t, app.KeyClaimed, state)
		require.NoError(t, s.Complete(ctx, key, "ord-"+key, time.Hour))
	}
	assert.Equal(t, 1000, s.Len())

	now = now.Add(time.Hour + time.Minute)
	state, _, err := s.Begin(ctx, "fresh", time.Second)
	require.NoError(t, err)
	assert.Equal(t, app.KeyClaimed, state)
	assert.Equal(t, 1, s.Len(), "the 1000 expired keys are gone; the fresh claim stays")

	state, answer, err := s.Begin(ctx, "k1", time.Second)
	require.NoError(t, err)
	assert.Equal(t, app.KeyClaimed, state, "an expired key is claimable again")
	assert.Empty(t, answer)
}
