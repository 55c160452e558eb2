package middleware

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Outcome is what became of a message a handler's queue delivered. Each message counts
// once, under one outcome, in orderflow_messages_total.
type Outcome string

// The outcomes. Every one but Failed acks the delivery.
const (
	// OutcomeHandled: the handler succeeded.
	OutcomeHandled Outcome = "handled"
	// OutcomeDuplicate: dedup found the message done already; the handler did not run.
	OutcomeDuplicate Outcome = "duplicate"
	// OutcomeParked: retry gave up for now and the message waits in a retry queue, from
	// which it comes back as a new delivery (RabbitMQ only).
	OutcomeParked Outcome = "parked"
	// OutcomePoisoned: the chain moved the message to the poison queue.
	OutcomePoisoned Outcome = "poisoned"
	// OutcomeRejected: the subscriber moved the message to the poison queue before any
	// chain saw it, because it is over the broker limits (amqp.max_*).
	OutcomeRejected Outcome = "rejected"
	// OutcomeFailed: handed back to the broker (nacked), to come again: a dependency is
	// down where no retry queue can hold the message, the worker is stopping, or the
	// poison or retry queue refused it.
	OutcomeFailed Outcome = "failed"
)

// Outcomes lists every outcome, in the order above.
var Outcomes = []Outcome{OutcomeHandled, OutcomeDuplicate, OutcomeParked, OutcomePoisoned, OutcomeRejected, OutcomeFailed}

// outcomeKey holds, in a message's context, where the stages inside the metrics stage
// say what they did with the message: an error alone cannot tell a handled message from
// a duplicate, a parked or a poisoned one, which all return nil.
type outcomeKey struct{}

// report records o as the outcome of the message whose context is ctx; it does nothing
// in a chain without the metrics stage.
func report(ctx context.Context, o Outcome) {
	if p, ok := ctx.Value(outcomeKey{}).(*Outcome); ok {
		*p = o
	}
}

// Metrics counts what happens to messages per handler, in Prometheus form.
type Metrics struct {
	messages     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	poisoned     *prometheus.CounterVec
	duplicates   *prometheus.CounterVec
	retries      *prometheus.CounterVec
	throttleWait *prometheus.HistogramVec
}

// NewMetrics registers the message metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderflow_messages_total",
			Help: "Messages taken from a handler's queue, by handler and outcome: handled; duplicate (dropped by dedup); " +
				"parked (in a retry queue for delayed redelivery, comes back as a new delivery); poisoned (moved to the poison queue by the chain); " +
				"rejected (over the broker limits, poisoned before any chain); failed (handed back to the broker). All but failed are acked.",
		}, []string{"handler", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orderflow_message_duration_seconds",
			Help:    "Time a message spent in a handler's chain, throttle wait and in-process retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"handler"}),
		poisoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderflow_messages_poisoned_total",
			Help: "Messages moved to the poison queue, by handler: outcomes poisoned and rejected together.",
		}, []string{"handler"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderflow_messages_duplicate_total",
			Help: "Duplicate messages dropped by dedup, by handler.",
		}, []string{"handler"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderflow_message_retries_total",
			Help: "In-process retries of a handler after a transient error (the first call is not one).",
		}, []string{"handler"}),
		throttleWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orderflow_throttle_wait_seconds",
			Help:    "Time a message waited for a token of its handler's throttle, for handlers that have one.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"handler"}),
	}
	for _, c := range []prometheus.Collector{m.messages, m.duration, m.poisoned, m.duplicates, m.retries, m.throttleWait} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register message metrics: %w", err)
		}
	}
	return m, nil
}

// Prepare creates the counters of handler at 0, so that rates and alerts see a handler
// before its first message of each outcome.
func (m *Metrics) Prepare(handler string) {
	for _, o := range Outcomes {
		m.messages.WithLabelValues(handler, string(o))
	}
	m.poisoned.WithLabelValues(handler)
	m.duplicates.WithLabelValues(handler)
	m.retries.WithLabelValues(handler)
}

// Middleware counts each message's outcome and time. Outside Poison, Redeliver and
// Dedup, it learns from them what they did with the message.
func (m *Metrics) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		handler := message.HandlerNameFromCtx(msg.Context())
		var outcome Outcome
		msg.SetContext(context.WithValue(msg.Context(), outcomeKey{}, &outcome))
		start := time.Now()
		produced, err := h(msg)
		m.duration.WithLabelValues(handler).Observe(time.Since(start).Seconds())
		switch {
		case err != nil:
			outcome = OutcomeFailed
		case outcome == "":
			outcome = OutcomeHandled
		}
		m.messages.WithLabelValues(handler, string(outcome)).Inc()
		return produced, err
	}
}

// Poisoned counts a poisoned message; it fits Poison.OnPoisoned.
func (m *Metrics) Poisoned(handler string) { m.poisoned.WithLabelValues(handler).Inc() }

// Rejected counts a message the subscriber poisoned before any chain saw it, as poisoned
// and under outcome rejected.
func (m *Metrics) Rejected(handler string) {
	m.poisoned.WithLabelValues(handler).Inc()
	m.messages.WithLabelValues(handler, string(OutcomeRejected)).Inc()
}

// Duplicate counts a dropped duplicate; it fits Dedup.OnDuplicate.
func (m *Metrics) Duplicate(handler string) { m.duplicates.WithLabelValues(handler).Inc() }

// Retried counts an in-process retry; it fits Retry.OnRetry.
func (m *Metrics) Retried(handler string) { m.retries.WithLabelValues(handler).Inc() }

// Waited records a throttle wait; it fits Throttle.OnWait.
func (m *Metrics) Waited(handler string, waited time.Duration) {
	m.throttleWait.WithLabelValues(handler).Observe(waited.Seconds())
}
