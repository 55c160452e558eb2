package middleware

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Metrics counts what happens to messages per handler, in Prometheus form.
type Metrics struct {
	handled    *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	poisoned   *prometheus.CounterVec
	duplicates *prometheus.CounterVec
}

// NewMetrics registers the message metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderflow_messages_total",
			Help: "Messages that left a handler's chain, by handler and outcome: acked (handled, dropped as a duplicate, parked or poisoned) or nacked (handed back to the broker).",
		}, []string{"handler", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orderflow_message_duration_seconds",
			Help:    "Time a message spent in a handler's chain, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"handler"}),
		poisoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderflow_messages_poisoned_total",
			Help: "Messages moved to the poison queue, by handler.",
		}, []string{"handler"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderflow_messages_duplicate_total",
			Help: "Duplicate messages dropped by dedup, by handler.",
		}, []string{"handler"}),
	}
	for _, c := range []prometheus.Collector{m.handled, m.duration, m.poisoned, m.duplicates} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Middleware counts each message's outcome and time.
func (m *Metrics) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		handler := message.HandlerNameFromCtx(msg.Context())
		start := time.Now()
		produced, err := h(msg)
		m.duration.WithLabelValues(handler).Observe(time.Since(start).Seconds())
		outcome := "acked"
		if err != nil {
			outcome = "nacked"
		}
		m.handled.WithLabelValues(handler, outcome).Inc()
		return produced, err
	}
}

// Poisoned counts a poisoned message; it fits Poison.OnPoisoned.
func (m *Metrics) Poisoned(handler string) { m.poisoned.WithLabelValues(handler).Inc() }

// Duplicate counts a dropped duplicate; it fits Dedup.OnDuplicate.
func (m *Metrics) Duplicate(handler string) { m.duplicates.WithLabelValues(handler).Inc() }
