package amqpbroker

import (
	"context"
	"fmt"
	"sync"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Subscriber consumes a handler's queue with several consumers at once: a watermill-amqp
// subscription holds one message in flight until it is acked, whatever the prefetch, so
// parallelism per handler takes several subscriptions, merged here into one channel.
type Subscriber struct {
	sub      *wamqp.Subscriber
	topology *Topology

	mu        sync.Mutex
	consumers map[string]int
}

// NewSubscriber wraps sub, whose config uses topology as its TopologyBuilder.
func NewSubscriber(sub *wamqp.Subscriber, topology *Topology) *Subscriber {
	return &Subscriber{sub: sub, topology: topology, consumers: map[string]int{}}
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
			for msg := range in {
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

// Close closes the underlying subscriber.
func (s *Subscriber) Close() error { return s.sub.Close() }
