package middleware

import (
	"github.com/google/uuid"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app/envelope"
)

// Correlation gives every message a correlation id (a new one when it came without) and
// puts the handled message into the context (envelope.HandledFrom). Messages the handler
// returns get the correlation id and, as causation id, the id of the message handled;
// publishers that read envelope.HandledFrom do the same for messages published inside
// the handler, which Watermill's CorrelationID middleware does not reach.
func Correlation(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		correlationID := msg.Metadata.Get(envelope.CorrelationIDKey)
		if correlationID == "" {
			correlationID = uuid.NewString()
			msg.Metadata.Set(envelope.CorrelationIDKey, correlationID)
		}
		msg.SetContext(envelope.WithHandled(msg.Context(), envelope.Handled{
			MessageID:     msg.UUID,
			CorrelationID: correlationID,
			Handler:       message.HandlerNameFromCtx(msg.Context()),
		}))

		produced, err := h(msg)
		for _, out := range produced {
			if out.Metadata.Get(envelope.CorrelationIDKey) == "" {
				out.Metadata.Set(envelope.CorrelationIDKey, correlationID)
			}
			if out.Metadata.Get(envelope.CausationIDKey) == "" {
				out.Metadata.Set(envelope.CausationIDKey, msg.UUID)
			}
		}
		return produced, err
	}
}
