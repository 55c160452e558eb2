package amqpbroker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/app/envelope"
)

// Poisoned is a message in the poison queue.
type Poisoned struct {
	ID         string    `json:"id"`
	Handler    string    `json:"handler"`
	RoutingKey string    `json:"routing_key"`
	Reason     string    `json:"reason"`
	Attempts   int       `json:"attempts"`
	PoisonedAt time.Time `json:"poisoned_at"`

	delivery amqp.Delivery
}

// PoisonQueue inspects, replays and purges the poison queue.
type PoisonQueue struct {
	conn *amqp.Connection
}

// DialPoisonQueue connects to a node of the broker at urls (see Options.URLs), over TLS
// as tlsConfig says for amqps:// URLs.
func DialPoisonQueue(urls []string, tlsConfig *tls.Config) (*PoisonQueue, error) {
	cluster, err := newNodes(urls, tlsConfig)
	if err != nil {
		return nil, err
	}
	conn, err := amqp.DialConfig(cluster.uri, *cluster.config())
	if err != nil {
		return nil, fmt.Errorf("connect to rabbitmq: %w", err)
	}
	return &PoisonQueue{conn: conn}, nil
}

// Close closes the connection.
func (q *PoisonQueue) Close() error { return q.conn.Close() }

// A Pass reads the poison queue once, oldest first, on a channel of its own: the messages
// that were in the queue when it began, so that one a replay sends back to the poison
// queue, or one poisoned meanwhile, is not read again. What it reads stays in the queue,
// unacknowledged, until Remove or Replay takes it out; Close, or a crash of the process,
// puts the rest back. RabbitMQ requeues them at their place where it can (classic
// queues keep their order; see the README for quorum queues), marked redelivered.
type Pass struct {
	conn *amqp.Connection
	ch   *amqp.Channel
	pub  *amqp.Channel // in confirm mode, opened by the first Replay
	left int
	// held are the delivery tags of the messages read and not removed.
	held map[uint64]bool
}

// Begin starts a pass over the poison queue.
func (q *PoisonQueue) Begin() (*Pass, error) {
	ch, err := q.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	state, err := ch.QueueDeclarePassive(PoisonQueueName, true, false, false, false, nil)
	if err != nil {
		_ = ch.Close() // the broker has closed it already
		return nil, fmt.Errorf("poison queue %s: %w", PoisonQueueName, err)
	}
	return &Pass{conn: q.conn, ch: ch, left: state.Messages, held: map[uint64]bool{}}, nil
}

// Next reads the next message of the pass; ok is false at its end.
func (p *Pass) Next() (msg Poisoned, ok bool, err error) {
	if p.left <= 0 {
		return Poisoned{}, false, nil
	}
	d, ok, err := p.ch.Get(PoisonQueueName, false)
	if err != nil {
		return Poisoned{}, false, fmt.Errorf("read %s: %w", PoisonQueueName, err)
	}
	if !ok {
		p.left = 0 // another reader took the rest
		return Poisoned{}, false, nil
	}
	p.left--
	p.held[d.DeliveryTag] = true
	return poisonedFrom(d), true, nil
}

// Remove takes msg, read by this pass, out of the poison queue for good.
func (p *Pass) Remove(msg Poisoned) error {
	if err := msg.delivery.Ack(false); err != nil {
		return fmt.Errorf("remove %q from %s: %w", msg.ID, PoisonQueueName, err)
	}
	delete(p.held, msg.delivery.DeliveryTag)
	return nil
}

