// Package worker assembles the Watermill router from the handler table, the HTTP API and
// the stores into one process, and runs it until its context ends.
package worker

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/signing"
	"github.com/orderflow/orderflow/app/tracing"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/handlers"
	"github.com/orderflow/orderflow/middleware"
)

// NewRouter adds every handler of table to a router, each on its own queue with its own
// chain; handlers publish events through events, and the poison stage through out.
// Every problem of every row (its settings, its chain, its configuration) is reported
// together.
func NewRouter(cfg *configs.Config, logger *slog.Logger, transport Transport, out message.Publisher, storage Storage, metrics *middleware.Metrics, application *app.Application, events app.EventPublisher, table []handlers.Definition, clock app.Clock, keys *signing.Keys, tracer tracing.Tracer) (*message.Router, error) {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.ShutdownTimeout}, watermillLogger(logger, false))
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	// Outside every chain: the stack first, grown once to what handling needs
	// (middleware.GrowStack), then each message's span, covering all of its handler's
	// stages.
	router.AddMiddleware(middleware.GrowStack, tracer.Middleware)
	rows, err := BuildHandlers(cfg, logger, storage, application, table, clock)
	if err != nil {
		return nil, err
	}
	stages := stageBuilder{cfg: cfg, logger: logger, transport: transport, publisher: out, dedup: storage.Dedup, metrics: metrics, clock: clock, keys: keys}
	// The router closes a handler's subscriber when it stops; the transport is shared by
	// every handler and the HTTP API, so only its owner closes it.
	sub := unclosable{transport.Subscriber}
	if c, ok := transport.Subscriber.(poisonCounter); ok {
		c.CountPoisoned(metrics.Rejected)
	}
	var errs []error
	for _, row := range rows {
		queue := envelope.QueueName(row.Name)
		if err := transport.Subscriber.Bind(queue, cfg.Handler(row.Name).Consumers, row.Handler.Events()...); err != nil {
			errs = append(errs, fmt.Errorf("bind handler %s: %w", row.Name, err))
			continue
		}
		rowStages := stages
		rowStages.inbox = row.Handler.Inbox() && storage.Inbox
		chain, err := rowStages.build(row.Name, row.Chain)
		if err != nil {
			errs = append(errs, fmt.Errorf("chain of handler %s: %w", row.Name, err))
			continue
		}
		if row.Chain.Has(handlers.StageMetrics) {
			metrics.Prepare(row.Name)
		}
		router.AddConsumerHandler(row.Name, queue, sub, row.Handler.Func(events)).AddMiddleware(chain...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return router, nil
}

// BuiltHandler is a row of the table with its handler constructed.
type BuiltHandler struct {
	handlers.Definition
	Handler handlers.Handler
}

// BuildHandlers constructs the handler of every row, each with its own state, settings,
// clock and logger, and checks the configuration against the rows: a block for a handler
// that does not exist, for a stage its chain lacks, or settings for a handler that takes
// none are errors, since they would otherwise be silently ignored.
func BuildHandlers(cfg *configs.Config, logger *slog.Logger, storage Storage, application *app.Application, table []handlers.Definition, clock app.Clock) ([]BuiltHandler, error) {
	var errs []error
	known := map[string]bool{}
	built := make([]BuiltHandler, 0, len(table))
	for _, def := range table {
		if known[def.Name] {
			errs = append(errs, fmt.Errorf("handler %s: two rows have that name", def.Name))
			continue
		}
		known[def.Name] = true
		if err := def.Chain.Check(); err != nil {
			errs = append(errs, fmt.Errorf("chain of handler %s: %w", def.Name, err))
		}
		override := cfg.Handlers[def.Name]
		errs = append(errs, checkStageConfig(def, override)...)
		decoded := false
		var settingsErr error
		deps := handlers.Deps{
			Name:   def.Name,
			App:    application,
			State:  storage.State(def.Name),
			Clock:  clock,
			Logger: logger.With("handler", def.Name),
			Settings: func(dst any) error {
				decoded = true
				settingsErr = configs.DecodeSettings("handlers."+def.Name+".settings", override.Settings, dst)
				return settingsErr
			},
		}
		h, err := def.New(deps)
		if err != nil {
			if settingsErr == nil || !errors.Is(err, settingsErr) {
				// Settings errors name their setting already.
				err = fmt.Errorf("handler %s: %w", def.Name, err)
			}
			errs = append(errs, err)
			continue
		}
		if !decoded && override.Settings.Kind != 0 {
			errs = append(errs, fmt.Errorf("handlers.%s.settings: handler %s takes no settings", def.Name, def.Name))
		}
		if len(h.Events()) == 0 {
			errs = append(errs, fmt.Errorf("handler %s consumes no event", def.Name))
		}
		built = append(built, BuiltHandler{Definition: def, Handler: h})
	}
	for name := range cfg.Handlers {
		if !known[name] {
			errs = append(errs, fmt.Errorf("handlers.%s: no handler has that name", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return built, nil
}

// checkStageConfig refuses a configuration block for a stage the handler's chain lacks.
func checkStageConfig(def handlers.Definition, o configs.HandlerOverride) []error {
	var errs []error
	lacks := func(set bool, block string, stage handlers.Stage) {
		if set && !def.Chain.Has(stage) {
			errs = append(errs, fmt.Errorf("handlers.%s.%s: the chain of %s has no %s stage", def.Name, block, def.Name, stage.Name))
		}
	}
	lacks(o.Throttle != nil, "throttle", handlers.StageThrottle)
	lacks(o.Retry != nil, "retry", handlers.StageRetry)
	lacks(o.Timeout != nil, "timeout", handlers.StageTimeout)
	return errs
}

// poisonCounter is a subscriber that poisons some messages itself, before any chain sees
// them (the AMQP subscriber, those over amqp.max_* limits); they are counted with the
// poison stage's counter all the same, and under outcome rejected.
type poisonCounter interface {
	CountPoisoned(fn func(handler string))
}

type unclosable struct{ message.Subscriber }

func (unclosable) Close() error { return nil }
