package amqpbroker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app/envelope"
)

// The pause before a rejected delivery whose poisoning failed is handed back, doubled
// after each failure in a row up to the maximum: RabbitMQ redelivers a nacked message at
// once, and the consumer would publish and fail again in a hot loop.
const (
	poisonRetryDelay    = time.Second
	maxPoisonRetryDelay = 30 * time.Second
)

// Subscriber consumes a handler's queue with several consumers at once: a watermill-amqp
// subscription holds one message in flight until it is acked, whatever the prefetch, so
// parallelism per handler takes several subscriptions, merged here into one channel.
//
// A delivery the Marshaler rejected (over Limits) never reaches the router: the
// subscriber publishes it to the poison queue itself, with the metadata the poison stage
// gives (middleware.Poison), and acks it. The router would copy the message for the poison
// stage and hand it to every stage before it; here only its bounded copy is published.
type Subscriber struct {
	sub      *wamqp.Subscriber
	topology *Topology
	poison   message.Publisher
	logger   *slog.Logger

	// retryDelay and maxRetryDelay pace a poisoning that fails; see poisonRetryDelay.
	retryDelay, maxRetryDelay time.Duration

	mu         sync.Mutex
	consumers  map[string]int
	onPoisoned func(handler string)
}

// NewSubscriber wraps sub, whose config uses topology as its TopologyBuilder and a
// Marshaler with the limits; what the marshaler rejects goes to poison, logged to logger.
func NewSubscriber(sub *wamqp.Subscriber, topology *Topology, poison message.Publisher, logger *slog.Logger) *Subscriber {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Subscriber{
		sub: sub, topology: topology, poison: poison, logger: logger,
		retryDelay: poisonRetryDelay, maxRetryDelay: maxPoisonRetryDelay,
		consumers: map[string]int{},
	}
}

// CountPoisoned makes fn count each message the subscriber poisons itself, by handler, as
// the poison stage's OnPoisoned counts the others. Call it before Subscribe.
func (s *Subscriber) CountPoisoned(fn func(handler string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onPoisoned = fn
}

// Bind makes queue receive events, consumed by consumers subscriptions.
func (s *Subscriber) Bind(queue string, consumers int, events ...string) error {
	if len(events) == 0 {
		return fmt.Errorf("bind %s: no events", queue)
	}
	if consumers < 1 {
		return fmt.Errorf("bind %s: consumers must be >= 1, got %d", queue, consumers)
	}
	s.topology.Bind(queue, events...)
	s.mu.Lock()
	s.consumers[queue] = consumers
	s.mu.Unlock()
	return nil
}

// Subscribe implements message.Subscriber for a bound queue.
func (s *Subscriber) Subscribe(ctx context.Context, queue string) (<-chan *message.Message, error) {
	s.mu.Lock()
	n := s.consumers[queue]
	s.mu.Unlock()
	if n == 0 {
		return nil, fmt.Errorf("subscribe %s: the queue is not bound", queue)
	}
	// A handler's queue is envelope.QueueName(handler).
	handler := strings.TrimPrefix(queue, envelope.QueueName(""))
	out := make(chan *message.Message)
	var wg sync.WaitGroup
	for i := range n {
		in, err := s.sub.Subscribe(ctx, queue)
		if err != nil {
			return nil, fmt.Errorf("subscribe %s (consumer %d): %w", queue, i+1, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.forward(handler, in, out)
		}()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out, nil
}

// forward passes the messages of one subscription to out, and poisons those the
// marshaler rejected instead. Each subscription has one message in flight, so a rejected
// one holds only its own consumer while its poisoning is retried.
func (s *Subscriber) forward(handler string, in <-chan *message.Message, out chan<- *message.Message) {
	delay := s.retryDelay
	for msg := range in {
		reason := msg.Metadata.Get(envelope.RejectedKey)
		if reason == "" {
			out <- msg
			continue
		}
		if s.poisonRejected(handler, msg, reason, delay) {
			delay = s.retryDelay
		} else {
			delay = min(2*delay, s.maxRetryDelay)
		}
	}
}

// poisonRejected publishes the rejected msg to the poison queue and acks it. When the
// poison queue cannot take it, msg is nacked after delay, so nothing is lost, and it
// reports false.
func (s *Subscriber) poisonRejected(handler string, msg *message.Message, reason string, delay time.Duration) bool {
	ctx := msg.Context()
	routingKey := msg.Metadata.Get(envelope.EventNameKey)
	poisoned := message.NewMessage(msg.UUID, msg.Payload)
	for k, v := range msg.Metadata {
		if k != envelope.RejectedKey {
			poisoned.Metadata.Set(k, v)
		}
	}
	poisoned.Metadata.Set(envelope.PoisonReasonKey, reason)
	poisoned.Metadata.Set(envelope.PoisonHandlerKey, handler)
	poisoned.Metadata.Set(envelope.PoisonRoutingKeyKey, routingKey)
	poisoned.Metadata.Set(envelope.PoisonAttemptsKey, "0")
	poisoned.Metadata.Set(envelope.PoisonedAtKey, time.Now().UTC().Format(time.RFC3339Nano))
	poisoned.SetContext(ctx)
	if err := s.poison.Publish(envelope.PoisonTopic, poisoned); err != nil {
		s.logger.ErrorContext(ctx, "message over the limits not poisoned; handed back",
			"handler", handler, "message_id", msg.UUID, "routing_key", routingKey, "reason", reason,
			"error", err.Error(), "retry_in", delay.String())
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		msg.Nack()
		return false
	}
	s.logger.ErrorContext(ctx, "message poisoned",
		"handler", handler, "message_id", msg.UUID, "routing_key", routingKey, "reason", reason, "attempts", 0)
	s.mu.Lock()
	onPoisoned := s.onPoisoned
	s.mu.Unlock()
	if onPoisoned != nil {
		onPoisoned(handler)
	}
	msg.Ack()
	return true
}

// Close closes the underlying subscriber.
func (s *Subscriber) Close() error { return s.sub.Close() }
