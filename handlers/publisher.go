package handlers

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/signing"
	"github.com/orderflow/orderflow/app/tracing"
	"github.com/orderflow/orderflow/domain/event"
)

// idNamespace scopes the deterministic ids of published events.
var idNamespace = uuid.MustParse("6f0c1a52-8d7e-4a39-9a3f-0d2b8c6e4f11")

// Publisher publishes events as JSON messages whose topic is the event name. Inside a
// handler, each message gets the handled message's correlation id, its id as causation
// id, and an id derived from the handler name and the handled id: a handler that runs
// twice publishes the same ids, and downstream dedup drops the second. A request with an
// Idempotency-Key publishes ids derived from the key, for the same reason.
//
// Every event is signed with keys (README, "Signed events"), so the handlers that
// consume it can tell it from a neighbour's forgery; nil keys sign nothing.
//
// Each publish is a producer span of the trace in ctx, and carries its context in the
// traceparent header, so the handlers that consume it continue that trace.
type Publisher struct {
	pub    message.Publisher
	keys   *signing.Keys
	tracer tracing.Tracer
}

// NewPublisher returns a Publisher that signs with keys, traces with tracer and sends
// through pub.
func NewPublisher(pub message.Publisher, keys *signing.Keys, tracer tracing.Tracer) *Publisher {
	return &Publisher{pub: pub, keys: keys, tracer: tracer}
}

// Publish implements app.EventPublisher.
func (p *Publisher) Publish(ctx context.Context, events ...event.Event) error {
	for _, e := range events {
		msg, err := NewMessage(ctx, e)
		if err != nil {
			return err
		}
		Sign(p.keys, e.EventName(), msg)
		span := p.tracer.StartPublish(ctx, e.EventName(), msg)
		err = p.pub.Publish(e.EventName(), msg)
		tracing.End(span, err)
		if err != nil {
			return fmt.Errorf("publish %s %s: %w", e.EventName(), msg.UUID, err)
		}
	}
	return nil
}

// Sign sets the signature headers of msg, published with routingKey, unless keys is nil.
func Sign(keys *signing.Keys, routingKey string, msg *message.Message) {
	if signature, keyID := keys.Sign(routingKey, msg.UUID, msg.Payload); signature != "" {
		msg.Metadata.Set(envelope.SignatureKey, signature)
		msg.Metadata.Set(envelope.KeyIDKey, keyID)
	}
}

// NewMessage encodes e as a message with the ids and metadata described on Publisher.
func NewMessage(ctx context.Context, e event.Event) (*message.Message, error) {
	payload, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.EventName(), err)
	}
	id := uuid.NewString()
	correlationID := envelope.CorrelationIDFrom(ctx)
	handled, inHandler := envelope.HandledFrom(ctx)
	switch key := app.IdempotencyKeyFrom(ctx); {
	case inHandler:
		id = uuid.NewSHA1(idNamespace, []byte(handled.Handler+"\x00"+handled.MessageID+"\x00"+e.EventName())).String()
	case key != "":
		id = uuid.NewSHA1(idNamespace, []byte("idempotency-key\x00"+key+"\x00"+e.EventName())).String()
	}
	if correlationID == "" {
		correlationID = uuid.NewString()
	}
	msg := message.NewMessage(id, payload)
	msg.Metadata.Set(envelope.EventNameKey, e.EventName())
	msg.Metadata.Set(envelope.CorrelationIDKey, correlationID)
	if inHandler {
		msg.Metadata.Set(envelope.CausationIDKey, handled.MessageID)
	}
	return msg, nil
}
