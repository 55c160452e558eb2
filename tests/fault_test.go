package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

// TestFaults_1000_orders_with_failures_panics_and_duplicates drives 1,000 orders through
// every handler on GoChannel and a real Redis while 30% of handler attempts fail (half of
// them after their effects and events are out), some panic, and every message is
// delivered twice. Afterwards every invariant of the saga (CheckInvariants) holds exactly, and the poison
// queue holds exactly the malformed messages injected, once each.
func TestFaults_1000_orders_with_failures_panics_and_duplicates(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("component test")
	}
	cfg := TestConfig()
	cfg.HandlerDefaults.Retry.MaxAttempts = 40
	cfg.HandlerDefaults.Retry.MaxInterval = 20 * time.Millisecond
	cfg.HandlerDefaults.Retry.MaxElapsed = 20 * time.Second
	storage := worker.RedisStorage(RedisClient(t))
	broker, closeBroker := worker.NewInprocBroker(Logger())
	t.Cleanup(closeBroker)
	chaos := NewChaosTransport(worker.NewInprocTransport(broker), Faults{FailRate: 0.30, PanicRate: 0.05, Seed: 7})
	w := StartOn(t, cfg, handlers.Table(), broker, chaos.Transport(), storage)
	c := NewClient(w.URL())

	plan := NewPlan(2026, 1000)
	plan.SetStock(t, NewClient(w.AdminURL()))
	poisonIDs := injectPermanentFailures(t, broker)
	placed := plan.PlaceAll(t, c, 8)
	require.Len(t, placed, 1000)
	out := AwaitTerminal(t, c, plan, placed, 3*time.Minute)

	CheckInvariants(t, c, plan, placed, out, ledgerCaptures(t, w, false))

	// Every consumer of order.placed poisons each injected message, once.
	consumers := ConsumersOf(t, handlers.Table(), event.OrderPlacedName)
	var want, got []string
	for _, h := range consumers {
		for _, id := range poisonIDs {
			want = append(want, h+" "+id)
		}
	}
	for _, m := range broker.Retained(envelope.PoisonTopic) {
		got = append(got, m.Metadata.Get(envelope.PoisonHandlerKey)+" "+m.UUID)
		assert.Equal(t, "1", m.Metadata.Get(envelope.PoisonAttemptsKey), "a permanent failure is not retried")
	}
	sort.Strings(want)
	sort.Strings(got)
	assert.Equal(t, want, got, "the poison queue holds exactly the injected permanent failures, once per consumer")

	t.Logf("outcomes %v; injected: %d failures, %d panics, %d messages delivered twice; duplicates dropped: %v",
		out.Counts, chaos.Failed.Load(), chaos.Panicked.Load(), chaos.Doubled.Load(), duplicatesByHandler(t, w))
	assert.Positive(t, chaos.Failed.Load())
	assert.Positive(t, chaos.Panicked.Load())
	assert.Positive(t, out.Counts["confirmed"])
	assert.Positive(t, out.Counts["out_of_stock"])
	assert.Positive(t, out.Counts["payment_declined"])

	r := c.Must(t, http.MethodGet, "/metrics", nil)
	for _, h := range consumers {
		assert.Contains(t, string(r.Body), `orderflow_messages_poisoned_total{handler="`+h+`"} 20`)
	}
}

// injectPermanentFailures publishes 20 order.placed messages that no retry can fix, as a
// foreign producer would, and returns their ids, sorted.
func injectPermanentFailures(t *testing.T, broker interface {
	Publish(string, ...*message.Message) error
}) []string {
	t.Helper()
	var ids []string
	for i := range 20 {
		body := []byte(`{"order_id": "broken`)
		if i%2 == 1 {
			body, _ = json.Marshal(event.OrderPlaced{
				OrderID: fmt.Sprintf("ord-bad-%d", i), CustomerID: "c", Currency: "USD", PlacedAt: "2026-11-22T10:00:00Z",
				Items: []event.Item{{SKU: "SAGA-A", Quantity: 0, UnitPriceCents: 1}},
			})
		}
		id := fmt.Sprintf("poison-%02d", i)
		require.NoError(t, broker.Publish(event.OrderPlacedName, message.NewMessage(id, body)))
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func duplicatesByHandler(t *testing.T, w *TestWorker) map[string]float64 {
	out := map[string]float64{}
	for _, def := range handlers.Table() {
		out[def.Name] = w.Counter(t, "orderflow_messages_duplicate_total", def.Name)
	}
	return out
}
