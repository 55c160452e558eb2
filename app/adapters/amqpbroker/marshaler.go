// Package amqpbroker runs the pipeline on RabbitMQ: the topology of docs/topology.md, a
// marshaler no foreign producer can break, a publisher with pipelined confirms, delayed
// redelivery through TTL queues, and Watermill's AMQP subscriber (watermill-amqp v2) for
// consuming, which re-declares the topology when it reconnects.
package amqpbroker

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/app/envelope"
)

// ContentType is the content type of every event body.
const ContentType = "application/json"

// Marshaler turns messages into AMQP publishings and back. Unlike watermill-amqp's
// DefaultMarshaler, Unmarshal never fails on what a producer sent: a failure there makes
// the subscriber nack and requeue, a redelivery loop no middleware ever sees.
//
//   - id: the message_id property, else Watermill's uuid header, else a hash of routing
//     key and body, stable across redeliveries;
//   - correlation_id property ↔ correlation metadata;
//   - headers of any AMQP type: strings, numbers, booleans, times and UTF-8 bytes become
//     string metadata; arrays and tables (x-death) are dropped;
//   - the event name is the routing key, or, for a message redelivered from a retry
//     queue to its handler's queue, the event_name header it was published with;
//   - a delivery over Limits is not refused either: it is marked with
//     envelope.RejectedKey, with only a bounded part of its body and headers, and the
//     Subscriber sends it to the poison queue instead of to a handler. A producer's own
//     orderflow_rejected header is dropped.
type Marshaler struct {
	// Now stamps each publishing; nil is time.Now.
	Now func() time.Time
	// Limits cap what Unmarshal lets through to a handler; the zero value caps nothing.
	Limits Limits
}

var _ wamqp.Marshaler = Marshaler{}

// Marshal implements wamqp.Marshaler: every publishing carries message_id,
// correlation_id, content_type, timestamp and type = event name, and is persistent.
func (m Marshaler) Marshal(msg *message.Message) (amqp.Publishing, error) {
	now := m.Now
	if now == nil {
		now = time.Now
	}
	headers := make(amqp.Table, len(msg.Metadata))
	for k, v := range msg.Metadata {
		if k != envelope.CorrelationIDKey && k != envelope.RedeliveredKey {
			headers[k] = v
		}
	}
	return amqp.Publishing{
		MessageId:     msg.UUID,
		CorrelationId: msg.Metadata.Get(envelope.CorrelationIDKey),
		ContentType:   ContentType,
		Timestamp:     now().UTC(),
		Type:          msg.Metadata.Get(envelope.EventNameKey),
		DeliveryMode:  amqp.Persistent,
		Headers:       headers,
		Body:          msg.Payload,
	}, nil
}

// errEmptyDelivery is what a closed consumer channel yields; the subscriber then stops.
var errEmptyDelivery = errors.New("empty delivery: the channel is closed")

// idNamespace scopes ids derived from routing key and body.
var idNamespace = uuid.MustParse("2a4f5e8c-53b1-4c0e-9d7a-6f1e0b9c3d42")

// Unmarshal implements wamqp.Marshaler. It fails only for the zero Delivery of a closed
// channel, which the subscriber cannot ack either.
func (m Marshaler) Unmarshal(d amqp.Delivery) (*message.Message, error) {
	if d.Acknowledger == nil {
		return nil, errEmptyDelivery
	}
	id := d.MessageId
	if id == "" {
		id, _ = d.Headers[wamqp.DefaultMessageUUIDHeaderKey].(string)
	}
	if id == "" {
		id = derivedID(d.RoutingKey, d.Body)
	}
	var msg *message.Message
	if reason := m.Limits.check(d); reason != "" {
		msg = message.NewMessage(id, m.Limits.keptBody(d.Body))
		m.Limits.keepHeaders(msg.Metadata, d.Headers)
		msg.Metadata.Set(envelope.RejectedKey, reason)
	} else {
		msg = message.NewMessage(id, d.Body)
		for k, v := range d.Headers {
			if k == wamqp.DefaultMessageUUIDHeaderKey || k == envelope.RejectedKey || k == envelope.RedeliveredKey {
				continue
			}
			if s, ok := headerString(v); ok {
				msg.Metadata.Set(k, s)
			}
		}
	}
	if d.CorrelationId != "" {
		msg.Metadata.Set(envelope.CorrelationIDKey, d.CorrelationId)
	}
	if d.Redelivered {
		msg.Metadata.Set(envelope.RedeliveredKey, "true")
	}
	if IsEventName(d.RoutingKey) {
		msg.Metadata.Set(envelope.EventNameKey, d.RoutingKey)
	}
	return msg, nil
}

// derivedID is the id of a delivery that names none: uuid.NewSHA1(idNamespace, routing
// key + "\x00" + body), stable across redeliveries. It hashes the parts in turn instead
// of joining them, which would copy a body that may be far over the limits.
func derivedID(routingKey string, body []byte) string {
	h := sha1.New()
	h.Write(idNamespace[:])
	h.Write([]byte(routingKey))
	h.Write([]byte{0})
	h.Write(body)
	var id uuid.UUID
	copy(id[:], h.Sum(nil))
	id[6] = (id[6] & 0x0f) | 0x50 // version 5, as uuid.NewSHA1
	id[8] = (id[8] & 0x3f) | 0x80 // the RFC 4122 variant
	return id.String()
}

// IsEventName tells an event's routing key from the name of one of our queues, which a
// message redelivered through the default exchange is routed by.
func IsEventName(routingKey string) bool {
	return routingKey != "" && !strings.HasPrefix(routingKey, "orderflow.")
}

// headerString renders a simple AMQP header value as a string; it refuses arrays, tables
// and bytes that are not UTF-8.
func headerString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int8:
		return strconv.FormatInt(int64(x), 10), true
	case int16:
		return strconv.FormatInt(int64(x), 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int:
		return strconv.Itoa(x), true
	case uint8:
		return strconv.FormatUint(uint64(x), 10), true
	case uint16:
		return strconv.FormatUint(uint64(x), 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", false
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case amqp.Decimal:
		return fmt.Sprintf("%de-%d", x.Value, x.Scale), true
	case time.Time:
		return x.UTC().Format(time.RFC3339), true
	case []byte:
		if utf8.Valid(x) {
			return string(x), true
		}
		return "", false
	}
	return "", false
}
