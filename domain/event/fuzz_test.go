package event_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/event"
)

// decoders decode a body as each event of the pipeline, in the order FuzzDecode's which
// picks them; each checks what holds of that event's decoding.
var decoders = []func(t *testing.T, body []byte){
	checkOrderPlaced,
	check[event.InventoryReserved],
	check[event.InventoryRejected],
	check[event.PaymentCaptured],
	check[event.PaymentFailed],
	check[event.InventoryReleased],
	check[event.OrderConfirmed],
	check[event.OrderCancelled],
	check[event.NotificationSent],
}

// FuzzDecode decodes any body as the event which picks. Every body either decodes or
// fails with a permanent error (it is poisoned, never retried in a loop); a decoded event
// encodes to a body that decodes to the same event; and an order.placed that validates
// encodes to one that validates to the same order.
func FuzzDecode(f *testing.F) {
	// More seeds, valid and nasty, are in testdata/fuzz/FuzzDecode.
	f.Add(uint8(0), []byte(contractExample))
	f.Add(uint8(3), []byte(`{"order_id":"ord-1","customer_id":"c","payment_id":"p","amount_cents":5,"currency":"USD"}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		decoders[int(which)%len(decoders)](t, body)
	})
}

func check[T event.Event](t *testing.T, body []byte) { decode[T](t, body) }

// decode checks the decoding of body as T and returns the event, or false when body is
// not one.
func decode[T event.Event](t *testing.T, body []byte) (T, bool) {
	e, err := event.Decode[T](body)
	if err != nil {
		var malformed *domain.MalformedError
		var rule *domain.RuleError
		require.True(t, errors.As(err, &malformed) || errors.As(err, &rule), "a %s that does not decode is malformed or breaks a rule: %v", e.EventName(), err)
		require.True(t, domain.IsPermanent(err), "%v is permanent", err)
		return e, false
	}
	again, err := json.Marshal(e)
	require.NoError(t, err)
	back, err := event.Decode[T](again)
	require.NoError(t, err, "%s re-encoded as %s", e.EventName(), again)
	require.Equal(t, e, back, "%s survives its own encoding", e.EventName())
	return e, true
}

func checkOrderPlaced(t *testing.T, body []byte) {
	e, ok := decode[event.OrderPlaced](t, body)
	if !ok {
		return
	}
	placed, err := e.Validate()
	if err != nil {
		var rule *domain.RuleError
		require.ErrorAs(t, err, &rule, "a decoded order.placed is valid or names the rule it breaks")
		require.NotEmpty(t, rule.Rule)
		return
	}
	assert.LessOrEqual(t, len(placed.Lines), 100)
	again, err := json.Marshal(e)
	require.NoError(t, err)
	back, err := event.Decode[event.OrderPlaced](again)
	require.NoError(t, err)
	placedAgain, err := back.Validate()
	require.NoError(t, err, "a valid order.placed re-encoded as %s is valid", again)
	require.Equal(t, placed, placedAgain)
}
