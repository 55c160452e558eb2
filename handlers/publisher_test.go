package handlers_test

import (
	"context"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
	"github.com/orderflow/orderflow/middleware"
)

// inHandler returns the context a handler named handler has while handling msg, taken
// from a real router with the Correlation middleware.
func inHandler(t *testing.T, handler string, msg *message.Message) context.Context {
	t.Helper()
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, nil)
	router, err := message.NewRouter(message.RouterConfig{}, nil)
	require.NoError(t, err)
	got := make(chan context.Context, 1)
	router.AddConsumerHandler(handler, "in", pubsub, func(m *message.Message) error {
		got <- m.Context()
		return nil
	})
	router.AddMiddleware(middleware.Correlation)
	go func() { _ = router.Run(context.Background()) }()
	defer func() { _ = router.Close() }()
	<-router.Running()
	require.NoError(t, pubsub.Publish("in", msg))
	return <-got
}

func TestNewMessage_ids_are_deterministic_inside_a_handler(t *testing.T) {
	t.Parallel()
	e := event.OrderConfirmed{OrderID: "ord-1", CustomerID: "c"}
	first, err := handlers.NewMessage(inHandler(t, "order-confirm", message.NewMessage("in-1", nil)), e)
	require.NoError(t, err)
	again, err := handlers.NewMessage(inHandler(t, "order-confirm", message.NewMessage("in-1", nil)), e)
	require.NoError(t, err)
	assert.Equal(t, first.UUID, again.UUID, "a handler that runs twice publishes the same id")

	otherMessage, err := handlers.NewMessage(inHandler(t, "order-confirm", message.NewMessage("in-2", nil)), e)
	require.NoError(t, err)
	assert.NotEqual(t, first.UUID, otherMessage.UUID)
	otherHandler, err := handlers.NewMessage(inHandler(t, "fraud-check", message.NewMessage("in-1", nil)), e)
	require.NoError(t, err)
	assert.NotEqual(t, first.UUID, otherHandler.UUID)

	assert.Equal(t, "in-1", first.Metadata.Get(envelope.CausationIDKey))
	assert.Equal(t, "order.confirmed", first.Metadata.Get(envelope.EventNameKey))
}

func TestNewMessage_outside_a_handler(t *testing.T) {
	t.Parallel()
	e := event.OrderConfirmed{OrderID: "ord-1"}
	a, err := handlers.NewMessage(envelope.WithCorrelationID(context.Background(), "corr-http"), e)
	require.NoError(t, err)
	b, err := handlers.NewMessage(context.Background(), e)
	require.NoError(t, err)
	assert.NotEqual(t, a.UUID, b.UUID, "fresh ids outside a handler")
	assert.Equal(t, "corr-http", a.Metadata.Get(envelope.CorrelationIDKey))
	assert.NotEmpty(t, b.Metadata.Get(envelope.CorrelationIDKey), "a flow gets a correlation id when it has none")
	assert.Empty(t, a.Metadata.Get(envelope.CausationIDKey))
}

func TestNewMessage_ids_derive_from_an_idempotency_key(t *testing.T) {
	t.Parallel()
	e := event.OrderPlaced{OrderID: "ord-1"}
	a, err := handlers.NewMessage(app.WithIdempotencyKey(context.Background(), "key-1"), e)
	require.NoError(t, err)
	b, err := handlers.NewMessage(app.WithIdempotencyKey(context.Background(), "key-1"), e)
	require.NoError(t, err)
	c, err := handlers.NewMessage(app.WithIdempotencyKey(context.Background(), "key-2"), e)
	require.NoError(t, err)
	assert.Equal(t, a.UUID, b.UUID, "a request served twice publishes the same message")
	assert.NotEqual(t, a.UUID, c.UUID)
}
