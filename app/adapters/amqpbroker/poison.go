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

// DialPoisonQueue connects to the broker at url, over TLS as tlsConfig says for an
// amqps:// URL (see configs.TLS.ClientConfig).
func DialPoisonQueue(url string, tlsConfig *tls.Config) (*PoisonQueue, error) {
	conn, err := amqp.DialTLS(url, tlsConfig)
	if err != nil {
		return nil, fmt.Errorf("connect to rabbitmq: %w", err)
	}
	return &PoisonQueue{conn: conn}, nil
}

// Close closes the connection.
func (q *PoisonQueue) Close() error { return q.conn.Close() }

// fetch takes every message of the poison queue without acking it, on a channel of its
// own: closing that channel puts the messages back where they were.
func (q *PoisonQueue) fetch() (*amqp.Channel, []Poisoned, error) {
	ch, err := q.conn.Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("open channel: %w", err)
	}
	if _, err := ch.QueueDeclarePassive(PoisonQueueName, true, false, false, false, nil); err != nil {
		return nil, nil, fmt.Errorf("poison queue %s: %w", PoisonQueueName, err)
	}
	var list []Poisoned
	for {
		d, ok, err := ch.Get(PoisonQueueName, false)
		if err != nil {
			_ = ch.Close()
			return nil, nil, fmt.Errorf("read %s: %w", PoisonQueueName, err)
		}
		if !ok {
			return ch, list, nil
		}
		list = append(list, poisonedFrom(d))
	}
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
	ch, list, err := q.fetch()
	if err != nil {
		return nil, err
	}
	return list, ch.Close()
}

// Replay publishes each poisoned message that match accepts back to its original routing
// key, and removes it from the poison queue once the broker has confirmed the publish. It
// returns the ids replayed; on an error, what was not confirmed stays poisoned.
func (q *PoisonQueue) Replay(ctx context.Context, match func(Poisoned) bool) ([]string, error) {
	ch, list, err := q.fetch()
	if err != nil {
		return nil, err
	}
	defer ch.Close()
	pub, err := q.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	defer pub.Close()
	if err := pub.Confirm(false); err != nil {
		return nil, fmt.Errorf("confirm mode: %w", err)
	}
	var replayed []string
	var errs []error
	for _, p := range list {
		if !match(p) {
			continue
		}
		if !IsEventName(p.RoutingKey) {
			errs = append(errs, fmt.Errorf("%q: no original routing key to replay to", p.ID))
			continue
		}
		dc, err := pub.PublishWithDeferredConfirmWithContext(ctx, Exchange, p.RoutingKey, false, false, replayOf(p))
		if err != nil {
			return replayed, errors.Join(append(errs, fmt.Errorf("replay %q: %w", p.ID, err))...)
		}
		if acked, err := dc.WaitContext(ctx); err != nil || !acked {
			return replayed, errors.Join(append(errs, fmt.Errorf("replay %q: not confirmed (%v)", p.ID, err))...)
		}
		if err := p.delivery.Ack(false); err != nil {
			return replayed, errors.Join(append(errs, fmt.Errorf("remove %q from %s after its replay: %w", p.ID, PoisonQueueName, err))...)
		}
		replayed = append(replayed, p.ID)
	}
	return replayed, errors.Join(errs...)
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
