package tests

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/lease"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/domain/inventory"
	"github.com/orderflow/orderflow/domain/money"
	"github.com/orderflow/orderflow/domain/notification"
	"github.com/orderflow/orderflow/domain/order"
	"github.com/orderflow/orderflow/domain/payment"
)

// backend is one implementation of every store.
type backend struct {
	Name string
	// New returns empty stores.
	New func(t *testing.T) worker.Storage
	// Pass lets d go by for the stores' clocks.
	Pass func(t *testing.T, d time.Duration)
}

func sleep(_ *testing.T, d time.Duration) { time.Sleep(d) }

func memoryBackend() backend {
	return backend{Name: "memory", New: func(*testing.T) worker.Storage { return worker.NewMemoryStorage() }, Pass: sleep}
}

// miniredisBackend runs the Redis stores on miniredis: fast, but not the real server, so
// every behaviour is also checked on redisBackend.
func miniredisBackend() backend {
	var m *miniredis.Miniredis
	return backend{
		Name: "miniredis",
		New: func(t *testing.T) worker.Storage {
			m = miniredis.RunT(t)
			client := redis.NewClient(&redis.Options{Addr: m.Addr()})
			t.Cleanup(func() { _ = client.Close() })
			return worker.RedisStorage(client)
		},
		Pass: func(_ *testing.T, d time.Duration) { m.FastForward(d) },
	}
}

func redisBackend() backend {
	return backend{Name: "redis", New: func(t *testing.T) worker.Storage { return worker.RedisStorage(RedisClient(t)) }, Pass: sleep}
}

func TestStores_memory(t *testing.T)    { t.Parallel(); runStoreSuite(t, memoryBackend()) }
func TestStores_miniredis(t *testing.T) { t.Parallel(); runStoreSuite(t, miniredisBackend()) }
func TestStores_redis(t *testing.T)     { t.Parallel(); runStoreSuite(t, redisBackend()) }

