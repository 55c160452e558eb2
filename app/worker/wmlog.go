package worker

import (
	"context"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
)

// watermillLogger adapts logger for Watermill. Watermill builds the attributes of its
// per-message trace and debug lines before slog can discard them, which costs every
// message; this adapter drops them first unless debug is on. With quiet, Watermill's
// info lines (one per message published to a topic nobody consumes, on GoChannel) become
// debug lines.
func watermillLogger(logger *slog.Logger, quiet bool) watermill.LoggerAdapter {
	levels := map[slog.Level]slog.Level{}
	if quiet {
		levels[slog.LevelInfo] = slog.LevelDebug
	}
	return gatedLogger{
		LoggerAdapter: watermill.NewSlogLoggerWithLevelMapping(logger, levels),
		debug:         logger.Enabled(context.Background(), slog.LevelDebug),
	}
}

type gatedLogger struct {
	watermill.LoggerAdapter
	debug bool
}

func (g gatedLogger) Debug(msg string, fields watermill.LogFields) {
	if g.debug {
		g.LoggerAdapter.Debug(msg, fields)
	}
}

func (g gatedLogger) Trace(msg string, fields watermill.LogFields) {
	if g.debug {
		g.LoggerAdapter.Trace(msg, fields)
	}
}

func (g gatedLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return gatedLogger{LoggerAdapter: g.LoggerAdapter.With(fields), debug: g.debug}
}
