package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/domain/event"
)

// benchQuick reports whether the benchmarks run at the small sizes of `make bench-quick`.
func benchQuick() bool { return os.Getenv("ORDERFLOW_BENCH") != "full" }

// sized picks the quick or the full size of a workload.
func sized(quick, full int) int {
	if benchQuick() {
		return quick
	}
	return full
}

// benchOrder is an order.placed that confirms: one unit of a SKU with ample stock, under
// the decline threshold.
func benchOrder(b testing.TB, i int) *message.Message {
	body, err := json.Marshal(event.OrderPlaced{
		OrderID: fmt.Sprintf("ord-bench-%d", i), CustomerID: fmt.Sprintf("cust-%d", i%1000), Currency: "USD",
		PlacedAt: "2026-11-22T10:00:00Z", TotalCents: 1500,
		Items: []event.Item{{SKU: "SKU-BENCH", Quantity: 1, UnitPriceCents: 1500}},
	})
	require.NoError(b, err)
	msg := message.NewMessage(fmt.Sprintf("bench-%d", i), body)
	msg.Metadata.Set("event_name", event.OrderPlacedName)
	return msg
}

// counter counts messages on a channel and lets a caller wait for a number of them.
type counter struct {
	mu   sync.Mutex
	n    int
	cond *sync.Cond
	seen map[string]time.Time
}

func countFrom(ch <-chan *message.Message, key func(*message.Message) string) *counter {
	c := &counter{seen: map[string]time.Time{}}
	c.cond = sync.NewCond(&c.mu)
	go func() {
		for msg := range ch {
			now := time.Now()
			c.mu.Lock()
			if key != nil {
				c.seen[key(msg)] = now
			}
			c.n++
			c.cond.Broadcast()
			c.mu.Unlock()
		}
	}()
	return c
}

// wait blocks until n messages were counted, or fails after timeout.
func (c *counter) wait(b testing.TB, n int, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	wake := time.AfterFunc(timeout, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer wake.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.n < n {
		if time.Now().After(deadline) {
			b.Fatalf("counted %d of %d within %s", c.n, n, timeout)
		}
		c.cond.Wait()
	}
}

func orderIDOf(msg *message.Message) string {
	var e struct {
		OrderID string `json:"order_id"`
	}
	_ = json.Unmarshal(msg.Payload, &e)
	return e.OrderID
}

// rawPublisher publishes with amqp091-go on one channel, keeping up to window confirms
// outstanding: the client-side best case.
type rawPublisher struct {
	ch     *amqp.Channel
	window int
}

func newRawPublisher(b testing.TB, conn *amqp.Connection, window int) *rawPublisher {
	b.Helper()
	ch, err := conn.Channel()
	require.NoError(b, err)
	require.NoError(b, ch.Confirm(false))
	b.Cleanup(func() { _ = ch.Close() })
	return &rawPublisher{ch: ch, window: window}
}

// publishAll sends every publishing to exchange with key(i) and waits for all confirms.
func (p *rawPublisher) publishAll(b testing.TB, exchange string, n int, key func(i int) string, pub func(i int) amqp.Publishing) {
	b.Helper()
	pending := make([]*amqp.DeferredConfirmation, 0, p.window)
	flush := func(keep int) {
		for len(pending) > keep {
			acked, err := pending[0].WaitContext(context.Background())
			require.NoError(b, err)
			require.True(b, acked)
			pending = pending[1:]
		}
	}
	for i := range n {
		dc, err := p.ch.PublishWithDeferredConfirmWithContext(context.Background(), exchange, key(i), false, false, pub(i))
		require.NoError(b, err)
		pending = append(pending, dc)
		flush(p.window - 1)
	}
	flush(0)
}

func marshalled(b testing.TB, msg *message.Message) amqp.Publishing {
	pub, err := amqpbroker.Marshaler{}.Marshal(msg)
	require.NoError(b, err)
	return pub
}

// percentile returns the p-th percentile (0..100) of sorted durations, in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return float64(sorted[i]) / float64(time.Millisecond)
}

func sortDurations(d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
}

// writeSeries saves a time series for the report's plots, when ORDERFLOW_BENCH_OUT names
// a directory.
func writeSeries(b testing.TB, name string, series any) {
	dir := os.Getenv("ORDERFLOW_BENCH_OUT")
	if dir == "" {
		return
	}
	data, err := json.Marshal(series)
	require.NoError(b, err)
	require.NoError(b, os.WriteFile(filepath.Join(dir, name+".json"), data, 0o644))
}
