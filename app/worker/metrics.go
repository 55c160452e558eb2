package worker

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/orderflow/orderflow/app/httpapi"
	"github.com/orderflow/orderflow/domain/order"
)

// Version is the worker's version, as `orderflow version` prints it (main.version,
// stamped by `make build` with -ldflags "-X main.version=...").
type Version string

// Metrics are the worker's own Prometheus metrics, beyond the per-message ones of
// middleware.Metrics. It is the worker's implementation of the ports through which the
// use cases and the HTTP API report, so that neither links Prometheus.
type Metrics struct {
	orderLatency    *prometheus.HistogramVec
	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	publishDuration *prometheus.HistogramVec
	publishErrors   *prometheus.CounterVec
	ready           prometheus.Gauge
}

// NewMetrics registers the worker's metrics with reg, orderflow_build_info among them,
// and the queue metrics of transport when it has queues to read.
func NewMetrics(reg prometheus.Registerer, version Version, transport Transport, logger *slog.Logger) (*Metrics, error) {
	m := &Metrics{
		orderLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orderflow_order_placed_to_terminal_seconds",
			Help: "Time from an order's placed_at to the moment it became terminal, by outcome: confirmed, out_of_stock or payment_declined. " +
				"placed_at is the producer's clock; an end before it counts as 0.",
			// Dense around the 2 s objective of the alert OrderflowOrdersSlow.
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300},
		}, []string{"outcome"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderflow_http_requests_total",
			Help: "HTTP requests answered, by listener (public, admin), route (the pattern that serves it, e.g. \"POST /orders\", or unmatched) and status code.",
		}, []string{"listener", "route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orderflow_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by listener and route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"listener", "route"}),
		publishDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orderflow_publish_duration_seconds",
			Help:    "Time a publish took until the broker took it (confirmed, on RabbitMQ), by topic: the event name, or orderflow.poison.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"topic"}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderflow_publish_errors_total",
			Help: "Publishes the broker did not take, by topic.",
		}, []string{"topic"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orderflow_ready",
			Help: "1 while every readiness check of /readyz passes (broker, store, router), else 0; evaluated every 5 s, and 0 once the worker is stopping.",
		}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "orderflow_build_info",
		Help:        "Always 1: the version `orderflow version` prints and the Go version the binary was built with.",
		ConstLabels: prometheus.Labels{"version": string(version), "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	for _, outcome := range []string{order.Confirmed.String(), order.OutOfStock.String(), order.PaymentDeclined.String()} {
		m.orderLatency.WithLabelValues(outcome)
	}
	collectors := []prometheus.Collector{m.orderLatency, m.httpRequests, m.httpDuration, m.publishDuration, m.publishErrors, m.ready, buildInfo}
	if transport.Queues != nil {
		collectors = append(collectors, newQueueCollector(transport.Queues, logger))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register worker metrics: %w", err)
		}
	}
	return m, nil
}

// OrderEnded implements app.Observer.
func (m *Metrics) OrderEnded(outcome string, sincePlaced time.Duration) {
	m.orderLatency.WithLabelValues(outcome).Observe(sincePlaced.Seconds())
}

// ObserveRequest implements httpapi.Observer.
func (m *Metrics) ObserveRequest(listener, route string, code int, elapsed time.Duration) {
	m.httpRequests.WithLabelValues(listener, route, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(listener, route).Observe(elapsed.Seconds())
}

// Publisher returns next, timing each publish and counting those that fail, by topic.
func (m *Metrics) Publisher(next message.Publisher) message.Publisher {
	return observedPublisher{Publisher: next, m: m}
}

type observedPublisher struct {
	message.Publisher
	m *Metrics
}

func (p observedPublisher) Publish(topic string, msgs ...*message.Message) error {
	start := time.Now()
	err := p.Publisher.Publish(topic, msgs...)
	p.m.publishDuration.WithLabelValues(topic).Observe(time.Since(start).Seconds())
	// Touched on every publish, so a topic's error count is 0 rather than absent.
	errs := p.m.publishErrors.WithLabelValues(topic)
	if err != nil {
		errs.Inc()
	}
	return err
}

// readinessEvery is how often orderflow_ready evaluates the checks, whether or not
// anything asks /readyz.
const readinessEvery = 5 * time.Second

// WatchReadiness sets orderflow_ready from checks (those of /readyz) at once and every
// readinessEvery until ctx ends, then to 0: a stopping worker is not ready.
func (m *Metrics) WatchReadiness(ctx context.Context, checks []httpapi.Check) {
	ticker := time.NewTicker(readinessEvery)
	defer ticker.Stop()
	for {
		if ready, _ := httpapi.Ready(ctx, checks); ready && ctx.Err() == nil {
			m.ready.Set(1)
		} else {
			m.ready.Set(0)
		}
		select {
		case <-ctx.Done():
			m.ready.Set(0)
			return
		case <-ticker.C:
		}
	}
}

// breakerValue is the breaker's state as orderflow_payment_breaker_state shows it.
func breakerValue(s gobreaker.State) float64 {
	switch s {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}
