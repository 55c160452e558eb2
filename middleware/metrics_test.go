package middleware_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	wmmiddleware "github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/middleware"
)

func TestMetrics_count_outcomes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := middleware.NewMetrics(reg)
	require.NoError(t, err)
	r := newRig(t, func(msg *message.Message) ([]*message.Message, error) {
		if msg.UUID == "bad" {
			return nil, domain.Rulef("broken")
		}
		return nil, nil
	}, m.Middleware)
	r.publish(t, message.NewMessage("good", nil))
	r.publish(t, message.NewMessage("bad", nil))
	receive(t, r.poison)
	r.waitCalls(t, 2)
	require.Eventually(t, func() bool {
		return testutil.CollectAndCount(reg, "orderflow_messages_total") == 2
	}, 5*time.Second, 5*time.Millisecond)
	const want = `
# HELP orderflow_messages_total Messages that left a handler's chain, by handler and outcome: acked (handled, dropped as a duplicate, parked or poisoned) or nacked (handed back to the broker).
# TYPE orderflow_messages_total counter
orderflow_messages_total{handler="h",outcome="nacked"} 1
orderflow_messages_total{handler="h",outcome="acked"} 1
`
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "orderflow_messages_total"))
	m.Poisoned("h")
	m.Duplicate("h")
	assert.Equal(t, 2, testutil.CollectAndCount(reg, "orderflow_messages_poisoned_total", "orderflow_messages_duplicate_total"))
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
