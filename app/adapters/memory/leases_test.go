package memory

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/lease"
)

// TestLeases_memory_is_bounded_by_live_keys: keys that expired are dropped, so a flood of
// one-off Idempotency-Keys or message ids does not grow the store for ever.
func TestLeases_memory_is_bounded_by_live_keys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := NewLeases()
	s.now = func() time.Time { return now }
	for i := range 1000 {
		key := "k" + strconv.Itoa(i)
		state, _, err := s.Claim(ctx, key, "t", time.Second)
		require.NoError(t, err)
		require.Equal(t, lease.Claimed, state)
		ok, err := s.Commit(ctx, key, "t", "ord-"+key, time.Hour)
		require.NoError(t, err)
		require.True(t, ok)
	}
	assert.Equal(t, 1000, s.Len())

	now = now.Add(time.Hour + time.Minute)
	state, _, err := s.Claim(ctx, "fresh", "t", time.Second)
	require.NoError(t, err)
	assert.Equal(t, lease.Claimed, state)
	assert.Equal(t, 1, s.Len(), "the 1000 expired keys are gone; the fresh claim stays")

	state, answer, err := s.Claim(ctx, "k1", "t", time.Second)
	require.NoError(t, err)
	assert.Equal(t, lease.Claimed, state, "an expired key is claimable again")
	assert.Empty(t, answer)
}
