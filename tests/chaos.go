package tests

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/worker"
)

// Faults configures what ChaosTransport does to the messages handlers publish.
type Faults struct {
	// FailRate is the share of handler publishes that fail: half before the message is
	// sent, half after (the handler's effects and its event are out, yet it sees an
	// error and is retried).
	FailRate float64
	// PanicRate is the share of handler publishes that panic instead.
	PanicRate float64
	// Seed makes the faults repeatable.
	Seed uint64
}

// ChaosTransport wraps a transport: it delivers every message twice, and makes the
// publishes of handlers fail or panic at random. Publishes from outside a handler (the
// HTTP API) and to the poison queue are left alone.
type ChaosTransport struct {
	inner worker.Transport
	f     Faults

	mu  sync.Mutex
	rnd *rand.Rand

	Failed   atomic.Int64
	Panicked atomic.Int64
	Doubled  atomic.Int64
}

// NewChaosTransport wraps inner.
func NewChaosTransport(inner worker.Transport, f Faults) *ChaosTransport {
	return &ChaosTransport{inner: inner, f: f, rnd: rand.New(rand.NewPCG(f.Seed, f.Seed+1))}
}

// Transport returns the wrapped transport.
func (c *ChaosTransport) Transport() worker.Transport {
	return worker.Transport{Publisher: chaosPublisher{c}, Subscriber: chaosSubscriber{c}, Check: c.inner.Check}
}

var errInjected = errors.New("injected transient failure")

func (c *ChaosTransport) roll() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rnd.Float64()
}

type chaosPublisher struct{ c *ChaosTransport }

func (p chaosPublisher) Publish(topic string, msgs ...*message.Message) error {
	fromHandler := len(msgs) > 0 && msgs[0].Metadata.Get(envelope.CausationIDKey) != ""
	if !fromHandler || topic == envelope.PoisonTopic {
		return p.c.inner.Publisher.Publish(topic, msgs...)
	}
	roll := p.c.roll()
	switch {
	case roll < p.c.f.PanicRate:
		p.c.Panicked.Add(1)
		panic("injected panic")
	case roll < p.c.f.PanicRate+p.c.f.FailRate/2:
		p.c.Failed.Add(1)
		return errInjected
	case roll < p.c.f.PanicRate+p.c.f.FailRate:
		p.c.Failed.Add(1)
		if err := p.c.inner.Publisher.Publish(topic, msgs...); err != nil {
			return err
		}
		return errInjected
	}
	return p.c.inner.Publisher.Publish(topic, msgs...)
}

func (p chaosPublisher) Close() error { return nil }

type chaosSubscriber struct{ c *ChaosTransport }

func (s chaosSubscriber) Bind(queue string, consumers int, events ...string) error {
	return s.c.inner.Subscriber.Bind(queue, consumers, events...)
}

// Subscribe delivers each message and then a copy with the same id and metadata, as a
// broker that redelivers would.
func (s chaosSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := s.c.inner.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for msg := range in {
			dup := msg.Copy()
			out <- msg
			out <- dup
			s.c.Doubled.Add(1)
			// The copy's ack does not matter: the original is redelivered until handled.
			go func() {
				select {
				case <-dup.Acked():
				case <-dup.Nacked():
				case <-ctx.Done():
				}
			}()
		}
	}()
	return out, nil
}

func (s chaosSubscriber) Close() error { return nil }
