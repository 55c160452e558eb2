package middleware

import (
	"context"

	"github.com/google/uuid"

	"github.com/ThreeDotsLabs/watermill/message"
	wmmiddleware "github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// Metadata keys that tie events together.
const (
	// CorrelationIDKey is the id of the whole flow; Watermill's own key, so its tools
	// read it too.
	CorrelationIDKey = wmmiddleware.CorrelationIDMetadataKey
	// CausationIDKey is the id of the message whose handling produced this one.
	CausationIDKey = "causation_id"
)

// Handled is what a handler's context knows about the message being handled, so that
// events published from inside the handler inherit its correlation and causation.
type Handled struct {
	MessageID     string
	CorrelationID string
	Handler       string
}

type handledKey struct{}

// HandledFrom returns the message being handled, if ctx belongs to a handler.
func HandledFrom(ctx context.Context) (Handled, bool) {
	h, ok := ctx.Value(handledKey{}).(Handled)
	return h, ok
}

type correlationKey struct{}

// WithCorrelationID starts a flow outside any handler, e.g. in an HTTP request.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationIDFrom returns the flow's id: the handled message's, else one set with
// WithCorrelationID, else "".
func CorrelationIDFrom(ctx context.Context) string {
	if h, ok := HandledFrom(ctx); ok {
		return h.CorrelationID
	}
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// Correlation gives every message a correlation id (a new one when it came without) and
// puts the handled message into the context. Messages the handler returns get the
// correlation id and, as causation id, the id of the message handled; publishers that
// read HandledFrom do the same for messages published inside the handler, which
// Watermill's CorrelationID middleware does not reach.
func Correlation(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		correlationID := msg.Metadata.Get(CorrelationIDKey)
		if correlationID == "" {
			correlationID = uuid.NewString()
			msg.Metadata.Set(CorrelationIDKey, correlationID)
		}
		handled := Handled{
			MessageID:     msg.UUID,
			CorrelationID: correlationID,
			Handler:       message.HandlerNameFromCtx(msg.Context()),
		}
		msg.SetContext(context.WithValue(msg.Context(), handledKey{}, handled))

		produced, err := h(msg)
		for _, out := range produced {
			if out.Metadata.Get(CorrelationIDKey) == "" {
				out.Metadata.Set(CorrelationIDKey, correlationID)
			}
			if out.Metadata.Get(CausationIDKey) == "" {
				out.Metadata.Set(CausationIDKey, msg.UUID)
			}
		}
		return produced, err
	}
}
