package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
)

// QueueStats reads what the broker says of the worker's queues.
type QueueStats func(ctx context.Context) ([]amqpbroker.QueueStat, error)

// How the queue metrics ask the broker: a scrape waits queueScrapeWait at most for an
// answer, an answer serves the scrapes of queueMaxAge, and when the broker is slow, the
// last answer serves until it is queueStaleAfter old. A request in flight is never
// started twice, and gives up after queueRequestTimeout where its client allows.
const (
	queueScrapeWait     = 2 * time.Second
	queueMaxAge         = 5 * time.Second
	queueStaleAfter     = time.Minute
	queueRequestTimeout = 10 * time.Second
)

var (
	queueMessagesDesc = prometheus.NewDesc("orderflow_queue_messages",
		"Messages ready in a queue of the worker's topology, waiting for a consumer (handler queues, orderflow.poison, the retry queues orderflow.delay.*), as the broker says at scrape time.",
		[]string{"queue"}, nil)
	queueUnackedDesc = prometheus.NewDesc("orderflow_queue_messages_unacked",
		"Messages of a queue delivered to a consumer and not acknowledged yet; only with amqp.management_url (a passive declare does not tell).",
		[]string{"queue"}, nil)
	queueConsumersDesc = prometheus.NewDesc("orderflow_queue_consumers",
		"Consumers of a queue, all workers together.",
		[]string{"queue"}, nil)
)

// queueCollector reports the broker's figures of each queue at scrape time, from a cache
// and with a bounded wait, so a slow or lost broker never holds up a scrape; its queues
// are then absent, and orderflow_queue_stats_errors_total counts the failures.
type queueCollector struct {
	stats  QueueStats
	logger *slog.Logger
	errors prometheus.Counter

	mu      sync.Mutex
	last    []amqpbroker.QueueStat
	lastAt  time.Time
	failing bool
	// pending is closed when the request in flight ends; nil when none is.
	pending chan struct{}
}

func newQueueCollector(stats QueueStats, logger *slog.Logger) *queueCollector {
	return &queueCollector{
		stats:  stats,
		logger: logger,
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderflow_queue_stats_errors_total",
			Help: "Requests for the queue metrics that the broker did not answer; its queues are absent from the scrapes meanwhile.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueMessagesDesc
	ch <- queueUnackedDesc
	ch <- queueConsumersDesc
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	for _, q := range c.current() {
		ch <- prometheus.MustNewConstMetric(queueMessagesDesc, prometheus.GaugeValue, float64(q.Ready), q.Name)
		ch <- prometheus.MustNewConstMetric(queueConsumersDesc, prometheus.GaugeValue, float64(q.Consumers), q.Name)
		if q.HasUnacked {
			ch <- prometheus.MustNewConstMetric(queueUnackedDesc, prometheus.GaugeValue, float64(q.Unacked), q.Name)
		}
	}
	c.errors.Collect(ch)
}

// current returns the last answer while it is younger than queueMaxAge; else it asks
// again and waits queueScrapeWait at most, then returns the last answer unless the
// last request failed or the answer is queueStaleAfter old.
func (c *queueCollector) current() []amqpbroker.QueueStat {
	c.mu.Lock()
	if !c.failing && time.Since(c.lastAt) < queueMaxAge {
		defer c.mu.Unlock()
		return c.last
	}
	if c.pending == nil {
		c.pending = make(chan struct{})
		go c.refresh(c.pending)
	}
	pending := c.pending
	c.mu.Unlock()

	wait := time.NewTimer(queueScrapeWait)
	defer wait.Stop()
	select {
	case <-pending:
	case <-wait.C:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failing || time.Since(c.lastAt) >= queueStaleAfter {
		return nil
	}
	return c.last
}

// refresh asks the broker, keeps the answer and closes done.
func (c *queueCollector) refresh(done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithTimeout(context.Background(), queueRequestTimeout)
	defer cancel()
	stats, err := c.stats(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = nil
	if err != nil {
		c.errors.Inc()
		if !c.failing {
			c.logger.Warn("queue metrics: the broker did not answer; the queues are left out of the metrics until it does", "error", err.Error())
		}
		c.failing = true
		return
	}
	if c.failing {
		c.logger.Info("queue metrics: the broker answers again")
	}
	c.last, c.lastAt, c.failing = stats, time.Now(), false
}
