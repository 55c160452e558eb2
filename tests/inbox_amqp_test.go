package tests

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/redisstore"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

// lostPublisher fails every publish to one topic, as a broker connection lost between a
// handler's last write and its publish would.
type lostPublisher struct {
	message.Publisher
	topic string
}

func (p lostPublisher) Publish(topic string, msgs ...*message.Message) error {
	if topic == p.topic {
		return domain.Unavailable("publish "+topic, errors.New("connection lost"))
	}
	return p.Publisher.Publish(topic, msgs...)
}

// TestInbox_amqp_a_redelivery_publishes_what_the_mark_owes: worker 1 commits the mark of
// an order.confirmed with the notification (one script) and then cannot publish, so it
// hands the message back; worker 2, which never saw it, gets it again from RabbitMQ
// (redelivered, or back from a retry queue), finds the mark done and, because the message
// was delivered before, publishes the event the mark owes. The notification is recorded
// once.
func TestInbox_amqp_a_redelivery_publishes_what_the_mark_owes(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("component test")
	}
	table := []handlers.Definition{Definition(t, handlers.NotificationSend)}
	cfg := AMQPConfig(t, nil)
	transport, closeTransport, err := worker.NewAMQPTransport(cfg, Logger())
	require.NoError(t, err)
	transport.Publisher = lostPublisher{Publisher: transport.Publisher, topic: event.NotificationSentName}
	storage, closeStorage, err := worker.NewRedisStorage(cfg, Logger())
	require.NoError(t, err)
	first, cleanup, err := initializeWorkerOn(OnlyFor(cfg, table), Logger(), table, time.Now, Options{}.withDefaults().Tracer, transport, storage)
	require.NoError(t, err)
	first.Tap = tap{newAMQPTap(t, cfg.AMQP.URL), first}
	run(t, first, func() { cleanup(); closeStorage(); closeTransport() })

	out := first.Tap.Subscribe(t, event.NotificationSentName)
	body, err := json.Marshal(event.OrderConfirmed{OrderID: "ord-owed", CustomerID: "cust-owed"})
	require.NoError(t, err)
	first.Tap.Publish(t, event.OrderConfirmedName, message.NewMessage("msg-owed", body))

	opts, err := redis.ParseURL(cfg.Redis.URL)
	require.NoError(t, err)
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	mark := redisstore.DedupKeyPrefix + "{cust-owed}:" + handlers.NotificationSend + ":msg-owed"
	Eventually(t, 10*time.Second, func() string {
		v, err := client.Get(context.Background(), mark).Result()
		if err != nil || !strings.HasPrefix(v, "done:") {
			return "the mark is not committed yet"
		}
		return ""
	})
	select {
	case m := <-out:
		t.Fatalf("worker 1 published %s", m.UUID)
	case <-time.After(300 * time.Millisecond):
	}

	StartAMQP(t, cfg, table)
	got := Receive(t, out)
	assert.Equal(t, event.NotificationSentName, got.Metadata.Get(envelope.EventNameKey), "the event owed")
	assert.Equal(t, "msg-owed", got.Metadata.Get(envelope.CausationIDKey))
	assert.JSONEq(t, `{"order_id":"ord-owed","customer_id":"cust-owed","status":"confirmed"}`, string(got.Payload))
	list, err := storage.Stores.Notifications.ForCustomer(context.Background(), "cust-owed")
	require.NoError(t, err)
	assert.Len(t, list, 1, "recorded once")
}
