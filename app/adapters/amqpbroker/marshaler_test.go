package amqpbroker_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/envelope"
)

// acker stands for the channel a delivery came on; Unmarshal only asks that there is one.
type acker struct{}

func (acker) Ack(uint64, bool) error        { return nil }
func (acker) Nack(uint64, bool, bool) error { return nil }
func (acker) Reject(uint64, bool) error     { return nil }

// defaults are the limits of configs/default.yaml.
var defaults = amqpbroker.Limits{MaxBodyBytes: 65536, MaxHeaders: 64, MaxHeaderBytes: 16384}

func delivery(body []byte, headers amqp.Table) amqp.Delivery {
	return amqp.Delivery{Acknowledger: acker{}, MessageId: "m-1", RoutingKey: "order.placed", Body: body, Headers: headers}
}

func manyHeaders(n int) amqp.Table {
	h := make(amqp.Table, n)
	for i := range n {
		h[fmt.Sprintf("h%05d", i)] = int8(1)
	}
	return h
}

func TestMarshaler_within_the_limits_passes_everything_but_a_forged_rejection(t *testing.T) {
	t.Parallel()
	body := []byte(strings.Repeat("b", defaults.MaxBodyBytes))
	headers := manyHeaders(defaults.MaxHeaders - 1)
	headers[envelope.RejectedKey] = "forged by a producer"
	msg, err := amqpbroker.Marshaler{Limits: defaults}.Unmarshal(delivery(body, headers))
	require.NoError(t, err)
	assert.Equal(t, body, []byte(msg.Payload), "a body of exactly max_body_bytes is within the limit")
	assert.Empty(t, msg.Metadata.Get(envelope.RejectedKey), "a producer cannot mark its message rejected")
	assert.Equal(t, "1", msg.Metadata.Get("h00062"))
	assert.Equal(t, "order.placed", msg.Metadata.Get(envelope.EventNameKey))
}

func TestMarshaler_limits(t *testing.T) {
	t.Parallel()
	small := []byte(`{"order_id":"ord-1"}`)
	oneBig := amqp.Table{"a-small": "kept", "x-big": strings.Repeat("v", 20000)}
	tests := []struct {
		Name    string
		Limits  amqpbroker.Limits
		Body    []byte
		Headers amqp.Table
		// Reason is the rejection, "" when the delivery is within the limits.
		Reason string
		// Kept is the length of the body the message keeps.
		Kept int
	}{
		{"body over", defaults, make([]byte, 32<<20), nil,
			"body of 33554432 bytes is over amqp.max_body_bytes (65536)", 65536},
		{"10,000 headers", defaults, small, manyHeaders(10000),
			"10000 headers are over amqp.max_headers (64); headers of 70000 bytes are over amqp.max_header_bytes (16384)", len(small)},
		{"65 headers", defaults, small, manyHeaders(65),
			"65 headers are over amqp.max_headers (64)", len(small)},
		{"one oversized header", defaults, small, oneBig,
			"headers of 20016 bytes are over amqp.max_header_bytes (16384)", len(small)},
		{"nested headers count", defaults, small, amqp.Table{"x-death": []any{amqp.Table{"queue": strings.Repeat("q", 16380)}}},
			"headers of 16392 bytes are over amqp.max_header_bytes (16384)", len(small)},
		{"everything over", defaults, make([]byte, 70000), manyHeaders(3000),
			"body of 70000 bytes is over amqp.max_body_bytes (65536); 3000 headers are over amqp.max_headers (64); headers of 21000 bytes are over amqp.max_header_bytes (16384)", 65536},
		{"no limits", amqpbroker.Limits{}, make([]byte, 1<<20), manyHeaders(1000), "", 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			msg, err := amqpbroker.Marshaler{Limits: tt.Limits}.Unmarshal(delivery(tt.Body, tt.Headers))
			require.NoError(t, err, "a delivery over the limits is marked, not refused: a refusal is a nack and a redelivery loop")
			assert.Equal(t, tt.Reason, msg.Metadata.Get(envelope.RejectedKey))
			assert.Equal(t, tt.Body[:tt.Kept], []byte(msg.Payload), "the body's prefix")
			assert.Equal(t, "m-1", msg.UUID)
			assert.Equal(t, "order.placed", msg.Metadata.Get(envelope.EventNameKey))
			if tt.Reason == "" {
				return
			}
			assert.LessOrEqual(t, cap(msg.Payload), tt.Limits.MaxBodyBytes, "the kept prefix is a copy, not the whole body")
			size := 0
			for k, v := range msg.Metadata {
				size += len(k) + len(v)
			}
			// What Orderflow adds (event name, the rejection) comes on top of what is kept.
			assert.LessOrEqual(t, len(msg.Metadata), tt.Limits.MaxHeaders, "kept headers are bounded in number")
			assert.LessOrEqual(t, size, tt.Limits.MaxHeaderBytes, "kept headers are bounded in size")
		})
	}
}

