package middleware

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app/envelope"
)

// Poison moves a message whose handler failed for good to the poison topic, with the
// reason, the handler, the original routing key and the number of attempts, and acks it.
// The poisoned message keeps its id, payload and metadata. When the poison topic cannot
// take it, the original is nacked: nothing is lost.
type Poison struct {
	Publisher message.Publisher
	// Topic is where poisoned messages go.
	Topic string
	// ShouldPoison picks the errors that poison a message; nil means Poisonable.
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
	shouldPoison := p.ShouldPoison
	if shouldPoison == nil {
		shouldPoison = Poisonable
	}
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx, held := WithHeldClaim(msg.Context())
		msg.SetContext(ctx)
		produced, err := h(msg)
		if err == nil || !shouldPoison(err) {
			return produced, err
		}
		handler := message.HandlerNameFromCtx(msg.Context())
		poisoned := msg.Copy()
		poisoned.Metadata.Set(envelope.PoisonReasonKey, err.Error())
		poisoned.Metadata.Set(envelope.PoisonHandlerKey, handler)
		poisoned.Metadata.Set(envelope.PoisonRoutingKeyKey, msg.Metadata.Get(envelope.EventNameKey))
		poisoned.Metadata.Set(envelope.PoisonAttemptsKey, strconv.Itoa(AttemptsOf(err)))
		poisoned.Metadata.Set(envelope.PoisonedAtKey, now().UTC().Format(time.RFC3339Nano))
		if perr := p.Publisher.Publish(p.Topic, poisoned); perr != nil {
			return nil, fmt.Errorf("poison message %s: %w (handler error: %v)", msg.UUID, perr, err)
		}
		logger := LoggerFrom(ctx, p.Logger)
		logger.ErrorContext(ctx, "message poisoned",
			"handler", handler, "message_id", msg.UUID,
			"routing_key", msg.Metadata.Get(envelope.EventNameKey), "reason", err.Error(),
			"attempts", AttemptsOf(err))
		if err := held.MarkDone(ctx); err != nil {
			logger.WarnContext(ctx, "poisoned message not marked done; a duplicate may be poisoned too", "error", err.Error())
		}
		report(ctx, OutcomePoisoned)
		if p.OnPoisoned != nil {
			p.OnPoisoned(handler)
		}
		return nil, nil
	}
}

// Poisonable reports whether a message that failed with err belongs in the poison queue:
// every error but those that say nothing about the message. A message whose context was
// cancelled (shutdown), whose store or broker is down, or whose duplicate is in flight is
// handed back for redelivery instead.
func Poisonable(err error) bool {
	k := KindOf(err)
	return k == Permanent || k == Transient
}
