package worker_test

import (
	"context"
	"errors"
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
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/signing"
	"github.com/orderflow/orderflow/app/tracing"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/handlers"
	"github.com/orderflow/orderflow/middleware"
	"github.com/orderflow/orderflow/tests"
)

func TestStandard_chain_order(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{
		"correlation", "logging", "metrics", "throttle", "poison", "verify", "redeliver", "retry", "dedup", "timeout", "recoverer",
	}, handlers.Standard.Names(), "README.md documents this order; change both together")
}

func TestNames_agree_across_transports(t *testing.T) {
	t.Parallel()
	assert.Equal(t, envelope.PoisonTopic, amqpbroker.PoisonQueueName, "Poison publishes to the topic the AMQP topology names")
	assert.Equal(t, "orderflow.payment-capture", envelope.QueueName(handlers.PaymentCapture))
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
	_, err = worker.NewRouter(cfg, logger, worker.NewInprocTransport(broker), broker, worker.NewMemoryStorage(), metrics, &app.Application{}, nil, table, time.Now, signing.Random(), tracing.New(nil, "gochannel"))
	return err
}

func TestNewRouter_refuses_an_unknown_stage(t *testing.T) {
	t.Parallel()
	def := handlers.Table()[0]
	def.Chain = handlers.Chain{handlers.StageCorrelation, handlers.StageVerify, {Name: "circuit"}}
	err := newRouter(t, tests.OnlyFor(configs.Default(), []handlers.Definition{def}), []handlers.Definition{def})
	assert.EqualError(t, err, `chain of handler inventory-reserve: unknown stage "circuit"`)
}

func TestNewRouter_refuses_config_for_an_unknown_handler(t *testing.T) {
	t.Parallel()
	cfg := configs.Default()
	cfg.Handlers["payment-captrue"] = configs.HandlerOverride{}
	err := newRouter(t, cfg, handlers.Table())
	assert.EqualError(t, err, "handlers.payment-captrue: no handler has that name")
}

func TestNewRouter_refuses_config_for_a_stage_the_chain_lacks(t *testing.T) {
	t.Parallel()
	cfg := configs.Default() // throttles payment-capture
	def := tests.Definition(t, handlers.PaymentCapture)
	def.Chain = handlers.Standard.Without(handlers.StageThrottle, handlers.StageRetry)
	retry := cfg.HandlerDefaults.Retry
	o := cfg.Handlers[handlers.PaymentCapture]
	o.Retry = &retry
	cfg.Handlers[handlers.PaymentCapture] = o
	err := newRouter(t, cfg, []handlers.Definition{def})
	require.Error(t, err)
	assert.Equal(t, "handlers.payment-capture.throttle: the chain of payment-capture has no throttle stage\n"+
		"handlers.payment-capture.retry: the chain of payment-capture has no retry stage", err.Error(),
		"both problems, together")
}

func TestNewRouter_refuses_a_chain_that_breaks_an_order_rule(t *testing.T) {
	t.Parallel()
	def := handlers.Table()[0]
	def.Chain = handlers.Chain{handlers.StageLogging, handlers.StageCorrelation, handlers.StageRecoverer, handlers.StageRetry}
	err := newRouter(t, tests.OnlyFor(configs.Default(), []handlers.Definition{def}), []handlers.Definition{def})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "chain of handler inventory-reserve: correlation must be the outermost stage")
	assert.Contains(t, err.Error(), "recoverer must be the innermost stage")
}

func TestNewRouter_builds_a_custom_stage_with_its_own_constructor(t *testing.T) {
	t.Parallel()
	var built []string
	stage := handlers.Custom("audit", func(env handlers.StageEnv) (message.HandlerMiddleware, error) {
		built = append(built, env.Handler)
		return func(h message.HandlerFunc) message.HandlerFunc { return h }, nil
	})
	def := handlers.Table()[0]
	def.Chain = handlers.Standard.With(stage, handlers.After(handlers.StageLogging))
	require.NoError(t, newRouter(t, tests.OnlyFor(configs.Default(), []handlers.Definition{def}), []handlers.Definition{def}))
	assert.Equal(t, []string{def.Name}, built)

	failing := handlers.Custom("broken", func(handlers.StageEnv) (message.HandlerMiddleware, error) {
		return nil, errors.New("no license key")
	})
	def.Chain = handlers.Standard.With(failing, handlers.Before(handlers.StageRetry))
	err := newRouter(t, tests.OnlyFor(configs.Default(), []handlers.Definition{def}), []handlers.Definition{def})
	assert.EqualError(t, err, "chain of handler inventory-reserve: stage broken: no license key")
}
