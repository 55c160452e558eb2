package amqpbroker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/domain"
)

// confirmTimeout bounds the wait for one publisher confirm.
const confirmTimeout = 30 * time.Second

// Publisher publishes persistent messages with publisher confirms. It shares a few
// channels in confirm mode between all goroutines, so confirms are pipelined: each
// publish waits for its own confirm only, while others are in flight on the same channel.
// (watermill-amqp's publisher waits for each confirm before the next publish.)
type Publisher struct {
	conn      *wamqp.ConnectionWrapper
	topology  *Topology
	marshaler Marshaler
	slots     []*channelSlot
	next      atomic.Uint64
}

type channelSlot struct {
	mu sync.Mutex
	ch *amqp.Channel
}

// NewPublisher returns a publisher with channels channels on conn. Each channel it opens
// first declares the exchanges of topology, so publishing never depends on a consumer
// having declared them (a publish to a missing exchange closes the channel).
func NewPublisher(conn *wamqp.ConnectionWrapper, topology *Topology, channels int) *Publisher {
	p := &Publisher{conn: conn, topology: topology, slots: make([]*channelSlot, channels)}
	for i := range p.slots {
		p.slots[i] = &channelSlot{}
	}
	return p
}

// errNotConnected is returned while the connection is being re-established.
var errNotConnected = errors.New("not connected to RabbitMQ")

// channel returns an open confirm-mode channel, opening one when its slot has none.
func (p *Publisher) channel() (*amqp.Channel, error) {
	if !p.conn.IsConnected() {
		return nil, errNotConnected
	}
	slot := p.slots[p.next.Add(1)%uint64(len(p.slots))]
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.ch != nil && !slot.ch.IsClosed() {
		return slot.ch, nil
	}
	ch, err := p.conn.Connection().Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if err := p.topology.Declare(ch); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("declare topology: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("confirm mode: %w", err)
	}
	slot.ch = ch
	return ch, nil
}

// Publish implements message.Publisher: topic is the routing key on Exchange. It returns
// once the broker has confirmed every message; errors while the broker is unreachable are
// domain.ErrUnavailable.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	return p.publish(Exchange, topic, nil, msgs)
}

// publish sends msgs to exchange with key, adding headers, and waits for the confirms.
func (p *Publisher) publish(exchange, key string, headers map[string]string, msgs []*message.Message) error {
	ch, err := p.channel()
	if err != nil {
		return domain.Unavailable("publish to "+key, err)
	}
	confirms := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	for _, msg := range msgs {
		pub, err := p.marshaler.Marshal(msg)
		if err != nil {
			return fmt.Errorf("marshal %s: %w", msg.UUID, err)
		}
		for k, v := range headers {
			pub.Headers[k] = v
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(msg.Context(), exchange, key, false, false, pub)
		if err != nil {
			return domain.Unavailable("publish "+msg.UUID+" to "+key, err)
		}
		confirms = append(confirms, dc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), confirmTimeout)
	defer cancel()
	for i, dc := range confirms {
		acked, err := dc.WaitContext(ctx)
		if err != nil {
			return domain.Unavailable("confirm of "+msgs[i].UUID, err)
		}
		if !acked {
			return fmt.Errorf("broker refused %s (nack)", msgs[i].UUID)
		}
	}
	return nil
}

// Delay parks msg in the retry queue of delay, from which it goes back to queue.
func (p *Publisher) Delay(queue string, delay time.Duration, msg *message.Message) error {
	return p.publish(RetryExchange, queue, map[string]string{TierHeader: tierName(delay)}, []*message.Message{msg})
}

// Close closes the channels; the connection belongs to its creator.
func (p *Publisher) Close() error {
	var errs []error
	for _, slot := range p.slots {
		slot.mu.Lock()
		if slot.ch != nil && !slot.ch.IsClosed() {
			errs = append(errs, slot.ch.Close())
		}
		slot.mu.Unlock()
	}
	return errors.Join(errs...)
}
