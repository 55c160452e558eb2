package middleware

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Poison moves a message whose handler failed for good to the poison topic, with the
// reason, the handler, the original routing key and the number of attempts, and acks it.
// The poisoned message keeps its id, payload and metadata. When the poison topic cannot
// take it, the original is nacked: nothing is lost.
type Poison struct {
	Publisher message.Publisher
	// Topic is where poisoned messages go.
	Topic string
	// ShouldPoison picks the errors that poison a message; nil poisons every error.
	ShouldPoison func(error) bool
	// OnPoisoned is called for each poisoned message, e.g. to count it.
	OnPoisoned func(handler string)
	Logger     *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Middleware returns the poison-queue middleware.
func (p Poison) Middleware(h message.HandlerFunc) message.HandlerFunc {
	now := p.Now
	if now == nil {
		now = time.Now
	}
	logger := p.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return func(msg *message.Message) ([]*message.Message, error) {
		produced, err := h(msg)
		if err == nil || (p.ShouldPoison != nil && !p.ShouldPoison(err)) {
			return produced, err
		}
		handler := message.HandlerNameFromCtx(msg.Context())
		poisoned := msg.Copy()
		poisoned.Metadata.Set(PoisonReasonKey, err.Error())
		poisoned.Metadata.Set(PoisonHandlerKey, handler)
		poisoned.Metadata.Set(PoisonRoutingKeyKey, msg.Metadata.Get(EventNameKey))
		poisoned.Metadata.Set(PoisonAttemptsKey, strconv.Itoa(AttemptsOf(err)))
		poisoned.Metadata.Set(PoisonedAtKey, now().UTC().Format(time.RFC3339Nano))
		if perr := p.Publisher.Publish(p.Topic, poisoned); perr != nil {
			return nil, fmt.Errorf("poison message %s: %w (handler error: %v)", msg.UUID, perr, err)
		}
		logger.ErrorContext(msg.Context(), "message poisoned",
			"handler", handler, "message_id", msg.UUID,
			"routing_key", msg.Metadata.Get(EventNameKey), "reason", err.Error(),
			"attempts", AttemptsOf(err))
		if p.OnPoisoned != nil {
			p.OnPoisoned(handler)
		}
		return nil, nil
	}
}
