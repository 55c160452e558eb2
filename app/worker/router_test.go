package worker_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/handlers"
	"github.com/orderflow/orderflow/middleware"
)

func TestStandard_chain_order(t *testing.T) {
	t.Parallel()
	assert.Equal(t, middleware.Chain{
		"correlation", "logging", "metrics", "throttle", "poison", "redeliver", "retry", "dedup", "timeout", "recoverer",
	}, handlers.Standard, "README.md documents this order; change both together")
	names := map[string]bool{}
	for _, def := range handlers.Table() {
		assert.False(t, names[def.Name], "handler names are unique: %s", def.Name)
		names[def.Name] = true
		assert.Equal(t, handlers.Standard, def.Chain, def.Name)
	}
}

func TestNames_agree_across_transports(t *testing.T) {
	t.Parallel()
	assert.Equal(t, handlers.PoisonTopic, amqpbroker.PoisonQueueName, "Poison publishes to the topic the AMQP topology names")
	assert.Equal(t, "orderflow.payment-capture", handlers.QueueName(handlers.PaymentCapture))
}

// TestRouter_first_added_middleware_is_outermost pins the Watermill behaviour the table
// relies on: AddMiddleware(a, b) runs a around b around the handler.
func TestRouter_first_added_middleware_is_outermost(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var trace []string
	record := func(name string) message.HandlerMiddleware {
		return func(h message.HandlerFunc) message.HandlerFunc {
			return func(msg *message.Message) ([]*message.Message, error) {
				mu.Lock()
				trace = append(trace, name+" in")
				mu.Unlock()
				out, err := h(msg)
				mu.Lock()
				trace = append(trace, name+" out")
				mu.Unlock()
				return out, err
			}
		}
	}
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, nil)
	router, err := message.NewRouter(message.RouterConfig{}, nil)
	require.NoError(t, err)
	done := make(chan struct{})
	router.AddConsumerHandler("h", "in", pubsub, func(*message.Message) error {
		mu.Lock()
		trace = append(trace, "handler")
		mu.Unlock()
		close(done)
		return nil
	}).AddMiddleware(record("first"), record("second"))
	go func() { _ = router.Run(context.Background()) }()
	defer router.Close()
	<-router.Running()
	require.NoError(t, pubsub.Publish("in", message.NewMessage("m", nil)))
	<-done
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(trace) == 5 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"first in", "second in", "handler", "second out", "first out"}, trace)
}

func newRouter(t *testing.T, cfg *configs.Config, table []handlers.Definition) error {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	broker, closeBroker := worker.NewInprocBroker(logger)
	defer closeBroker()
	metrics, err := middleware.NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	_, err = worker.NewRouter(cfg, logger, worker.NewInprocTransport(broker), worker.NewMemoryStorage(), metrics, &app.Application{}, nil, table)
	return err
}

func TestNewRouter_refuses_an_unknown_stage(t *testing.T) {
	t.Parallel()
	def := handlers.Table()[0]
	def.Chain = middleware.Chain{middleware.StageCorrelation, "circuit"}
	err := newRouter(t, configs.Default(), []handlers.Definition{def})
	assert.EqualError(t, err, `chain of handler inventory-reserve: unknown stage "circuit"`)
}

func TestNewRouter_refuses_config_for_an_unknown_handler(t *testing.T) {
	t.Parallel()
	cfg := configs.Default()
	cfg.Handlers["payment-captrue"] = configs.HandlerOverride{}
	err := newRouter(t, cfg, handlers.Table())
	assert.EqualError(t, err, "handlers.payment-captrue: no handler has that name")
}
