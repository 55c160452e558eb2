package tests

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/adapters/redisstore"
	"github.com/orderflow/orderflow/app/inbox"
	"github.com/orderflow/orderflow/app/lease"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/inventory"
	"github.com/orderflow/orderflow/domain/order"
)

// The deferred claims of app/inbox, on every backend: the stores run a message's claim
// with their first operation and commit its mark with its last write, as the Dedup
// middleware expects of them when a handler is built WithInbox.

func TestInbox_memory(t *testing.T)    { t.Parallel(); runInboxSuite(t, memoryBackend()) }
func TestInbox_miniredis(t *testing.T) { t.Parallel(); runInboxSuite(t, miniredisBackend()) }
func TestInbox_redis(t *testing.T)     { t.Parallel(); runInboxSuite(t, redisBackend()) }

// inboxRig is one backend's stores, the use cases on them, and a message to handle.
type inboxRig struct {
	storage worker.Storage
	app     *app.Application
	key     string // the message's dedup key
	placed  event.OrderPlaced
}

func newInboxRig(t *testing.T, b backend) inboxRig {
	t.Helper()
	storage := b.New(t)
	require.True(t, storage.Inbox, "the stores run deferred claims")
	sku := "SKU-" + uuid.NewString()[:8]
	require.NoError(t, storage.Stores.Inventory.Seed(context.Background(), map[inventory.SKU]int64{inventory.SKU(sku): 10}))
	id := "ord-" + uuid.NewString()
	return inboxRig{
		storage: storage,
		app:     app.New(storage.Stores, nil, nil, time.Now, nil, nil),
		key:     "inventory-reserve:" + uuid.NewString(),
		placed: event.OrderPlaced{
			OrderID: id, CustomerID: "cust-1", Currency: "USD", PlacedAt: time.Now().UTC().Format(time.RFC3339),
			Items:      []event.Item{{SKU: sku, Quantity: 3, UnitPriceCents: 100}},
			TotalCents: 300,
		},
	}
}

// attempt returns a context with a pending claim of the rig's message, as Dedup leaves it.
func (r inboxRig) attempt(lease time.Duration) (context.Context, *inbox.Claim) {
	c := &inbox.Claim{Key: r.key, Token: uuid.NewString(), Lease: lease, TTL: time.Hour}
	return inbox.With(context.Background(), c), c
}

func (r inboxRig) stock(t *testing.T) inventory.Stock {
	t.Helper()
	st, err := r.storage.Stores.Inventory.Stock(context.Background(), inventory.SKU(r.placed.Items[0].SKU))
	require.NoError(t, err)
	return st
}

