package middleware

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app/envelope"
)

type loggerKey struct{}

// messageLogger builds the logger of a message on first use: most messages log nothing,
// and slog's With formats its attributes up front.
type messageLogger struct {
	once   sync.Once
	base   *slog.Logger
	msg    *message.Message
	logger *slog.Logger
}

func (m *messageLogger) get() *slog.Logger {
	m.once.Do(func() {
		m.logger = m.base.With(
			"handler", message.HandlerNameFromCtx(m.msg.Context()),
			"message_id", m.msg.UUID,
			"event", m.msg.Metadata.Get(envelope.EventNameKey),
			"correlation_id", m.msg.Metadata.Get(envelope.CorrelationIDKey),
			"causation_id", m.msg.Metadata.Get(envelope.CausationIDKey),
		)
	})
	return m.logger
}

// LoggerFrom returns the logger of the message being handled, which names the handler,
// the message id, and the correlation and causation ids on every line; else fallback.
func LoggerFrom(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*messageLogger); ok {
		return l.get()
	}
	if fallback == nil {
		return slog.Default()
	}
	return fallback
}

// Logging puts a logger carrying the message's ids into its context for every later stage
// and the handler, and logs each message's end: debug when handled, warn when it fails.
// It must come after Correlation, which sets the correlation id.
type Logging struct {
	Logger *slog.Logger
}

// Middleware returns the logging middleware.
func (l Logging) Middleware(h message.HandlerFunc) message.HandlerFunc {
	debug := l.Logger.Enabled(context.Background(), slog.LevelDebug)
	return func(msg *message.Message) ([]*message.Message, error) {
		logger := &messageLogger{base: l.Logger, msg: msg}
		ctx := context.WithValue(msg.Context(), loggerKey{}, logger)
		msg.SetContext(ctx)
		start := time.Now()
		produced, err := h(msg)
		if err != nil {
			logger.get().WarnContext(ctx, "message failed", "error", err.Error(), "duration", time.Since(start))
			return produced, err
		}
		if debug {
			logger.get().DebugContext(ctx, "message handled", "duration", time.Since(start))
		}
		return produced, nil
	}
}
