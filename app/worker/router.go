// Package worker assembles the Watermill router from the handler table, the HTTP API and
// the stores into one process, and runs it until its context ends.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	wmmiddleware "github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/handlers"
	"github.com/orderflow/orderflow/middleware"
)

// Subscriber is a transport's subscriber: queues are bound to event names before the
// router subscribes to them.
type Subscriber interface {
	message.Subscriber
	Bind(queue string, events ...string) error
}

// Transport is the broker a worker runs on.
type Transport struct {
	Publisher  message.Publisher
	Subscriber Subscriber
	// Check reports whether the broker answers, for readiness.
	Check func(ctx context.Context) error
}

// NewRouter adds every handler of table to a router, each on its own queue with its own
// chain.
func NewRouter(cfg *configs.Config, logger *slog.Logger, transport Transport, application *app.Application, publisher app.EventPublisher, table []handlers.Definition) (*message.Router, error) {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.ShutdownTimeout}, watermill.NewSlogLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	stages := stageBuilder{cfg: cfg, logger: logger, transport: transport}
	// The router closes a handler's subscriber when it stops; the transport is shared by
	// every handler and the HTTP API, so only its owner closes it.
	sub := unclosable{transport.Subscriber}
	for _, def := range table {
		h := def.New(application)
		queue := handlers.QueueName(def.Name)
		if err := transport.Subscriber.Bind(queue, h.Events()...); err != nil {
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

type unclosable struct{ message.Subscriber }

func (unclosable) Close() error { return nil }

// stageBuilder turns the stages of a chain into middleware, configured for the handler.
type stageBuilder struct {
	cfg       *configs.Config
	logger    *slog.Logger
	transport Transport
}

func (b stageBuilder) build(def handlers.Definition) ([]message.HandlerMiddleware, error) {
	chain := make([]message.HandlerMiddleware, 0, len(def.Chain))
	for _, stage := range def.Chain {
		switch stage {
		case middleware.StageCorrelation:
			chain = append(chain, middleware.Correlation)
		case middleware.StagePoison:
			chain = append(chain, middleware.Poison{
				Publisher: b.transport.Publisher,
				Topic:     handlers.PoisonTopic,
				Logger:    b.logger,
			}.Middleware)
		case middleware.StageRetry:
			r := b.cfg.Retry
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
