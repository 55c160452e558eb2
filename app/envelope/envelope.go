// Package envelope is the message contract every transport, handler and middleware
// shares: the metadata keys a message carries, the correlation and causation of a flow,
// and the names of queues. It imports nothing but the standard library, so the
// in-process broker and the HTTP API link neither Redis nor Prometheus through it.
package envelope

import "context"

// EventNameKey carries the event name, which is also its routing key. Transports set it
// on every message they deliver, so a handler can tell its events apart.
const EventNameKey = "event_name"

// Metadata keys that tie events together.
const (
	// CorrelationIDKey is the id of the whole flow; the key Watermill's own
	// CorrelationID middleware uses, so its tools read it too.
	CorrelationIDKey = "correlation_id"
	// CausationIDKey is the id of the message whose handling produced this one.
	CausationIDKey = "causation_id"
)

// Metadata keys a poisoned message carries besides its own.
const (
	PoisonReasonKey     = "poison_reason"
	PoisonHandlerKey    = "poison_handler"
	PoisonRoutingKeyKey = "poison_routing_key"
	PoisonAttemptsKey   = "poison_attempts"
	PoisonedAtKey       = "poisoned_at"
)

// Metadata keys of a message replayed from the poison queue. The handler that poisoned
// it claims it afresh under its replay id, so the claim that marked it done when it was
// poisoned does not drop it now; every other handler still finds it done.
const (
	ReplayHandlerKey = "replay_handler"
	ReplayIDKey      = "replay_id"
)

// Metadata a message parked for delayed redelivery carries.
const (
	// RedeliveriesKey counts the delayed redeliveries so far.
	RedeliveriesKey = "redeliveries"
	// AttemptsBeforeKey counts the handler attempts of the earlier deliveries.
	AttemptsBeforeKey = "attempts_before"
)

// Metadata keys of a signed event (README, "Signed events"): an HMAC-SHA256 over its
// routing key, id and body, in hex, and the id of the key that made it.
const (
	SignatureKey = "orderflow_signature"
	KeyIDKey     = "orderflow_key_id"
)

// RejectedKey carries why a transport refused a message it still delivers (a body or
// headers over the limits), so that it is poisoned with that reason instead of handled:
// the AMQP subscriber does it before any handler's chain. Transports drop the key from
// what a producer sent.
const RejectedKey = "orderflow_rejected"

// RedeliveredKey is "true" on a message the broker delivered before (AMQP's redelivered
// flag: the worker that had it died or handed it back). The AMQP subscriber sets it from
// the delivery, never from a header, and never sends it; Dedup reads it to tell whether a
// message found handled may still owe its event (app/inbox).
const RedeliveredKey = "orderflow_redelivered"

// Internal lists the metadata keys that steer Orderflow itself. They count only on a
// signed message; on any other they are dropped before a handler's chain reads them.
var Internal = []string{
	PoisonReasonKey, PoisonHandlerKey, PoisonRoutingKeyKey, PoisonAttemptsKey, PoisonedAtKey,
	ReplayHandlerKey, ReplayIDKey, RedeliveriesKey, AttemptsBeforeKey,
}

// PoisonTopic is the durable queue that holds messages no handler could process.
const PoisonTopic = "orderflow.poison"

// QueueName returns the queue a handler consumes from: orderflow.<handler>.
func QueueName(handler string) string { return "orderflow." + handler }

// Handled is what a handler's context knows about the message being handled, so that
// events published from inside the handler inherit its correlation and causation.
type Handled struct {
	MessageID     string
	CorrelationID string
	Handler       string
}

type handledKey struct{}

// WithHandled marks ctx as handling the message h describes.
func WithHandled(ctx context.Context, h Handled) context.Context {
	return context.WithValue(ctx, handledKey{}, h)
}

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