// Replay publishes msg, read by this pass, back to its original routing key, and removes
// it from the poison queue once the broker has confirmed the publish. On an error it
// stays poisoned; a crash between the confirm and the removal leaves it replayed and
// still poisoned, never lost.
func (p *Pass) Replay(ctx context.Context, msg Poisoned) error {
	if !IsEventName(msg.RoutingKey) {
		return fmt.Errorf("%q: no original routing key to replay to", msg.ID)
	}
	if p.pub == nil {
		pub, err := p.conn.Channel()
		if err != nil {
			return fmt.Errorf("open channel: %w", err)
		}
		if err := pub.Confirm(false); err != nil {
			_ = pub.Close()
			return fmt.Errorf("confirm mode: %w", err)
		}
		p.pub = pub
	}
	dc, err := p.pub.PublishWithDeferredConfirmWithContext(ctx, Exchange, msg.RoutingKey, false, false, replayOf(msg))
	if err != nil {
		return fmt.Errorf("replay %q: %w", msg.ID, err)
	}
	if acked, err := dc.WaitContext(ctx); err != nil || !acked {
		return fmt.Errorf("replay %q: not confirmed (%v)", msg.ID, err)
	}
	return p.Remove(msg)
}

// Close ends the pass: what it read and did not remove goes back to the queue. It hands
// them back with one nack (requeue) rather than leaving that to the channel's close: an
// explicit return is what RabbitMQ sees as one, and a quorum queue has a delivery limit
// (20 by default since RabbitMQ 4.0) that some releases count lost consumers against.
func (p *Pass) Close() error {
	var errs []error
	if p.pub != nil {
		errs = append(errs, p.pub.Close())
	}
	var last uint64 // the nack of the last one held returns every one before it too
	for tag := range p.held {
		last = max(last, tag)
	}
	if last > 0 && !p.ch.IsClosed() {
		if err := p.ch.Nack(last, true, true); err != nil {
			errs = append(errs, fmt.Errorf("return the messages read to %s: %w", PoisonQueueName, err))
		}
	}
	errs = append(errs, p.ch.Close())
	return errors.Join(errs...)
}

func poisonedFrom(d amqp.Delivery) Poisoned {
	header := func(k string) string {
		s, _ := headerString(d.Headers[k])
		return s
	}
	p := Poisoned{
		ID:         d.MessageId,
		Handler:    header(envelope.PoisonHandlerKey),
		RoutingKey: header(envelope.PoisonRoutingKeyKey),
		Reason:     header(envelope.PoisonReasonKey),
		delivery:   d,
	}
	p.Attempts, _ = strconv.Atoi(header(envelope.PoisonAttemptsKey))
	p.PoisonedAt, _ = time.Parse(time.RFC3339Nano, header(envelope.PoisonedAtKey))
	return p
}

// List returns the poisoned messages, oldest first, and leaves them in the queue.
func (q *PoisonQueue) List() ([]Poisoned, error) {
	pass, err := q.Begin()
	if err != nil {
		return nil, err
	}
	var list []Poisoned
	for {
		p, ok, err := pass.Next()
		if err != nil {
			_ = pass.Close()
			return nil, err
		}
		if !ok {
			return list, pass.Close()
		}
		list = append(list, p)
	}
}

// replayOf is the message as it was first published, marked as a replay for the handler
// that poisoned it.
func replayOf(p Poisoned) amqp.Publishing {
	d := p.delivery
	headers := amqp.Table{}
	for k, v := range d.Headers {
		switch {
		case strings.HasPrefix(k, "poison"), k == envelope.RedeliveriesKey, k == envelope.AttemptsBeforeKey:
		default:
			headers[k] = v
		}
	}
	headers[envelope.ReplayHandlerKey] = p.Handler
	headers[envelope.ReplayIDKey] = uuid.NewString()
	return amqp.Publishing{
		MessageId:     d.MessageId,
		CorrelationId: d.CorrelationId,
		ContentType:   d.ContentType,
		Type:          d.Type,
		Timestamp:     time.Now().UTC(),
		DeliveryMode:  amqp.Persistent,
		Headers:       headers,
		Body:          d.Body,
	}
}

// Purge drops every poisoned message and returns how many there were.
func (q *PoisonQueue) Purge() (int, error) {
	ch, err := q.conn.Channel()
	if err != nil {
		return 0, fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	n, err := ch.QueuePurge(PoisonQueueName, false)
	if err != nil {
		return 0, fmt.Errorf("purge %s: %w", PoisonQueueName, err)
	}
	return n, nil
}
