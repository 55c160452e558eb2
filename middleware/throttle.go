package middleware

import (
	"fmt"

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
			if err := limiter.Wait(msg.Context()); err != nil {
				return nil, fmt.Errorf("throttle: %w", err)
			}
			return h(msg)
		}
	}, nil
}
