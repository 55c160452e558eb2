package tests

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

// roundTrips counts what a go-redis client sends for the code under test: one per
// command, one per pipeline or transaction. The handshake of a new pooled connection
// (HELLO, CLIENT SETINFO) is left out: it depends on how many connections the pool opens.
// Each is also counted for the handler whose message's context it ran in ("" outside any).
type roundTrips struct {
	n         atomic.Int64
	mu        sync.Mutex
	byHandler map[string]int64
}

func (r *roundTrips) add(ctx context.Context) {
	r.n.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byHandler == nil {
		r.byHandler = map[string]int64{}
	}
	r.byHandler[message.HandlerNameFromCtx(ctx)]++
}

func (r *roundTrips) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n.Store(0)
	r.byHandler = nil
}

func (r *roundTrips) of(handler string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byHandler[handler]
}

func handshake(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "auth", "select":
		return true
	}
	return false
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			r.add(ctx)
		}
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && !handshake(cmds[0]) {
			r.add(ctx)
		}
		return next(ctx, cmds)
	}
}

var _ redis.Hook = (*roundTrips)(nil)

func TestDedup_redis_costs_two_round_trips_per_message(t *testing.T) {
	t.Parallel()
	client := RedisClient(t)
	counter := &roundTrips{}
	client.AddHook(counter)
	r := newDedupRig(t, redisDedup(client), dedupDefaults(), func(*message.Message, int) error { return nil })
	r.publish(t, "warm-up") // loads the scripts: EVALSHA, NOSCRIPT, EVAL
	r.waitEffects(t, "warm-up")
	time.Sleep(50 * time.Millisecond)
	counter.n.Store(0)

	ids := make([]string, 100)
	for i := range ids {
		ids[i] = "m" + string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	r.publish(t, ids...)
	r.waitEffects(t, ids...)
	Eventually(t, 5*time.Second, func() string {
		if counter.n.Load() < 200 {
			return "commits still under way"
		}
		return ""
	})
	assert.Equal(t, int64(200), counter.n.Load(), "claim + commit: one script call each")
}

// The rig above has no store of its own, so its claim and commit cost a round trip each.
// The handlers of the table are built WithInbox: their stores run the claim with their
// first read or inside their first script, and commit the mark with their last write
// (app/inbox), so dedup costs them nothing of its own in TestRedisStores_round_trips_per_order.

// roundTripsPerOrder is what each handler costs in Redis per confirmed order through it,
// dedup (claim, commit) included; README.md ("Redis") documents it. The claim rides on
// each handler's first read or script and the mark on its last write (app/inbox). A
// handler that is not listed here, and the test's own reads over HTTP (""), are measured
// and logged, not held to a number.
var roundTripsPerOrder = map[string]float64{
	handlers.InventoryReserve: 3, // record the order (+ claim) while reserving, write the order (+ mark): 2 in sequence
	handlers.PaymentCapture:   2, // read the order (+ claim), mark it paid with its payment (+ mark)
	handlers.OrderConfirm:     3, // read the order (+ claim) while committing the stock, confirm (+ mark): 2 in sequence
	handlers.NotificationSend: 1, // claim, record and mark in one script
	handlers.FraudScreen:      2, // count (+ claim), decide (+ mark)
}

// maxRoundTripsPerOrder bounds a confirmed order's Redis round trips in all handlers
// together (issue 11).
const maxRoundTripsPerOrder = 12

func TestRedisStores_round_trips_per_order(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("component test")
	}
	client := RedisClient(t)
	counter := &roundTrips{}
	client.AddHook(counter)
	broker, closeBroker := worker.NewInprocBroker(Logger())
	t.Cleanup(closeBroker)
	w := StartOn(t, TestConfig(), handlers.Table(), broker, worker.NewInprocTransport(broker), worker.RedisStorage(client))
	c := NewClient(w.URL())
	plan := Plan{Stock: map[string]int64{"SAGA-A": 1000}}
	for range 50 {
		plan.Orders = append(plan.Orders, PlannedOrder{CustomerID: "c", Currency: "USD", Items: []event.Item{{SKU: "SAGA-A", Quantity: 1, UnitPriceCents: 100}}})
	}
	plan.SetStock(t, NewClient(w.AdminURL()))
	placedWarm := plan.PlaceAll(t, c, 1)
	AwaitTerminal(t, c, plan, placedWarm, 30*time.Second)
	counter.reset()
	placed := plan.PlaceAll(t, c, 1)
	require.Len(t, placed, 50)
	AwaitTerminal(t, c, plan, placed, 30*time.Second)
	time.Sleep(100 * time.Millisecond)
	t.Logf("redis round trips per confirmed order, all handlers and the HTTP API: %.1f", float64(counter.n.Load())/50)
	var handlersTotal float64
	for _, name := range append([]string{""}, ConsumersOf(t, handlers.Table(), "")...) {
		perOrder := float64(counter.of(name)) / 50
		want, pinned := roundTripsPerOrder[name]
		t.Logf("  %-20q %.1f per order", name, perOrder)
		if pinned {
			assert.InDelta(t, want, perOrder, 0.5, "round trips of %q per order", name)
		}
		if name != "" {
			handlersTotal += perOrder
		}
	}
	t.Logf("redis round trips per confirmed order, all handlers: %.1f", handlersTotal)
	assert.LessOrEqual(t, handlersTotal, float64(maxRoundTripsPerOrder), "round trips per confirmed order in all handlers")
}
