package worker

import (
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
	wmmiddleware "github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/lease"
	"github.com/orderflow/orderflow/app/signing"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
	"github.com/orderflow/orderflow/middleware"
)

// stageBuilder turns the stages of a chain into middleware, configured for the handler.
type stageBuilder struct {
	cfg       *configs.Config
	logger    *slog.Logger
	transport Transport
	// publisher is the transport's, with publish metrics.
	publisher message.Publisher
	dedup     lease.Store
	metrics   *middleware.Metrics
	clock     app.Clock
	keys      *signing.Keys
	// inbox leaves the dedup claim of the handler being built to the stores.
	inbox bool
}

// builtinStage builds a built-in stage for a handler configured by hc; nil middleware
// means the stage has nothing to do under this configuration.
type builtinStage func(b stageBuilder, hc configs.Handler) (message.HandlerMiddleware, error)

// builtinStages are the built-in stages by name. A custom stage carries its constructor
// instead (handlers.Custom).
var builtinStages = map[string]builtinStage{
	handlers.StageCorrelation.Name: func(stageBuilder, configs.Handler) (message.HandlerMiddleware, error) {
		return middleware.Correlation, nil
	},
	handlers.StageLogging.Name: func(b stageBuilder, _ configs.Handler) (message.HandlerMiddleware, error) {
		return middleware.Logging{Logger: b.logger}.Middleware, nil
	},
	handlers.StageMetrics.Name: func(b stageBuilder, _ configs.Handler) (message.HandlerMiddleware, error) {
		return b.metrics.Middleware, nil
	},
	handlers.StageThrottle.Name: func(b stageBuilder, hc configs.Handler) (message.HandlerMiddleware, error) {
		return middleware.NewThrottle(middleware.Throttle{PerSecond: hc.Throttle.PerSecond, Burst: hc.Throttle.Burst, OnWait: b.metrics.Waited})
	},
	handlers.StagePoison.Name: func(b stageBuilder, _ configs.Handler) (message.HandlerMiddleware, error) {
		return middleware.Poison{
			Publisher:  b.publisher,
			Topic:      envelope.PoisonTopic,
			Logger:     b.logger,
			OnPoisoned: b.metrics.Poisoned,
		}.Middleware, nil
	},
	handlers.StageVerify.Name: func(b stageBuilder, _ configs.Handler) (message.HandlerMiddleware, error) {
		var open []string
		if !b.cfg.Signing.RequireSignedOrders {
			open = []string{event.OrderPlacedName}
		}
		return middleware.Verify{Keys: b.keys, Open: open}.Middleware, nil
	},
	handlers.StageRedeliver.Name: func(b stageBuilder, _ configs.Handler) (message.HandlerMiddleware, error) {
		if b.transport.Delayer == nil {
			return nil, nil
		}
		return middleware.Redeliver{
			Delayer: b.transport.Delayer,
			Delays:  b.cfg.AMQP.RetryDelays,
			Queue:   envelope.QueueName,
			Logger:  b.logger,
		}.Middleware, nil
	},
	handlers.StageRetry.Name: func(b stageBuilder, hc configs.Handler) (message.HandlerMiddleware, error) {
		r := hc.Retry
		return middleware.Retry{
			MaxAttempts:     r.MaxAttempts,
			InitialInterval: r.InitialInterval,
			MaxInterval:     r.MaxInterval,
			MaxElapsed:      r.MaxElapsed,
			Jitter:          r.Jitter,
			OnRetry:         b.metrics.Retried,
		}.Middleware, nil
	},
	handlers.StageDedup.Name: func(b stageBuilder, _ configs.Handler) (message.HandlerMiddleware, error) {
		return middleware.Dedup{
			Store:       b.dedup,
			Lease:       b.cfg.Dedup.Lease,
			TTL:         b.cfg.Dedup.TTL,
			FailOpen:    b.cfg.Dedup.FailOpen,
			Logger:      b.logger,
			OnDuplicate: b.metrics.Duplicate,
			Defer:       b.inbox,
		}.Middleware, nil
	},
	handlers.StageTimeout.Name: func(_ stageBuilder, hc configs.Handler) (message.HandlerMiddleware, error) {
		return wmmiddleware.Timeout(hc.Timeout), nil
	},
	handlers.StageRecoverer.Name: func(stageBuilder, configs.Handler) (message.HandlerMiddleware, error) {
		return wmmiddleware.Recoverer, nil
	},
}

func (b stageBuilder) build(handler string, chain handlers.Chain) ([]message.HandlerMiddleware, error) {
	hc := b.cfg.Handler(handler)
	out := make([]message.HandlerMiddleware, 0, len(chain))
	for _, stage := range chain {
		var m message.HandlerMiddleware
		var err error
		if custom, ok := stage.Build(); ok {
			m, err = custom(handlers.StageEnv{Handler: handler, Logger: b.logger, Clock: b.clock})
		} else if builtin, ok := builtinStages[stage.Name]; ok {
			m, err = builtin(b, hc)
		} else {
			return nil, fmt.Errorf("unknown stage %q", stage.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", stage.Name, err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
	return out, nil
}
