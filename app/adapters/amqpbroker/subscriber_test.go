package amqpbroker

import (
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/envelope"
)

// poisonSink records what is published, and fails the first failures publishes.
type poisonSink struct {
	mu        sync.Mutex
	failures  int
	topics    []string
	published []*message.Message
}

func (p *poisonSink) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures > 0 {
		p.failures--
		return errors.New("broker connection lost")
	}
	for range msgs {
		p.topics = append(p.topics, topic)
	}
	p.published = append(p.published, msgs...)
	return nil
}

func (p *poisonSink) Close() error { return nil }

func rejected(id string) *message.Message {
	msg := message.NewMessage(id, []byte("prefix"))
	msg.Metadata.Set(envelope.RejectedKey, "body of 33554432 bytes is over amqp.max_body_bytes (65536)")
	msg.Metadata.Set(envelope.EventNameKey, "order.placed")
	msg.Metadata.Set("x-kept", "v")
	return msg
}

func testSubscriber(sink *poisonSink) *Subscriber {
	s := NewSubscriber(nil, nil, sink, slog.New(slog.DiscardHandler))
	s.retryDelay, s.maxRetryDelay = 20*time.Millisecond, 40*time.Millisecond
	return s
}

func TestSubscriber_poisons_a_rejected_message_and_acks_it(t *testing.T) {
	t.Parallel()
	sink := &poisonSink{}
	s := testSubscriber(sink)
	counted := map[string]int{}
	s.CountPoisoned(func(handler string) { counted[handler]++ })
	in, out := make(chan *message.Message), make(chan *message.Message)
	go func() {
		s.forward("inventory-reserve", in, out)
		close(out)
	}()

	bad := rejected("m-bad")
	in <- bad
	select {
	case <-bad.Acked():
	case <-time.After(5 * time.Second):
		t.Fatal("the rejected message was not acked")
	}
	good := message.NewMessage("m-good", []byte("{}"))
	in <- good
	assert.Equal(t, good, <-out, "a message within the limits goes on to the router")
	close(in)
	_, open := <-out
	assert.False(t, open)

	require.Len(t, sink.published, 1, "only the rejected message is poisoned")
	assert.Equal(t, []string{envelope.PoisonTopic}, sink.topics)
	p := sink.published[0]
	assert.Equal(t, "m-bad", p.UUID)
	assert.Equal(t, "prefix", string(p.Payload))
	assert.Equal(t, "body of 33554432 bytes is over amqp.max_body_bytes (65536)", p.Metadata.Get(envelope.PoisonReasonKey))
	assert.Equal(t, "inventory-reserve", p.Metadata.Get(envelope.PoisonHandlerKey))
	assert.Equal(t, "order.placed", p.Metadata.Get(envelope.PoisonRoutingKeyKey))
	assert.Equal(t, "0", p.Metadata.Get(envelope.PoisonAttemptsKey))
	poisonedAt, err := time.Parse(time.RFC3339Nano, p.Metadata.Get(envelope.PoisonedAtKey))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), poisonedAt, time.Minute)
	assert.Equal(t, "v", p.Metadata.Get("x-kept"))
	_, marked := p.Metadata[envelope.RejectedKey]
	assert.False(t, marked, "the poisoned copy is not marked rejected: its reason says why")
	assert.Equal(t, map[string]int{"inventory-reserve": 1}, counted)
}

func TestSubscriber_hands_back_what_it_cannot_poison_without_a_hot_loop(t *testing.T) {
	t.Parallel()
	sink := &poisonSink{failures: 3}
	s := testSubscriber(sink)
	in, out := make(chan *message.Message), make(chan *message.Message)
	go s.forward("inventory-reserve", in, out)
	defer close(in)

	// RabbitMQ redelivers a nacked message at once: each delivery is a new message.
	for i, want := range []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond} {
		msg := rejected("m-bad")
		start := time.Now()
		in <- msg
		select {
		case <-msg.Nacked():
		case <-msg.Acked():
			t.Fatalf("delivery %d acked while the poison queue is down: it would be lost", i+1)
		case <-time.After(5 * time.Second):
			t.Fatalf("delivery %d neither acked nor nacked", i+1)
		}
		assert.GreaterOrEqual(t, time.Since(start), want, "delivery %d is handed back after a pause that grows", i+1)
	}
	msg := rejected("m-bad")
	in <- msg
	select {
	case <-msg.Acked():
	case <-time.After(5 * time.Second):
		t.Fatal("poisoned once the poison queue is back")
	}
}