func TestMarshaler_rejected_message_keeps_the_headers_that_fit(t *testing.T) {
	t.Parallel()
	headers := manyHeaders(100)
	headers["a-big"] = strings.Repeat("v", 20000)
	headers["a-small"] = "kept"
	headers["x-array"] = []any{"dropped", "as always"}
	headers[envelope.RejectedKey] = "forged"
	msg, err := amqpbroker.Marshaler{Limits: defaults}.Unmarshal(delivery([]byte("{}"), headers))
	require.NoError(t, err)
	assert.Empty(t, msg.Metadata.Get("a-big"), "a header too large is skipped, not cut")
	assert.Equal(t, "kept", msg.Metadata.Get("a-small"))
	assert.Empty(t, msg.Metadata.Get("x-array"))
	assert.Equal(t, "1", msg.Metadata.Get("h00000"), "headers are kept in name order")
	assert.Equal(t, "1", msg.Metadata.Get("h00046"))
	assert.Empty(t, msg.Metadata.Get("h00047"), "max_headers - 16 are kept, leaving room for Orderflow's own")
	assert.True(t, strings.HasPrefix(msg.Metadata.Get(envelope.RejectedKey), "104 headers are over"), "the rejection is the marshaler's, not the producer's")
}

func TestMarshaler_id_without_message_id_is_stable(t *testing.T) {
	t.Parallel()
	d := delivery([]byte(`{"order_id":"ord-1"}`), nil)
	d.MessageId = ""
	msg, err := amqpbroker.Marshaler{}.Unmarshal(d)
	require.NoError(t, err)
	// The scheme must not change: dedup marks and poisoned copies are keyed by it.
	namespace := uuid.MustParse("2a4f5e8c-53b1-4c0e-9d7a-6f1e0b9c3d42")
	assert.Equal(t, uuid.NewSHA1(namespace, []byte("order.placed\x00"+`{"order_id":"ord-1"}`)).String(), msg.UUID)
	again, err := amqpbroker.Marshaler{Limits: defaults}.Unmarshal(d)
	require.NoError(t, err)
	assert.Equal(t, msg.UUID, again.UUID)
}

func TestMarshaler_empty_delivery_is_the_only_error(t *testing.T) {
	t.Parallel()
	_, err := amqpbroker.Marshaler{Limits: defaults}.Unmarshal(amqp.Delivery{})
	require.Error(t, err)
}

func TestMarshaler_redelivered_comes_from_the_broker_only(t *testing.T) {
	t.Parallel()
	forged := delivery([]byte(`{}`), amqp.Table{envelope.RedeliveredKey: "true"})
	msg, err := amqpbroker.Marshaler{Limits: defaults}.Unmarshal(forged)
	require.NoError(t, err)
	assert.Empty(t, msg.Metadata.Get(envelope.RedeliveredKey), "a producer cannot say its message was delivered before")

	again := delivery([]byte(`{}`), nil)
	again.Redelivered = true
	msg, err = amqpbroker.Marshaler{Limits: defaults}.Unmarshal(again)
	require.NoError(t, err)
	assert.Equal(t, "true", msg.Metadata.Get(envelope.RedeliveredKey))
	pub, err := amqpbroker.Marshaler{}.Marshal(msg)
	require.NoError(t, err)
	assert.NotContains(t, pub.Headers, envelope.RedeliveredKey, "never sent on: a parked or poisoned copy is not redelivered")
}
