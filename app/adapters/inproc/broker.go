// Package inproc is the in-process broker: Watermill's GoChannel with one topic per event
// name, and AMQP-style queues on top. A queue is bound to event names; subscribing to it
// merges those topics, so one handler can consume several events as on RabbitMQ.
package inproc

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/orderflow/orderflow/app/envelope"
)

// Broker publishes to event topics and delivers through bound queues. It is a
// message.Publisher and a message.Subscriber.
type Broker struct {
	pubsub *gochannel.GoChannel

	mu       sync.Mutex
	bindings map[string][]string
	retained map[string][]*message.Message
}

// New returns a broker. Messages published to a topic in retain are also kept in memory
// (Retained), so that topics with no consumer, such as the poison queue, lose nothing.
func New(logger watermill.LoggerAdapter, retain ...string) *Broker {
	b := &Broker{
		pubsub:   gochannel.NewGoChannel(gochannel.Config{}, logger),
		bindings: map[string][]string{},
		retained: map[string][]*message.Message{},
	}
	for _, topic := range retain {
		b.retained[topic] = nil
	}
	return b
}

// Bind makes queue receive the events named. GoChannel hands every message to its own
// goroutine, so consumers is not needed.
func (b *Broker) Bind(queue string, _ int, events ...string) error {
	if len(events) == 0 {
		return fmt.Errorf("bind %s: no events", queue)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bindings[queue] = append(b.bindings[queue], events...)
	return nil
}

// Publish implements message.Publisher.
func (b *Broker) Publish(topic string, messages ...*message.Message) error {
	b.mu.Lock()
	if kept, ok := b.retained[topic]; ok {
		for _, m := range messages {
			kept = append(kept, m.Copy())
		}
		b.retained[topic] = kept
	}
	b.mu.Unlock()
	return b.pubsub.Publish(topic, messages...)
}

// Retained returns copies of what was published to a retained topic.
func (b *Broker) Retained(topic string) []*message.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*message.Message, len(b.retained[topic]))
	for i, m := range b.retained[topic] {
		out[i] = m.Copy()
	}
	return out
}

// Subscribe implements message.Subscriber for a bound queue, or for a single topic when
// nothing is bound to that name. Each message carries its event name in
// envelope.EventNameKey.
func (b *Broker) Subscribe(ctx context.Context, queue string) (<-chan *message.Message, error) {
	b.mu.Lock()
	events := b.bindings[queue]
	b.mu.Unlock()
	if len(events) == 0 {
		events = []string{queue}
	}
	out := make(chan *message.Message)
	var wg sync.WaitGroup
	for _, name := range events {
		in, err := b.pubsub.Subscribe(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("subscribe %s to %s: %w", queue, name, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msg := range in {
				msg.Metadata.Set(envelope.EventNameKey, name)
				out <- msg
			}
		}()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out, nil
}

// Check reports whether the broker takes messages, for readiness.
func (b *Broker) Check(context.Context) error {
	if err := b.pubsub.Publish("orderflow.healthcheck"); err != nil {
		return errors.New("in-process broker is closed")
	}
	return nil
}

// Close implements message.Publisher and message.Subscriber.
func (b *Broker) Close() error {
	return b.pubsub.Close()
}
