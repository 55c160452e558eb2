package amqpbroker

import (
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	amqp "github.com/rabbitmq/amqp091-go"
)

// The names of the topology.
const (
	// Exchange is the durable topic exchange every event goes through; the routing key
	// is the event name.
	Exchange = "orderflow.events"
	// PoisonQueueName holds what no handler could process; it is bound to Exchange with its
	// own name as routing key.
	PoisonQueueName = "orderflow.poison"
	// RetryExchange is a headers exchange that parks a message in the retry queue of its
	// tier; the routing key is the queue of the handler it goes back to.
	RetryExchange = "orderflow.delay"
	// RedeliverExchange is the direct exchange retry queues dead-letter to; each handler
	// queue is bound to it by its own name. A named exchange, not the default one, so
	// the worker's broker user needs rights on orderflow.* names only.
	RedeliverExchange = "orderflow.redeliver"
	// TierHeader picks the retry queue.
	TierHeader = "orderflow_retry_tier"
)

// RetryQueue names the retry queue of a tier, e.g. orderflow.delay.60s.
func RetryQueue(delay time.Duration) string { return "orderflow.delay." + tierName(delay) }

// tierName writes a delay in whole seconds, or milliseconds when it has a fraction.
func tierName(delay time.Duration) string {
	if delay%time.Second == 0 {
		return fmt.Sprintf("%ds", delay/time.Second)
	}
	return fmt.Sprintf("%dms", delay/time.Millisecond)
}

// Topology declares exchanges and queues. Handler queues are bound to the events their
// handler consumes; retry queues hold a message for their delay, then dead-letter it
// through RedeliverExchange to the queue it came from. Declaring is idempotent, and
// watermill-amqp calls BuildTopology again after every reconnect.
type Topology struct {
	// QueueType is "classic" or "quorum".
	QueueType string
	// RetryDelays are the delays of the retry tiers, shortest first.
	RetryDelays []time.Duration

	mu       sync.Mutex
	bindings map[string][]string
}

var _ wamqp.TopologyBuilder = (*Topology)(nil)

// Bind records that queue receives events.
func (t *Topology) Bind(queue string, events ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bindings == nil {
		t.bindings = map[string][]string{}
	}
	t.bindings[queue] = append(t.bindings[queue], events...)
}

func (t *Topology) queueArgs() amqp.Table {
	return amqp.Table{"x-queue-type": t.QueueType}
}

// ExchangeDeclare implements wamqp.TopologyBuilder.
func (t *Topology) ExchangeDeclare(ch *amqp.Channel, name string, _ wamqp.Config) error {
	return ch.ExchangeDeclare(name, amqp.ExchangeTopic, true, false, false, false, nil)
}

// BuildTopology implements wamqp.TopologyBuilder: it declares everything, then binds
// queue to its events.
func (t *Topology) BuildTopology(ch *amqp.Channel, queue, _ string, cfg wamqp.Config, _ watermill.LoggerAdapter) error {
	if err := t.Declare(ch); err != nil {
		return err
	}
	t.mu.Lock()
	events := append([]string(nil), t.bindings[queue]...)
	t.mu.Unlock()
	if len(events) == 0 {
		return fmt.Errorf("queue %s is bound to no event", queue)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, t.queueArgs()); err != nil {
		return fmt.Errorf("declare queue %s: %w", queue, err)
	}
	for _, b := range handlerBindings(queue, events) {
		if err := ch.QueueBind(queue, b.RoutingKey, b.Exchange, false, b.Args); err != nil {
			return fmt.Errorf("bind %s to %s on %s: %w", queue, b.RoutingKey, b.Exchange, err)
		}
	}
	return nil
}

// handlerBindings are the bindings of a handler's queue: its events, and its own name on
// RedeliverExchange for what comes back from a retry queue.
func handlerBindings(queue string, events []string) []bindingSpec {
	bindings := make([]bindingSpec, 0, len(events)+1)
	for _, e := range events {
		bindings = append(bindings, bindingSpec{Exchange: Exchange, RoutingKey: e})
	}
	return append(bindings, bindingSpec{Exchange: RedeliverExchange, RoutingKey: queue})
}

// Declare declares the exchanges, the poison queue and the retry queues.
func (t *Topology) Declare(ch *amqp.Channel) error {
	if err := t.ExchangeDeclare(ch, Exchange, wamqp.Config{}); err != nil {
		return fmt.Errorf("declare exchange %s: %w", Exchange, err)
	}
	if err := ch.ExchangeDeclare(RetryExchange, amqp.ExchangeHeaders, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", RetryExchange, err)
	}
	if err := ch.ExchangeDeclare(RedeliverExchange, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", RedeliverExchange, err)
	}
	for _, q := range t.fixedQueues() {
		if _, err := ch.QueueDeclare(q.Name, true, false, false, false, q.Args); err != nil {
			return fmt.Errorf("declare queue %s: %w", q.Name, err)
		}
		for _, b := range q.Bindings {
			if err := ch.QueueBind(q.Name, b.RoutingKey, b.Exchange, false, b.Args); err != nil {
				return fmt.Errorf("bind %s: %w", q.Name, err)
			}
		}
	}
	return nil
}

// queueSpec is a queue of the topology with its bindings.
type queueSpec struct {
	Name     string
	Args     amqp.Table
	Bindings []bindingSpec
}

type bindingSpec struct {
	Exchange   string
	RoutingKey string
	Args       amqp.Table
}

// fixedQueues are the queues that do not depend on the handlers: the poison queue and a
// retry queue per tier, which holds a message for its delay, then dead-letters it through
// RedeliverExchange, keeping its routing key, to the queue it came from.
func (t *Topology) fixedQueues() []queueSpec {
	queues := []queueSpec{{
		Name:     PoisonQueueName,
		Args:     t.queueArgs(),
		Bindings: []bindingSpec{{Exchange: Exchange, RoutingKey: PoisonQueueName}},
	}}
	for _, delay := range t.RetryDelays {
		args := t.queueArgs()
		args["x-message-ttl"] = delay.Milliseconds()
		args["x-dead-letter-exchange"] = RedeliverExchange
		if t.QueueType == "quorum" {
			// A quorum queue dead-letters at most once by default: a message whose
			// target queue is electing a leader when its delay ends would be dropped.
			// At least once needs reject-publish: a full retry queue refuses the
			// message, which then stays where it is instead of being lost.
			args["x-dead-letter-strategy"] = "at-least-once"
			args["x-overflow"] = "reject-publish"
		}
		queues = append(queues, queueSpec{
			Name: RetryQueue(delay),
			Args: args,
			Bindings: []bindingSpec{{
				Exchange: RetryExchange,
				Args:     amqp.Table{"x-match": "all", TierHeader: tierName(delay)},
			}},
		})
	}
	return queues
}
