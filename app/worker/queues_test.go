package worker_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/worker"
)

// queueSeries gathers reg and returns the value of every series of the queue metrics by
// "name queue", and orderflow_queue_stats_errors_total by its name.
func queueSeries(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range families {
		switch f.GetName() {
		case "orderflow_queue_messages", "orderflow_queue_messages_unacked", "orderflow_queue_consumers":
			for _, m := range f.GetMetric() {
				out[f.GetName()+" "+m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		case "orderflow_queue_stats_errors_total":
			out[f.GetName()] = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return out
}

func newQueueMetrics(t *testing.T, stats worker.QueueStats) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	_, err := worker.NewMetrics(reg, "test", worker.Transport{Queues: stats}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return reg
}

func TestQueueMetrics_answer_serves_several_scrapes(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	reg := newQueueMetrics(t, func(context.Context) ([]amqpbroker.QueueStat, error) {
		calls.Add(1)
		return []amqpbroker.QueueStat{
			{Name: "orderflow.poison", Ready: 3},
			{Name: "orderflow.order-confirm", Ready: 7, Unacked: 2, HasUnacked: true, Consumers: 4},
		}, nil
	})
	want := map[string]float64{
		"orderflow_queue_messages orderflow.poison":                3,
		"orderflow_queue_consumers orderflow.poison":               0,
		"orderflow_queue_messages orderflow.order-confirm":         7,
		"orderflow_queue_messages_unacked orderflow.order-confirm": 2,
		"orderflow_queue_consumers orderflow.order-confirm":        4,
		"orderflow_queue_stats_errors_total":                       0,
	}
	assert.Equal(t, want, queueSeries(t, reg), "no unacked count without the management API")
	assert.Equal(t, want, queueSeries(t, reg))
	assert.Equal(t, int32(1), calls.Load(), "the second scrape is served from the first answer")
}

func TestQueueMetrics_a_broker_that_hangs_never_holds_a_scrape(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var calls atomic.Int32
	reg := newQueueMetrics(t, func(context.Context) ([]amqpbroker.QueueStat, error) {
		calls.Add(1)
		<-release
		return []amqpbroker.QueueStat{{Name: "orderflow.poison", Ready: 1}}, nil
	})
	start := time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			assert.Equal(t, map[string]float64{"orderflow_queue_stats_errors_total": 0}, queueSeries(t, reg), "no queue without an answer")
		})
	}
	wg.Wait()
	assert.Less(t, time.Since(start), 4*time.Second, "each scrape waits 2 s at most")
	assert.Equal(t, int32(1), calls.Load(), "one request in flight at a time")
	close(release)
	assert.Eventually(t, func() bool { return queueSeries(t, reg)["orderflow_queue_messages orderflow.poison"] == 1 }, 5*time.Second, 10*time.Millisecond,
		"the late answer serves the next scrape")
}

func TestQueueMetrics_a_failing_broker_leaves_the_queues_out_and_counts(t *testing.T) {
	t.Parallel()
	reg := newQueueMetrics(t, func(context.Context) ([]amqpbroker.QueueStat, error) {
		return nil, errors.New("not connected to RabbitMQ")
	})
	assert.Equal(t, map[string]float64{"orderflow_queue_stats_errors_total": 1}, queueSeries(t, reg))
	assert.Equal(t, map[string]float64{"orderflow_queue_stats_errors_total": 2}, queueSeries(t, reg), "a failure is not cached")
}
