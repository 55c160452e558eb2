package worker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
)

// RouteLibraryLogs sends what go-redis and amqp091-go log (through package-level loggers
// of their own, in plain text on stderr by default) to logger, so every line the process
// writes is one JSON object. Call it once, before connecting.
func RouteLibraryLogs(logger *slog.Logger) {
	redis.SetLogger(redisPrintf{printfLogger{logger: logger.With("library", "go-redis")}})
	amqp.SetLogger(printfLogger{logger: logger.With("library", "amqp091-go")})
}

// printfLogger is a Printf-style logger on slog, at warn: both libraries log only what
// went wrong (a dial failed, a pool closed a connection).
type printfLogger struct{ logger *slog.Logger }

func (l printfLogger) Printf(format string, v ...any) {
	l.logger.Warn(strings.TrimSpace(fmt.Sprintf(format, v...)))
}

// redisPrintf is printfLogger with the context go-redis passes.
type redisPrintf struct{ printfLogger }

func (l redisPrintf) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)))
}
