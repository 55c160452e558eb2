package amqpbroker_test

import (
	"bytes"
	"encoding/binary"
	"maps"
	"strings"
	"testing"
	"time"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/envelope"
)

// fuzzLimits are small, so that the fuzzer reaches them.
var fuzzLimits = amqpbroker.Limits{MaxBodyBytes: 1024, MaxHeaders: 20, MaxHeaderBytes: 1200}

// FuzzUnmarshal hands the marshaler any delivery a producer could send: any body, routing
// key, ids and headers of every AMQP type. Unmarshal never fails on it (a failure is a
// nack and a redelivery loop), never passes a producer's orderflow_rejected on, marks it
// rejected exactly when it breaks a limit, keeps only a bounded part of what it rejects,
// and what it lets through is the delivery: the body, the headers, the ids, and the same
// message again after Marshal and Unmarshal.
func FuzzUnmarshal(f *testing.F) {
	// More seeds, valid and nasty, are in testdata/fuzz/FuzzUnmarshal.
	f.Add([]byte(`{"order_id":"ord-1"}`), "order.placed", "m-1", "corr-1", []byte("x-int=i7\x00x-s=shello"))
	f.Add([]byte{}, "orderflow.inventory-reserve", "", "", []byte("event_name=sorder.placed\x00orderflow_rejected=sforged"))
	f.Fuzz(func(t *testing.T, body []byte, routingKey, messageID, correlationID string, headers []byte) {
		d := amqp.Delivery{
			Acknowledger: acker{}, Body: body, RoutingKey: routingKey, MessageId: messageID,
			CorrelationId: correlationID, Headers: headersFrom(headers),
		}
		m := amqpbroker.Marshaler{Limits: fuzzLimits}
		msg, err := m.Unmarshal(d)
		require.NoError(t, err, "a delivery never fails to unmarshal")
		again, err := m.Unmarshal(d)
		require.NoError(t, err)
		require.Equal(t, msg.UUID, again.UUID, "the id is stable across redeliveries")
		checkID(t, d, msg)
		if amqpbroker.IsEventName(routingKey) {
			require.Equal(t, routingKey, msg.Metadata.Get(envelope.EventNameKey))
		}
		if correlationID != "" {
			require.Equal(t, correlationID, msg.Metadata.Get(envelope.CorrelationIDKey))
		}

		reason := msg.Metadata.Get(envelope.RejectedKey)
		overBody := len(body) > fuzzLimits.MaxBodyBytes
		overCount := len(d.Headers) > fuzzLimits.MaxHeaders
		require.Equal(t, overBody, strings.Contains(reason, "amqp.max_body_bytes"), "reason %q", reason)
		require.Equal(t, overCount, strings.Contains(reason, "amqp.max_headers ("), "reason %q", reason)
		if stringHeaderBytes(d.Headers) > fuzzLimits.MaxHeaderBytes {
			require.Contains(t, reason, "amqp.max_header_bytes", "string headers alone are over the limit")
		}
		if reason == "" {
			checkPassed(t, d, msg)
		} else {
			checkRejected(t, d, msg)
		}
		checkRoundTrip(t, d, msg)
	})
}

// checkID: the message_id property, else Watermill's uuid header, else a UUID derived
// from routing key and body.
func checkID(t *testing.T, d amqp.Delivery, msg *message.Message) {
	header, _ := d.Headers[wamqp.DefaultMessageUUIDHeaderKey].(string)
	switch {
	case d.MessageId != "":
		require.Equal(t, d.MessageId, msg.UUID)
	case header != "":
		require.Equal(t, header, msg.UUID)
	default:
		_, err := uuid.Parse(msg.UUID)
		require.NoError(t, err, "a derived id is a UUID")
	}
}

// stringHeaderBytes is the size of the names and string values of headers, which every
// count of their size must reach.
func stringHeaderBytes(headers amqp.Table) int {
	n := 0
	for k, v := range headers {
		s, _ := v.(string)
		n += len(k) + len(s)
	}
	return n
}

