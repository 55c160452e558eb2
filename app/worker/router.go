// Package worker assembles the Watermill router from the handler table, the HTTP API and
// the stores into one process, and runs it until its context ends.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	wmmiddleware "github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/handlers"
	"github.com/orderflow/orderflow/middleware"
)

// Subscriber is a transport's subscriber: queues are bound to event names, with the
// number of messages to handle at once, before the router subscribes to them.
type Subscriber interface {
	message.Subscriber
	Bind(queue string, consumers int, events ...string) error
}

// Transport is the broker a worker runs on.
type Transport struct {
	Publisher  message.Publisher
	Subscriber Subscriber
	// Delayer parks messages for delayed redelivery; nil when the broker cannot, and
	// then what retry gives up on goes to the poison queue at once.
	Delayer middleware.Delayer
	// Check reports whether the broker answers, for readiness.
	Check func(ctx context.Context) error
}

// NewRouter adds every handler of table to a router, each on its own queue with its own
// chain.
func NewRouter(cfg *configs.Config, logger *slog.Logger, transport Transport, storage Storage, metrics *middleware.Metrics, application *app.Application, publisher app.EventPublisher, table []handlers.Definition) (*message.Router, error) {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.ShutdownTimeout}, watermillLogger(logger, false))
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	if err := checkHandlerConfig(cfg); err != nil {
		return nil, err
	}
	stages := stageBuilder{cfg: cfg, logger: logger, transport: transport, claims: storage.Claims, metrics: metrics}
	// The router closes a handler's subscriber when it stops; the transport is shared by
	// every handler and the HTTP API, so only its owner closes it.
	sub := unclosable{transport.Subscriber}
	for _, def := range table {
		h := def.New(application)
		queue := handlers.QueueName(def.Name)
		if err := transport.Subscriber.Bind(queue, cfg.Handler(def.Name).Consumers, h.Events()...); err != nil {
			return nil, fmt.Errorf("bind handler %s: %w", def.Name, err)
		}
		chain, err := stages.build(def)
		if err != nil {
			return nil, fmt.Errorf("chain of handler %s: %w", def.Name, err)
		}
		added := router.AddConsumerHandler(def.Name, queue, sub, h.Func(publisher))
		added.AddMiddleware(chain...)
	}
	return router, nil
}

// checkHandlerConfig refuses configuration for a handler that does not exist: a typo
// would otherwise be ignored.
func checkHandlerConfig(cfg *configs.Config) error {
	known := map[string]bool{}
	for _, def := range handlers.Table() {
		known[def.Name] = true
	}
	for name := range cfg.Handlers {
		if !known[name] {
			return fmt.Errorf("handlers.%s: no handler has that name", name)
		}
	}
	return nil
}

type unclosable struct{ message.Subscriber }

func (unclosable) Close() error { return nil }

// stageBuilder turns the stages of a chain into middleware, configured for the handler.
type stageBuilder struct {
	cfg       *configs.Config
	logger    *slog.Logger
	transport Transport
	claims    middleware.ClaimStore
	metrics   *middleware.Metrics
}

func (b stageBuilder) build(def handlers.Definition) ([]message.HandlerMiddleware, error) {
	cfg := b.cfg.Handler(def.Name)
	chain := make([]message.HandlerMiddleware, 0, len(def.Chain))
	for _, stage := range def.Chain {
		switch stage {
		case middleware.StageCorrelation:
			chain = append(chain, middleware.Correlation)
		case middleware.StageLogging:
			chain = append(chain, middleware.Logging{Logger: b.logger}.Middleware)
		case middleware.StageMetrics:
			chain = append(chain, b.metrics.Middleware)
		case middleware.StageThrottle:
			throttle, err := middleware.NewThrottle(middleware.Throttle{PerSecond: cfg.Throttle.PerSecond, Burst: cfg.Throttle.Burst})
			if err != nil {
				return nil, err
			}
			if throttle != nil {
				chain = append(chain, throttle)
			}
		case middleware.StageDedup:
			chain = append(chain, middleware.Dedup{
				Store:       b.claims,
				Lease:       b.cfg.Dedup.Lease,
				TTL:         b.cfg.Dedup.TTL,
				FailOpen:    b.cfg.Dedup.FailOpen,
				Logger:      b.logger,
				OnDuplicate: b.metrics.Duplicate,
			}.Middleware)
		case middleware.StageTimeout:
			chain = append(chain, wmmiddleware.Timeout(cfg.Timeout))
		case middleware.StagePoison:
			chain = append(chain, middleware.Poison{
				Publisher:  b.transport.Publisher,
				Topic:      handlers.PoisonTopic,
				Logger:     b.logger,
				OnPoisoned: b.metrics.Poisoned,
			}.Middleware)
		case middleware.StageRedeliver:
			if b.transport.Delayer != nil {
				chain = append(chain, middleware.Redeliver{
					Delayer: b.transport.Delayer,
					Delays:  b.cfg.AMQP.RetryDelays,
					Queue:   handlers.QueueName,
					Logger:  b.logger,
				}.Middleware)
			}
		case middleware.StageRetry:
			r := cfg.Retry
			chain = append(chain, middleware.Retry{
				MaxAttempts:     r.MaxAttempts,
				InitialInterval: r.InitialInterval,
				MaxInterval:     r.MaxInterval,
				MaxElapsed:      r.MaxElapsed,
				Jitter:          r.Jitter,
			}.Middleware)
		case middleware.StageRecoverer:
			chain = append(chain, wmmiddleware.Recoverer)
		default:
			return nil, fmt.Errorf("unknown stage %q", stage)
		}
	}
	return chain, nil
}

// closeWithin runs closeFn and gives up after timeout, so shutdown never hangs.
func closeWithin(timeout time.Duration, closeFn func() error) error {
	done := make(chan error, 1)
	go func() { done <- closeFn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("not closed within %s", timeout)
	}
}