func runInboxSuite(t *testing.T, b backend) {
	// Not parallel: miniredis's Pass fast-forwards the server of the latest New.
	t.Run("the last write commits the mark with the event it owes", func(t *testing.T) {
		r := newInboxRig(t, b)
		ctx, first := r.attempt(time.Minute)
		published, err := r.app.ReserveStock.Handle(ctx, r.placed)
		require.NoError(t, err)
		assert.Equal(t, inbox.Committed, first.State(), "folded: no commit is left to the middleware")

		ctx, again := r.attempt(time.Minute)
		_, err = r.app.ReserveStock.Handle(ctx, r.placed)
		require.ErrorIs(t, err, inbox.ErrDone, "the first read found the mark done")
		assert.Equal(t, inbox.Done, again.State())
		owed, err := inbox.Owed(again.Found())
		require.NoError(t, err)
		require.NotNil(t, owed)
		assert.Equal(t, published.EventName(), owed.EventName())
		want, _ := json.Marshal(published)
		got, _ := json.Marshal(owed)
		assert.JSONEq(t, string(want), string(got), "the mark owes what the first attempt published")
		assert.Equal(t, int64(7), r.stock(t).Available, "reserved once")
	})

	t.Run("a claim held by another attempt stops the first read", func(t *testing.T) {
		r := newInboxRig(t, b)
		ctx, holder := r.attempt(time.Minute)
		_, err := r.storage.Stores.Orders.Get(ctx, order.ID(r.placed.OrderID))
		require.ErrorIs(t, err, order.ErrNotFound, "claimed, and the order is not there yet")
		require.Equal(t, inbox.Claimed, holder.State())

		dupCtx, dup := r.attempt(time.Minute)
		published, err := r.app.ReserveStock.Handle(dupCtx, r.placed)
		require.ErrorIs(t, err, inbox.ErrHeld)
		assert.Nil(t, published)
		assert.Equal(t, inbox.Held, dup.State())

		// The duplicate reserved alongside its first read, as the holder does: one
		// reservation per order, whoever makes it.
		published, err = r.app.ReserveStock.Handle(ctx, r.placed)
		require.NoError(t, err)
		assert.Equal(t, event.InventoryReservedName, published.EventName())
		assert.Equal(t, inbox.Committed, holder.State())
		assert.Equal(t, int64(7), r.stock(t).Available, "reserved once")
		assert.Equal(t, int64(3), r.stock(t).Reserved)
	})

	t.Run("a duplicate of an ended order whose reservation expired gives the stock back", func(t *testing.T) {
		r := newInboxRig(t, b)
		ended, err := order.New(mustPlaced(t, r.placed), time.Now())
		require.NoError(t, err)
		require.NoError(t, ended.Cancel(order.OutOfStock, time.Now()))
		_, err = r.storage.Stores.Orders.Add(context.Background(), ended)
		require.NoError(t, err)

		ctx, late := r.attempt(time.Minute)
		published, err := r.app.ReserveStock.Handle(ctx, r.placed)
		require.NoError(t, err)
		assert.Nil(t, published, "an ended order publishes nothing")
		assert.Equal(t, inbox.Claimed, late.State(), "the middleware commits the mark")
		assert.Equal(t, int64(10), r.stock(t).Available, "what the duplicate reserved is given back")
		assert.Zero(t, r.stock(t).Reserved)
	})

	t.Run("a crash between effect and mark handles the message again without a second effect", func(t *testing.T) {
		r := newInboxRig(t, b)
		ctx, crashed := r.attempt(100 * time.Millisecond)
		pending, err := order.New(mustPlaced(t, r.placed), time.Now())
		require.NoError(t, err)
		_, err = r.storage.Stores.Orders.Add(ctx, pending)
		require.NoError(t, err)
		_, err = r.storage.Stores.Inventory.Reserve(ctx, r.placed.OrderID, mustPlaced(t, r.placed).Items())
		require.NoError(t, err)
		require.Equal(t, inbox.Claimed, crashed.State(), "the worker dies here: effect done, no mark")
		o, err := r.storage.Stores.Orders.Get(context.Background(), order.ID(r.placed.OrderID))
		require.NoError(t, err)
		assert.Equal(t, order.Pending, o.Status(), "recorded on arrival")
		b.Pass(t, 200*time.Millisecond) // the lease ends

		ctx, redelivery := r.attempt(time.Minute)
		published, err := r.app.ReserveStock.Handle(ctx, r.placed)
		require.NoError(t, err)
		assert.Equal(t, event.InventoryReservedName, published.EventName())
		assert.Equal(t, inbox.Committed, redelivery.State())
		assert.Equal(t, int64(7), r.stock(t).Available, "reserved once")
		assert.Equal(t, int64(3), r.stock(t).Reserved)
		o, err = r.storage.Stores.Orders.Get(context.Background(), order.ID(r.placed.OrderID))
		require.NoError(t, err)
		assert.Equal(t, order.Reserved, o.Status())
	})

	t.Run("an order is pending from its arrival, before its stock is reserved", func(t *testing.T) {
		r := newInboxRig(t, b)
		stores := r.storage.Stores
		stores.Inventory = unreachableStock{stores.Inventory}
		failing := app.New(stores, nil, nil, time.Now, nil, nil)
		ctx, c := r.attempt(time.Minute)
		_, err := failing.ReserveStock.Handle(ctx, r.placed)
		require.ErrorIs(t, err, errStockUnreachable)
		o, err := r.storage.Stores.Orders.Get(context.Background(), order.ID(r.placed.OrderID))
		require.NoError(t, err)
		assert.Equal(t, order.Pending, o.Status(), "recorded before the reservation failed")
		require.Equal(t, inbox.Claimed, c.State())
		require.NoError(t, r.storage.Dedup.Release(context.Background(), c.StoredKey(), c.Token), "as Dedup does after a failure")

		ctx, retry := r.attempt(time.Minute)
		published, err := r.app.ReserveStock.Handle(ctx, r.placed)
		require.NoError(t, err)
		assert.Equal(t, event.InventoryReservedName, published.EventName())
		assert.Equal(t, inbox.Committed, retry.State(), "the write to reserved carries the mark")
		o, err = r.storage.Stores.Orders.Get(context.Background(), order.ID(r.placed.OrderID))
		require.NoError(t, err)
		assert.Equal(t, order.Reserved, o.Status())
		assert.Equal(t, int64(3), r.stock(t).Reserved)
	})

	t.Run("a write that is not the last leaves the commit to the middleware", func(t *testing.T) {
		r := newInboxRig(t, b)
		ctx, c := r.attempt(time.Minute)
		o, err := order.New(mustPlaced(t, r.placed), time.Now())
		require.NoError(t, err)
		_, err = r.storage.Stores.Orders.Add(ctx, o)
		require.NoError(t, err)
		assert.Equal(t, inbox.Claimed, c.State(), "claimed before the write, not committed by it")
		committed, err := r.storage.Dedup.Commit(context.Background(), c.StoredKey(), c.Token, "", time.Hour)
		require.NoError(t, err)
		assert.True(t, committed, "the middleware commits under the key the store claimed")
		state, _, err := r.storage.Dedup.Claim(context.Background(), c.StoredKey(), uuid.NewString(), time.Minute)
		require.NoError(t, err)
		assert.Equal(t, lease.Done, state)
	})
}