// checkPassed: a delivery within the limits reaches the handler as it was sent.
func checkPassed(t *testing.T, d amqp.Delivery, msg *message.Message) {
	require.Equal(t, d.Body, []byte(msg.Payload))
	_, forged := msg.Metadata[envelope.RejectedKey]
	require.False(t, forged, "a producer cannot mark its own message rejected")
	require.Equal(t, d.Redelivered, msg.Metadata.Get(envelope.RedeliveredKey) == "true", "only the broker says redelivered")
	for k, v := range d.Headers {
		s, ok := v.(string)
		switch {
		case !ok, k == wamqp.DefaultMessageUUIDHeaderKey, k == envelope.RejectedKey, k == envelope.RedeliveredKey:
		case k == envelope.EventNameKey && amqpbroker.IsEventName(d.RoutingKey):
		case k == envelope.CorrelationIDKey && d.CorrelationId != "":
		default:
			require.Equal(t, s, msg.Metadata.Get(k), "header %q", k)
		}
	}
}

// checkRejected: what is kept of a rejected delivery is bounded and true to it.
func checkRejected(t *testing.T, d amqp.Delivery, msg *message.Message) {
	require.LessOrEqual(t, len(msg.Payload), fuzzLimits.MaxBodyBytes)
	require.True(t, bytes.HasPrefix(d.Body, msg.Payload), "the kept body is a prefix of the body")
	if len(d.Body) <= fuzzLimits.MaxBodyBytes {
		require.Equal(t, d.Body, []byte(msg.Payload), "a body within its limit is kept whole")
	}
	kept, size := 0, 0
	for k, v := range msg.Metadata {
		switch k {
		case envelope.RejectedKey, envelope.EventNameKey, envelope.CorrelationIDKey, envelope.RedeliveredKey:
			continue // Orderflow's own, within the room the limits leave for them
		}
		kept++
		size += len(k) + len(v)
		if s, ok := d.Headers[k].(string); ok {
			require.Equal(t, s, v, "a kept header %q is the header", k)
		}
	}
	require.LessOrEqual(t, kept, fuzzLimits.MaxHeaders-16)
	require.LessOrEqual(t, size, fuzzLimits.MaxHeaderBytes-1024)
}

// checkRoundTrip: Marshal then Unmarshal gives the message back, as when a handler's
// message is parked for redelivery or poisoned and read again.
func checkRoundTrip(t *testing.T, d amqp.Delivery, msg *message.Message) {
	pub, err := amqpbroker.Marshaler{}.Marshal(msg)
	require.NoError(t, err)
	back, err := amqpbroker.Marshaler{}.Unmarshal(amqp.Delivery{
		Acknowledger: acker{}, RoutingKey: d.RoutingKey, MessageId: pub.MessageId,
		CorrelationId: pub.CorrelationId, Headers: pub.Headers, Body: pub.Body,
	})
	require.NoError(t, err)
	require.Equal(t, msg.UUID, back.UUID)
	require.Equal(t, []byte(msg.Payload), []byte(back.Payload))
	require.Equal(t, nonEmpty(msg.Metadata), nonEmpty(back.Metadata))
}

// nonEmpty is md without empty values, the rejection and the redelivered flag, which a
// transport sets itself and drops from what it reads.
func nonEmpty(md message.Metadata) map[string]string {
	out := maps.Clone(md)
	maps.DeleteFunc(out, func(k, v string) bool {
		return v == "" || k == envelope.RejectedKey || k == envelope.RedeliveredKey
	})
	return out
}

// headersFrom builds a header table from data: entries split by NUL, each name=value,
// where the first byte of value picks its AMQP type and the rest is its value.
func headersFrom(data []byte) amqp.Table {
	table := amqp.Table{}
	for entry := range bytes.SplitSeq(data, []byte{0}) {
		name, value, _ := bytes.Cut(entry, []byte("="))
		table[string(name)] = headerValue(value)
	}
	return table
}

func headerValue(v []byte) any {
	if len(v) == 0 {
		return nil
	}
	kind, rest := v[0], v[1:]
	n := func() uint64 {
		var b [8]byte
		copy(b[:], rest)
		return binary.LittleEndian.Uint64(b[:])
	}
	switch kind {
	case 's':
		return string(rest)
	case 'x':
		return rest
	case 'b':
		return len(rest) > 0 && rest[0]&1 == 1
	case 'B':
		return int8(n())
	case 'u':
		return int16(n())
	case 'i':
		return int32(n())
	case 'l':
		return int64(n())
	case 'f':
		return float32(n())
	case 'd':
		return float64(int64(n())) / 7
	case 'D':
		return amqp.Decimal{Scale: uint8(n()), Value: int32(n() >> 8)}
	case 'T':
		return time.Unix(int64(n()>>20), 0)
	case 't':
		return amqp.Table{"nested": string(rest)}
	case 'a':
		return []any{string(rest), int32(len(rest))}
	}
	return string(v)
}