// runStoreSuite is the contract every store implementation keeps.
func runStoreSuite(t *testing.T, b backend) {
	ctx := context.Background()
	usd, _ := money.ParseCurrency("USD")
	newOrder := func(t *testing.T, id string) *order.Order {
		o, err := order.New(order.Placed{ID: order.ID(id), CustomerID: "cust-1", Total: 500, Currency: usd, PlacedAt: time.Now()}, time.Now())
		require.NoError(t, err)
		return o
	}

	t.Run("orders add get update", func(t *testing.T) {
		s := b.New(t).Stores
		_, err := s.Orders.Get(ctx, "ord-x")
		assert.ErrorIs(t, err, order.ErrNotFound)

		added, err := s.Orders.Add(ctx, newOrder(t, "ord-1"))
		require.NoError(t, err)
		assert.Equal(t, order.Pending, added.Status())

		updated, err := s.Orders.Update(ctx, "ord-1", func(o *order.Order) error { return o.MarkReserved(time.Now()) })
		require.NoError(t, err)
		assert.Equal(t, order.Reserved, updated.Status())

		again, err := s.Orders.Add(ctx, newOrder(t, "ord-1"))
		require.NoError(t, err)
		assert.Equal(t, order.Reserved, again.Status(), "Add keeps the stored order")

		_, err = s.Orders.Update(ctx, "ord-1", func(o *order.Order) error { return o.Confirm(time.Now()) })
		var te *order.TransitionError
		require.ErrorAs(t, err, &te, "the change's error comes back as it is")
		got, err := s.Orders.Get(ctx, "ord-1")
		require.NoError(t, err)
		assert.Equal(t, order.Reserved, got.Status(), "a failed change stores nothing")
		assert.Equal(t, updated.Snapshot(), got.Snapshot(), "the snapshot round-trips")

		_, err = s.Orders.Update(ctx, "ord-x", func(*order.Order) error { return nil })
		assert.ErrorIs(t, err, order.ErrNotFound)
	})

	t.Run("orders concurrent updates lose nothing", func(t *testing.T) {
		s := b.New(t).Stores
		_, err := s.Orders.Add(ctx, newOrder(t, "ord-1"))
		require.NoError(t, err)
		var wg sync.WaitGroup
		results := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Orders.Update(ctx, "ord-1", func(o *order.Order) error {
					if i%2 == 0 {
						return o.MarkReserved(time.Now())
					}
					return o.Cancel(order.OutOfStock, time.Now())
				})
				results <- err
			}()
		}
		wg.Wait()
		close(results)
		got, err := s.Orders.Get(ctx, "ord-1")
		require.NoError(t, err)
		assert.Equal(t, order.Cancelled, got.Status(), "every cancel succeeds or is a repeat; the order ends cancelled")
		for err := range results {
			if err != nil {
				var te *order.TransitionError
				assert.ErrorAs(t, err, &te, "only a reserve after the cancel may fail")
			}
		}
	})

	t.Run("inventory reserve all or none, once per order", func(t *testing.T) {
		s := b.New(t).Stores
		require.NoError(t, s.Inventory.Seed(ctx, map[inventory.SKU]int64{"A": 10, "B": 3}))
		require.NoError(t, s.Inventory.Seed(ctx, map[inventory.SKU]int64{"A": 99, "C": 1}))
		assertStockIs(t, s.Inventory, "A", 10, 0)
		assertStockIs(t, s.Inventory, "C", 1, 0)

		out, err := s.Inventory.Reserve(ctx, "o1", []inventory.Item{{SKU: "A", Quantity: 4}, {SKU: "B", Quantity: 2}, {SKU: "A", Quantity: 1}})
		require.NoError(t, err)
		assert.True(t, out.Reserved)
		assertStockIs(t, s.Inventory, "A", 5, 5)
		assertStockIs(t, s.Inventory, "B", 1, 2)

		again, err := s.Inventory.Reserve(ctx, "o1", []inventory.Item{{SKU: "A", Quantity: 4}})
		require.NoError(t, err)
		assert.True(t, again.Reserved)
		assertStockIs(t, s.Inventory, "A", 5, 5)

		short, err := s.Inventory.Reserve(ctx, "o2", []inventory.Item{{SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 1}, {SKU: "B", Quantity: 1}})
		require.NoError(t, err)
		assert.Equal(t, inventory.Outcome{Shortage: inventory.Shortage{SKU: "B", Requested: 2, Available: 1}}, short)
		assertStockIs(t, s.Inventory, "A", 5, 5)

		require.NoError(t, s.Inventory.SetAvailable(ctx, "B", 100))
		still, err := s.Inventory.Reserve(ctx, "o2", []inventory.Item{{SKU: "B", Quantity: 2}})
		require.NoError(t, err)
		assert.False(t, still.Reserved, "a rejected order stays rejected")

		unknown, err := s.Inventory.Reserve(ctx, "o3", []inventory.Item{{SKU: "NOPE", Quantity: 1}})
		require.NoError(t, err)
		assert.Equal(t, inventory.Shortage{SKU: "NOPE", Requested: 1, Available: 0}, unknown.Shortage)
		_, err = s.Inventory.Stock(ctx, "NOPE")
		assert.ErrorIs(t, err, inventory.ErrUnknownSKU)
	})

	t.Run("inventory commit and release once", func(t *testing.T) {
		s := b.New(t).Stores
		require.NoError(t, s.Inventory.Seed(ctx, map[inventory.SKU]int64{"A": 10}))
		for _, id := range []string{"sold", "back"} {
			out, err := s.Inventory.Reserve(ctx, id, []inventory.Item{{SKU: "A", Quantity: 3}})
			require.NoError(t, err)
			require.True(t, out.Reserved)
		}
		assertStockIs(t, s.Inventory, "A", 4, 6)
		require.NoError(t, s.Inventory.Commit(ctx, "sold"))
		require.NoError(t, s.Inventory.Commit(ctx, "sold"))
		require.NoError(t, s.Inventory.Release(ctx, "sold"), "releasing a sale is a no-op")
		assertStockIs(t, s.Inventory, "A", 4, 3)
		require.NoError(t, s.Inventory.Release(ctx, "back"))
		require.NoError(t, s.Inventory.Release(ctx, "back"))
		require.NoError(t, s.Inventory.Commit(ctx, "back"), "committing a release is a no-op")
		assertStockIs(t, s.Inventory, "A", 7, 0)
		require.NoError(t, s.Inventory.Release(ctx, "never-reserved"))
		assertStockIs(t, s.Inventory, "A", 7, 0)
	})

	t.Run("inventory concurrent reservations never oversell", func(t *testing.T) {
		s := b.New(t).Stores
		require.NoError(t, s.Inventory.SetAvailable(ctx, "A", 30))
		var wg sync.WaitGroup
		var mu sync.Mutex
		reserved := 0
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := s.Inventory.Reserve(ctx, fmt.Sprintf("o%d", i), []inventory.Item{{SKU: "A", Quantity: 1}})
				assert.NoError(t, err)
				if out.Reserved {
					mu.Lock()
					reserved++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, 30, reserved)
		assertStockIs(t, s.Inventory, "A", 0, 30)
	})

	t.Run("payments record once", func(t *testing.T) {
		s := b.New(t).Stores
		_, ok, err := s.Payments.Get(ctx, "o1")
		require.NoError(t, err)
		assert.False(t, ok)
		first, err := s.Payments.Record(ctx, "o1", payment.Outcome{Captured: true, PaymentID: "p1"})
		require.NoError(t, err)
		second, err := s.Payments.Record(ctx, "o1", payment.Outcome{FailureReason: "declined"})
		require.NoError(t, err)
		assert.Equal(t, first, second, "the first outcome wins")
		got, ok, err := s.Payments.Get(ctx, "o1")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, payment.Outcome{Captured: true, PaymentID: "p1"}, got)
	})

	t.Run("notifications once per order, oldest first", func(t *testing.T) {
		s := b.New(t).Stores
		empty, err := s.Notifications.ForCustomer(ctx, "nobody")
		require.NoError(t, err)
		assert.NotNil(t, empty)
		assert.Empty(t, empty)
		t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
		for i, id := range []string{"o3", "o1", "o2"} {
			_, err := s.Notifications.Record(ctx, notification.Notification{OrderID: id, CustomerID: "c1", Status: "confirmed", SentAt: t0.Add(time.Duration(3-i) * time.Second)})
			require.NoError(t, err)
		}
		dup, err := s.Notifications.Record(ctx, notification.Notification{OrderID: "o1", CustomerID: "c1", Status: "cancelled", SentAt: t0})
		require.NoError(t, err)
		assert.Equal(t, "confirmed", dup.Status, "the first notification wins")
		list, err := s.Notifications.ForCustomer(ctx, "c1")
		require.NoError(t, err)
		var ids []string
		for _, n := range list {
			ids = append(ids, n.OrderID)
			assert.True(t, n.SentAt.Equal(n.SentAt.UTC()))
		}
		assert.Equal(t, []string{"o2", "o1", "o3"}, ids)
	})

	for name, leases := range map[string]func(worker.Storage) lease.Store{
		"dedup":            func(s worker.Storage) lease.Store { return s.Dedup },
		"idempotency keys": func(s worker.Storage) lease.Store { return s.Stores.IdempotencyKeys },
	} {
		t.Run(name+" leases", func(t *testing.T) {
			runLeaseSuite(t, b, leases(b.New(t)))
		})
	}
}

