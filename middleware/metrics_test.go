package middleware_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	wmmiddleware "github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/memory"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/middleware"
)

// flakyDelayer parks messages, but refuses the first message it is given whose id is
// refuseOnce; a message waiting for a dependency is then handed back to the broker.
type flakyDelayer struct {
	refuseOnce string
	mu         sync.Mutex
	refused    bool
}

func (d *flakyDelayer) Delay(_ string, _ time.Duration, msg *message.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if msg.UUID == d.refuseOnce && !d.refused {
		d.refused = true
		return errors.New("retry queue refused it")
	}
	return nil
}

// TestMetrics_count_each_message_once_by_outcome runs the metrics stage outside
// poison, redeliver, retry and dedup, as the standard chain does, and checks the outcome
// each of them reports.
func TestMetrics_count_each_message_once_by_outcome(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := middleware.NewMetrics(reg)
	require.NoError(t, err)
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, nil)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 5 * time.Second}, nil)
	require.NoError(t, err)
	delayer := &flakyDelayer{refuseOnce: "refused"}
	router.AddConsumerHandler("h", inTopic, pubsub, func(msg *message.Message) error {
		switch msg.UUID {
		case "bad":
			return domain.Rulef("broken")
		case "flaky":
			return errors.New("provider timed out")
		case "refused":
			return domain.Unavailable("store", errors.New("connection refused"))
		}
		return nil
	}).AddMiddleware(
		m.Middleware,
		middleware.Poison{Publisher: pubsub, Topic: poisonTopic, OnPoisoned: m.Poisoned}.Middleware,
		middleware.Redeliver{Delayer: delayer, Delays: []time.Duration{time.Second}, Queue: envelope.QueueName}.Middleware,
		middleware.Retry{MaxAttempts: 2, InitialInterval: time.Millisecond, OnRetry: m.Retried}.Middleware,
		middleware.Dedup{Store: memory.NewLeases(), Lease: time.Minute, TTL: time.Hour, OnDuplicate: m.Duplicate}.Middleware,
		wmmiddleware.Recoverer,
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = router.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; _ = pubsub.Close() })
	<-router.Running()

	for _, id := range []string{"ok", "ok", "bad", "flaky", "refused"} {
		require.NoError(t, pubsub.Publish(inTopic, message.NewMessage(id, nil)))
	}
	m.Rejected("h")
	// "refused" is handed back once, then parked on its redelivery; with the rejected
	// one, 7 messages in all.
	require.Eventually(t, func() bool { return sum(t, reg, "orderflow_messages_total", nil) == 7 }, 5*time.Second, 5*time.Millisecond)
	for outcome, want := range map[middleware.Outcome]float64{
		middleware.OutcomeHandled:   1,
		middleware.OutcomeDuplicate: 1,
		middleware.OutcomePoisoned:  1,
		middleware.OutcomeParked:    2,
		middleware.OutcomeFailed:    1,
		middleware.OutcomeRejected:  1,
	} {
		assert.Equal(t, want, sum(t, reg, "orderflow_messages_total", map[string]string{"handler": "h", "outcome": string(outcome)}), "outcome %s", outcome)
	}
	assert.Equal(t, 2.0, sum(t, reg, "orderflow_messages_poisoned_total", nil), "poisoned by the chain and rejected by the subscriber")
	assert.Equal(t, 1.0, sum(t, reg, "orderflow_messages_duplicate_total", nil))
	assert.Equal(t, 3.0, sum(t, reg, "orderflow_message_retries_total", map[string]string{"handler": "h"}), "one retry for flaky, one for each delivery of refused")
}

func TestMetrics_prepare_creates_every_series_at_zero(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := middleware.NewMetrics(reg)
	require.NoError(t, err)
	m.Prepare("h")
	families, err := reg.Gather()
	require.NoError(t, err)
	series := map[string]int{}
	for _, f := range families {
		series[f.GetName()] = len(f.GetMetric())
	}
	assert.Equal(t, map[string]int{
		"orderflow_messages_total":           len(middleware.Outcomes),
		"orderflow_messages_poisoned_total":  1,
		"orderflow_messages_duplicate_total": 1,
		"orderflow_message_retries_total":    1,
	}, series)
}

// sum adds the values of the counter name over the series that have every label.
func sum(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	var total float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, metric := range f.GetMetric() {
			matched := 0
			for _, l := range metric.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
					matched++
				}
			}
			if matched == len(labels) {
				total += metric.GetCounter().GetValue()
			}
		}
	}
	return total
}

func TestTimeout_bounds_each_attempt(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(msg *message.Message) ([]*message.Message, error) {
		select {
		case <-msg.Context().Done():
			return nil, msg.Context().Err()
		case <-time.After(5 * time.Second):
			return nil, errors.New("the timeout did not fire")
		}
	},
		middleware.Retry{MaxAttempts: 3, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}.Middleware,
		wmmiddleware.Timeout(20*time.Millisecond))
	r.publish(t, message.NewMessage("m1", nil))
	poisoned := receive(t, r.poison)
	assert.Equal(t, context.DeadlineExceeded.Error(), poisoned.Metadata.Get(envelope.PoisonReasonKey))
	assert.Equal(t, "3", poisoned.Metadata.Get(envelope.PoisonAttemptsKey), "each attempt gets a fresh deadline")
}
