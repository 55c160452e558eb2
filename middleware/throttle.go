package middleware

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Throttle limits one handler to PerSecond messages a second with bursts of Burst, a token
// bucket of its own (Watermill's Throttle is one ticker shared by every handler it wraps,
// with no burst). A message waits for a token; while it waits its context still runs, so
// shutdown is not held up.
type Throttle struct {
	PerSecond float64
	Burst     int
	// OnWait is told how long each message waited for its token (0 within a burst), e.g.
	// to show when the limit, not the handler, sets the pace.
	OnWait func(handler string, waited time.Duration)
}

// NewThrottle returns the middleware, or nil when PerSecond is 0 (no limit).
func NewThrottle(t Throttle) (message.HandlerMiddleware, error) {
	if t.PerSecond == 0 {
		return nil, nil
	}
	if t.PerSecond < 0 || t.Burst < 1 {
		return nil, fmt.Errorf("throttle: per_second must be >= 0 and burst >= 1, got %v and %d", t.PerSecond, t.Burst)
	}
	limiter := rate.NewLimiter(rate.Limit(t.PerSecond), t.Burst)
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			start := time.Now()
			if err := limiter.Wait(msg.Context()); err != nil {
				return nil, fmt.Errorf("throttle: %w", err)
			}
			if t.OnWait != nil {
				t.OnWait(message.HandlerNameFromCtx(msg.Context()), time.Since(start))
			}
			return h(msg)
		}
	}, nil
}
