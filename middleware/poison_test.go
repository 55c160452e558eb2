package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/middleware"
)

func TestPoison_keeps_the_message_and_adds_why(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(*message.Message) ([]*message.Message, error) {
		return nil, &domain.MalformedError{What: "order.placed", Err: errors.New("unexpected end of JSON input")}
	})
	msg := message.NewMessage("m-42", []byte(`{"order_id":`))
	msg.Metadata.Set(envelope.EventNameKey, "order.placed")
	msg.Metadata.Set("x-custom", "kept")
	before := time.Now().UTC().Add(-time.Second)
	r.publish(t, msg)

	poisoned := receive(t, r.poison)
	assert.Equal(t, "m-42", poisoned.UUID, "the id is kept")
	assert.Equal(t, `{"order_id":`, string(poisoned.Payload), "the body is kept")
	assert.Equal(t, "kept", poisoned.Metadata.Get("x-custom"), "the headers are kept")
	assert.Equal(t, "decode order.placed: unexpected end of JSON input", poisoned.Metadata.Get(envelope.PoisonReasonKey))
	assert.Equal(t, "h", poisoned.Metadata.Get(envelope.PoisonHandlerKey))
	assert.Equal(t, "order.placed", poisoned.Metadata.Get(envelope.PoisonRoutingKeyKey))
	assert.Equal(t, "1", poisoned.Metadata.Get(envelope.PoisonAttemptsKey))
	at, err := time.Parse(time.RFC3339Nano, poisoned.Metadata.Get(envelope.PoisonedAtKey))
	require.NoError(t, err)
	assert.True(t, at.After(before))
	assert.Len(t, r.callTimes(), 1, "the poisoned message is acked, not redelivered")
}

func TestPoisonable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		Name   string
		Err    error
		Poison bool
	}{
		{"rule", domain.Rulef("x"), true},
		{"transient after retries", errors.New("timeout"), true},
		{"shutdown", fmt.Errorf("reserve: %w", context.Canceled), false},
		{"store down", domain.Unavailable("get order", errors.New("connection refused")), false},
		{"duplicate in flight", fmt.Errorf("%w: h:m", middleware.ErrInFlight), false},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.Poison, middleware.Poisonable(tt.Err))
		})
	}
}

func TestPoison_hands_back_what_says_nothing_about_the_message(t *testing.T) {
	t.Parallel()
	down := 2
	r := newRig(t, func(*message.Message) ([]*message.Message, error) {
		if down > 0 {
			down--
			return nil, domain.Unavailable("get order", errors.New("connection refused"))
		}
		return []*message.Message{message.NewMessage("out", nil)}, nil
	})
	r.publish(t, message.NewMessage("m1", nil))
	receive(t, r.out)
	assert.Len(t, r.callTimes(), 3, "nacked twice, redelivered, then handled")
	assert.Empty(t, r.poison)
}
