package middleware_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	wmmiddleware "github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/middleware"
)

func TestRetry_transient_errors_back_off_exponentially(t *testing.T) {
	t.Parallel()
	failures := 3
	r := newRig(t, func(msg *message.Message) ([]*message.Message, error) {
		if failures > 0 {
			failures--
			return nil, errors.New("provider timed out")
		}
		return []*message.Message{message.NewMessage("out-1", nil)}, nil
	}, middleware.Retry{MaxAttempts: 5, InitialInterval: 20 * time.Millisecond, MaxInterval: 50 * time.Millisecond, MaxElapsed: 5 * time.Second, Jitter: 0.1}.Middleware)

	r.publish(t, message.NewMessage("m1", nil))
	receive(t, r.out)
	calls := r.callTimes()
	require.Len(t, calls, 4, "three failures, then success")
	// Delays 20ms, 40ms, then capped at 50ms; ±10% jitter.
	for i, min := range []time.Duration{18 * time.Millisecond, 36 * time.Millisecond, 45 * time.Millisecond} {
		assert.GreaterOrEqual(t, calls[i+1].Sub(calls[i]), min, "delay before attempt %d", i+2)
	}
}

func TestRetry_stops_at_max_attempts_then_poison(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(*message.Message) ([]*message.Message, error) {
		return nil, errors.New("provider timed out")
	},
		middleware.Retry{MaxAttempts: 3, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond, MaxElapsed: 5 * time.Second}.Middleware)

	r.publish(t, message.NewMessage("m1", nil))
	poisoned := receive(t, r.poison)
	assert.Len(t, r.callTimes(), 3)
	assert.Equal(t, "3", poisoned.Metadata.Get(envelope.PoisonAttemptsKey))
	assert.Equal(t, "provider timed out", poisoned.Metadata.Get(envelope.PoisonReasonKey))
}

func TestRetry_stops_at_max_elapsed(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(*message.Message) ([]*message.Message, error) {
		return nil, errors.New("provider timed out")
	},
		middleware.Retry{MaxAttempts: 1000, InitialInterval: 30 * time.Millisecond, MaxInterval: 30 * time.Millisecond, MaxElapsed: 100 * time.Millisecond, Jitter: 0.01}.Middleware)
	r.publish(t, message.NewMessage("m1", nil))
	receive(t, r.poison)
	n := len(r.callTimes())
	assert.GreaterOrEqual(t, n, 2)
	assert.LessOrEqual(t, n, 5, "max elapsed ends the retries long before max attempts")
}

func TestRetry_permanent_error_goes_to_poison_at_once(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(*message.Message) ([]*message.Message, error) {
		return nil, domain.Rulef("items[0].quantity must be 1..1000")
	},
		middleware.Retry{MaxAttempts: 5, InitialInterval: time.Second}.Middleware)

	r.publish(t, message.NewMessage("m1", []byte(`{"x":1}`)))
	poisoned := receive(t, r.poison)
	assert.Len(t, r.callTimes(), 1, "a permanent error is not retried")
	assert.Equal(t, "items[0].quantity must be 1..1000", poisoned.Metadata.Get(envelope.PoisonReasonKey))
	assert.Equal(t, "1", poisoned.Metadata.Get(envelope.PoisonAttemptsKey))
}

func TestRecoverer_panic_becomes_a_retried_error(t *testing.T) {
	t.Parallel()
	panics := 2
	r := newRig(t, func(*message.Message) ([]*message.Message, error) {
		if panics > 0 {
			panics--
			panic("nil map")
		}
		return []*message.Message{message.NewMessage("out-1", nil)}, nil
	},
		middleware.Retry{MaxAttempts: 5, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}.Middleware,
		wmmiddleware.Recoverer)
	r.publish(t, message.NewMessage("m1", nil))
	receive(t, r.out)
	assert.Len(t, r.callTimes(), 3)
	assert.Empty(t, r.poison)
}

func TestRecoverer_panic_every_time_is_poisoned_with_the_panic(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(*message.Message) ([]*message.Message, error) { panic("nil map") },
		middleware.Retry{MaxAttempts: 2, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}.Middleware,
		wmmiddleware.Recoverer)
	r.publish(t, message.NewMessage("m1", nil))
	poisoned := receive(t, r.poison)
	assert.Contains(t, poisoned.Metadata.Get(envelope.PoisonReasonKey), `panic occurred: "nil map"`)
}