// runLeaseSuite pins the lease protocol on store; b.Pass lets time pass.
func runLeaseSuite(t *testing.T, b backend, store lease.Store) {
	ctx := context.Background()
	claim := func(key, token string) (lease.State, string) {
		t.Helper()
		state, value, err := store.Claim(ctx, key, token, 200*time.Millisecond)
		require.NoError(t, err)
		return state, value
	}
	state, _ := claim("h:m1", "t1")
	assert.Equal(t, lease.Claimed, state)
	state, holder := claim("h:m1", "t2")
	assert.Equal(t, lease.Held, state)
	assert.Equal(t, "t1", holder, "a held key names its holder")

	ok, err := store.Commit(ctx, "h:m1", "t2", "v", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "only the holder commits")
	require.NoError(t, store.Release(ctx, "h:m1", "t2"))
	state, _ = claim("h:m1", "t3")
	assert.Equal(t, lease.Held, state, "only the holder releases")

	b.Pass(t, 300*time.Millisecond)
	state, _ = claim("h:m1", "t4")
	assert.Equal(t, lease.Claimed, state, "a crashed holder's lease ends")
	ok, err = store.Commit(ctx, "h:m1", "t1", "v", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "the old holder cannot commit after its lease ended")

	ok, err = store.Commit(ctx, "h:m1", "t4", "ord-1", 200*time.Millisecond)
	require.NoError(t, err)
	assert.True(t, ok)
	state, value := claim("h:m1", "t5")
	assert.Equal(t, lease.Done, state)
	assert.Equal(t, "ord-1", value, "a committed value comes back")
	state, _ = claim("other:m1", "t5")
	assert.Equal(t, lease.Claimed, state, "keys are independent")
	b.Pass(t, 300*time.Millisecond)
	state, _ = claim("h:m1", "t6")
	assert.Equal(t, lease.Claimed, state, "committed values expire with their TTL")

	require.NoError(t, store.Release(ctx, "h:m1", "t6"))
	state, _ = claim("h:m1", "t7")
	assert.Equal(t, lease.Claimed, state, "a released key is free")
	ok, err = store.Commit(ctx, "h:m1", "t7", "", time.Minute)
	require.NoError(t, err)
	assert.True(t, ok)
	state, value = claim("h:m1", "t8")
	assert.Equal(t, lease.Done, state)
	assert.Empty(t, value, "an empty value is a plain done mark")

	_, _, err = store.Claim(ctx, "h:m2", "done-ish", time.Minute)
	assert.ErrorIs(t, err, lease.ErrBadToken, "a token that reads like a committed value is refused")
}

func assertStockIs(t *testing.T, repo inventory.Repository, sku inventory.SKU, available, reserved int64) {
	t.Helper()
	st, err := repo.Stock(context.Background(), sku)
	require.NoError(t, err)
	assert.Equal(t, inventory.Stock{SKU: sku, Available: available, Reserved: reserved}, st)
}
