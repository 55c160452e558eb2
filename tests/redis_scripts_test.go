package tests

import (
	"context"
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/redisstore"
	"github.com/orderflow/orderflow/domain/inventory"
)

// TestRedis_inventory_scripts_check_before_they_write: a release whose available count
// would overflow fails before it writes anything, on a real Redis (which does not roll a
// script back): reserved, available and the reservation are as they were, and the
// release succeeds once the count is sane again.
func TestRedis_inventory_scripts_check_before_they_write(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := RedisClient(t)
	store := redisstore.New(client).Inventory
	require.NoError(t, store.Seed(ctx, map[inventory.SKU]int64{"SKU-BIG": 10}))
	outcome, err := store.Reserve(ctx, "ord-1", []inventory.Item{{SKU: "SKU-BIG", Quantity: 7}})
	require.NoError(t, err)
	require.True(t, outcome.Reserved)

	// Written behind the API's back, which refuses anything above 1,000,000,000.
	require.NoError(t, client.HSet(ctx, "orderflow:{inventory}:available", "SKU-BIG", strconv.FormatInt(math.MaxInt64, 10)).Err())
	err = store.Release(ctx, "ord-1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "available count of SKU-BIG would overflow")

	st, err := store.Stock(ctx, "SKU-BIG")
	require.NoError(t, err)
	assert.Equal(t, int64(math.MaxInt64), st.Available, "available untouched")
	assert.Equal(t, int64(7), st.Reserved, "reserved untouched: the script failed before its first write")

	require.NoError(t, store.SetAvailable(ctx, "SKU-BIG", 3))
	require.NoError(t, store.Release(ctx, "ord-1"), "the reservation is still held, so it can be released")
	st, err = store.Stock(ctx, "SKU-BIG")
	require.NoError(t, err)
	assert.Equal(t, inventory.Stock{SKU: "SKU-BIG", Available: 10, Reserved: 0}, st)
}
