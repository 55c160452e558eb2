package middleware

import (
	"fmt"
	"slices"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/signing"
)

// SignatureError is a message whose signature is missing or wrong: never applied, it is
// poisoned at once with a reason that starts with "signature".
type SignatureError struct {
	RoutingKey string
	Err        error
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("%v (routing key %q)", e.Err, e.RoutingKey)
}

func (e *SignatureError) Unwrap() error { return e.Err }

// Permanent reports true: the same message fails the same check every time.
func (e *SignatureError) Permanent() bool { return true }

// Verify lets through only what Orderflow signed, and what foreign producers may send
// unsigned: the events named in Open (order.placed), stripped of the metadata that steers
// Orderflow itself (envelope.Internal), which counts only on a signed message. Such a
// message is then signed with Keys, as if Orderflow had published it: the copies the
// stages make of it (parked for redelivery, poisoned, replayed) carry the headers only
// Orderflow sets, and those must count when the copy comes back. With nil Keys it checks
// nothing: the broker runs unsigned (signing.allow_unsigned).
type Verify struct {
	Keys *signing.Keys
	// Open are the event names accepted without a signature.
	Open []string
}

// Middleware returns the verifying middleware.
func (v Verify) Middleware(h message.HandlerFunc) message.HandlerFunc {
	if v.Keys == nil {
		return h
	}
	return func(msg *message.Message) ([]*message.Message, error) {
		routingKey := msg.Metadata.Get(envelope.EventNameKey)
		signature := msg.Metadata.Get(envelope.SignatureKey)
		if signature == "" && slices.Contains(v.Open, routingKey) {
			for _, key := range envelope.Internal {
				delete(msg.Metadata, key)
			}
			signature, keyID := v.Keys.Sign(routingKey, msg.UUID, msg.Payload)
			msg.Metadata.Set(envelope.SignatureKey, signature)
			msg.Metadata.Set(envelope.KeyIDKey, keyID)
			return h(msg)
		}
		if err := v.Keys.Verify(routingKey, msg.UUID, msg.Payload, signature, msg.Metadata.Get(envelope.KeyIDKey)); err != nil {
			return nil, &SignatureError{RoutingKey: routingKey, Err: err}
		}
		return h(msg)
	}
}
