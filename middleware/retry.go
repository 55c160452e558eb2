package middleware

import (
	"errors"
	"math"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Retry retries transient errors in process with exponential backoff and jitter.
// Permanent errors (domain.IsPermanent) are returned at once. Its values come from the
// configuration (configs/default.yaml holds the defaults); a zero field means what it
// says: no retry, no delay, no cap, no limit, no jitter. The first attempt costs nothing
// beyond the call: the backoff is built only after a failure (Watermill's Retry builds
// it for every message).
type Retry struct {
	// MaxAttempts counts the first call too; below 1 it is 1.
	MaxAttempts int
	// InitialInterval is the first delay.
	InitialInterval time.Duration
	// MaxInterval caps each delay; 0 leaves them uncapped.
	MaxInterval time.Duration
	// MaxElapsed stops retrying once this much time has passed; 0 never stops early.
	MaxElapsed time.Duration
	// Jitter spreads each delay by ± this share, so retries of many messages do not
	// arrive together.
	Jitter float64
	// OnRetry is called before each call after the first, e.g. to count it.
	OnRetry func(handler string)
}

// AttemptsError is the error a message failed with after Attempts calls of its handler.
type AttemptsError struct {
	Attempts int
	Err      error
}

// Error is the last error's text alone, so a poisoned message's reason is the rule it
// broke; the count travels separately.
func (e *AttemptsError) Error() string { return e.Err.Error() }
func (e *AttemptsError) Unwrap() error { return e.Err }

// AttemptsOf returns how many times the handler ran before err, or 1 when err does not
// say.
func AttemptsOf(err error) int {
	var a *AttemptsError
	if errors.As(err, &a) {
		return a.Attempts
	}
	return 1
}

func retryable(err error) bool {
	k := KindOf(err)
	return k == Transient || k == Waiting
}

// Middleware returns the retrying middleware; its errors are *AttemptsError.
func (r Retry) Middleware(h message.HandlerFunc) message.HandlerFunc {
	if r.MaxInterval == 0 {
		r.MaxInterval = math.MaxInt64
	}
	return func(msg *message.Message) ([]*message.Message, error) {
		// A Timeout inside leaves its expired context on the message; each attempt
		// starts again from the context the message came with.
		ctx := msg.Context()
		produced, err := h(msg)
		if err == nil {
			return produced, nil
		}
		attempts := 1
		if retryable(err) {
			b := backoff.NewExponentialBackOff()
			b.InitialInterval, b.MaxInterval, b.Multiplier, b.RandomizationFactor = r.InitialInterval, r.MaxInterval, 2, r.Jitter
			start := time.Now()
			for attempts < r.MaxAttempts {
				delay := b.NextBackOff()
				if r.MaxElapsed > 0 && time.Since(start)+delay > r.MaxElapsed {
					break
				}
				select {
				case <-ctx.Done():
					return produced, &AttemptsError{Attempts: attempts, Err: errors.Join(err, ctx.Err())}
				case <-time.After(delay):
				}
				msg.SetContext(ctx)
				attempts++
				if r.OnRetry != nil {
					r.OnRetry(message.HandlerNameFromCtx(ctx))
				}
				if produced, err = h(msg); err == nil {
					return produced, nil
				}
				if !retryable(err) {
					break
				}
			}
		}
		return produced, &AttemptsError{Attempts: attempts, Err: err}
	}
}