var errStockUnreachable = errors.New("stock unreachable")

// unreachableStock fails every reservation, as a store that is down would.
type unreachableStock struct{ inventory.Repository }

func (unreachableStock) Reserve(context.Context, string, []inventory.Item) (inventory.Outcome, error) {
	return inventory.Outcome{}, errStockUnreachable
}

func mustPlaced(t *testing.T, e event.OrderPlaced) order.Placed {
	t.Helper()
	placed, err := e.Validate()
	require.NoError(t, err)
	return placed
}

// TestInbox_redis_reads_marks_written_before_the_inbox: marks at the old key (no hash
// tag) still decide for a deferred claim, so upgrading neither re-runs a day of handled
// messages nor runs one that a worker not yet upgraded holds.
func TestInbox_redis_reads_marks_written_before_the_inbox(t *testing.T) {
	t.Parallel()
	client := RedisClient(t)
	stores := redisstore.New(client)
	for _, tt := range []struct {
		Name  string
		Old   string
		Want  error
		State inbox.State
	}{
		{Name: "done", Old: "done", Want: inbox.ErrDone, State: inbox.Done},
		{Name: "held", Old: uuid.NewString(), Want: inbox.ErrHeld, State: inbox.Held},
	} {
		t.Run(tt.Name, func(t *testing.T) {
			ctx := context.Background()
			key := "order-confirm:" + uuid.NewString()
			require.NoError(t, client.Set(ctx, redisstore.DedupKeyPrefix+key, tt.Old, time.Hour).Err())
			c := &inbox.Claim{Key: key, Token: uuid.NewString(), Lease: time.Minute, TTL: time.Hour}
			id := "ord-" + uuid.NewString()
			_, err := stores.Orders.Get(inbox.With(ctx, c), order.ID(id))
			require.ErrorIs(t, err, tt.Want)
			assert.Equal(t, tt.State, c.State())
			n, err := client.Exists(ctx, redisstore.DedupKeyPrefix+"{"+id+"}:"+key).Result()
			require.NoError(t, err)
			assert.Zero(t, n, "the new claim was given back")
		})
	}
}
