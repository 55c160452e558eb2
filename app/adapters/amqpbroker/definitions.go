package amqpbroker

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// HandlerQueue is a handler's queue and the events bound to it.
type HandlerQueue struct {
	Queue  string
	Events []string
}

// DefinitionsVhost is the virtual host of the definitions file.
const DefinitionsVhost = "orderflow"

// The broker users of the definitions file, one per kind of program, each allowed only
// what that program does (deploy/rabbitmq/README.md). They come without a password:
// RabbitMQ creates such a user with none that works, so the file holds no secret and no
// default that would let anyone in; an operator sets each password once loaded
// (rabbitmqctl change_password).
const (
	// WorkerUser runs `orderflow run` and `orderflow poison`.
	WorkerUser = "orderflow-worker"
	// ProducerUser is for foreign producers of the entry events.
	ProducerUser = "orderflow-producer"
	// MonitorUser reads the management API (queues, rates, connections), and nothing
	// else.
	MonitorUser = "orderflow-monitor"
)

// Connection limits per user, over all its connections. A worker process holds two (it
// publishes and consumes on connections apart) and `orderflow poison` one, so 64 leaves
// room for 30 workers; the monitor's management API requests are HTTP and do not count,
// an AMQP health probe does.
const (
	workerMaxConnections   = 64
	producerMaxConnections = 16
	monitorMaxConnections  = 2
)

// nothing is the permission pattern that matches no resource: RabbitMQ maps the default
// exchange's empty name to amq.default before matching.
const nothing = "^$"

// exactly is a permission pattern that matches names and nothing else.
func exactly(names ...string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = regexp.QuoteMeta(n)
	}
	if len(quoted) == 1 {
		return "^" + quoted[0] + "$"
	}
	return "^(" + strings.Join(quoted, "|") + ")$"
}

// Definitions returns the RabbitMQ definitions (the JSON that rabbitmqctl
// import_definitions loads) of the whole topology for handlers: what the workers would
// declare themselves, for a broker that operations manage, and the users of
// WorkerUser, ProducerUser and MonitorUser. Producers may publish entryEvents
// (order.placed) and no other routing key.
func (t *Topology) Definitions(handlers []HandlerQueue, entryEvents []string) ([]byte, error) {
	if len(entryEvents) == 0 {
		return nil, fmt.Errorf("definitions: no entry event for producers")
	}
	for _, e := range entryEvents {
		if !IsEventName(e) {
			return nil, fmt.Errorf("definitions: entry event %q is not an event name", e)
		}
	}
	// A user without password_hash gets no password that works: an operator sets one.
	type user struct {
		Name   string         `json:"name"`
		Tags   []string       `json:"tags"`
		Limits map[string]int `json:"limits"`
	}
	type permission struct {
		User      string `json:"user"`
		Vhost     string `json:"vhost"`
		Configure string `json:"configure"`
		Write     string `json:"write"`
		Read      string `json:"read"`
	}
	type topicPermission struct {
		User     string `json:"user"`
		Vhost    string `json:"vhost"`
		Exchange string `json:"exchange"`
		Write    string `json:"write"`
		Read     string `json:"read"`
	}
	type exchange struct {
		Name       string         `json:"name"`
		Vhost      string         `json:"vhost"`
		Type       string         `json:"type"`
		Durable    bool           `json:"durable"`
		AutoDelete bool           `json:"auto_delete"`
		Internal   bool           `json:"internal"`
		Arguments  map[string]any `json:"arguments"`
	}
	type queue struct {
		Name       string         `json:"name"`
		Vhost      string         `json:"vhost"`
		Durable    bool           `json:"durable"`
		AutoDelete bool           `json:"auto_delete"`
		Arguments  map[string]any `json:"arguments"`
	}
	type binding struct {
		Source          string         `json:"source"`
		Vhost           string         `json:"vhost"`
		Destination     string         `json:"destination"`
		DestinationType string         `json:"destination_type"`
		RoutingKey      string         `json:"routing_key"`
		Arguments       map[string]any `json:"arguments"`
	}
	maxConnections := func(n int) map[string]int { return map[string]int{"max-connections": n} }
	defs := struct {
		RabbitVersion    string            `json:"rabbit_version"`
		Users            []user            `json:"users"`
		Vhosts           []map[string]any  `json:"vhosts"`
		Permissions      []permission      `json:"permissions"`
		TopicPermissions []topicPermission `json:"topic_permissions"`
		Exchanges        []exchange        `json:"exchanges"`
		Queues           []queue           `json:"queues"`
		Bindings         []binding         `json:"bindings"`
	}{
		RabbitVersion: "3.10.8",
		Users: []user{
			{Name: WorkerUser, Tags: []string{}, Limits: maxConnections(workerMaxConnections)},
			{Name: ProducerUser, Tags: []string{}, Limits: maxConnections(producerMaxConnections)},
			// monitoring: the management API's read-only view of queues, connections and
			// nodes; the permissions below still let it neither publish nor consume.
			{Name: MonitorUser, Tags: []string{"monitoring"}, Limits: maxConnections(monitorMaxConnections)},
		},
		Vhosts: []map[string]any{{"name": DefinitionsVhost}},
		Permissions: []permission{
			// The worker declares, binds, publishes to and consumes its own names, and
			// nothing else: its retry queues dead-letter through orderflow.redeliver, so
			// it needs no right on the default exchange.
			{User: WorkerUser, Vhost: DefinitionsVhost, Configure: `^orderflow\.`, Write: `^orderflow\.`, Read: `^orderflow\.`},
			// A producer publishes to the events exchange; what it may publish there is
			// narrowed by its topic permission.
			{User: ProducerUser, Vhost: DefinitionsVhost, Configure: nothing, Write: exactly(Exchange), Read: nothing},
			// The monitor needs a permission in the vhost to see its queues in the
			// management API, and none that could declare, publish or consume.
			{User: MonitorUser, Vhost: DefinitionsVhost, Configure: nothing, Write: nothing, Read: nothing},
		},
		TopicPermissions: []topicPermission{
			{User: ProducerUser, Vhost: DefinitionsVhost, Exchange: Exchange, Write: exactly(entryEvents...), Read: nothing},
		},
		Exchanges: []exchange{
			{Name: Exchange, Vhost: DefinitionsVhost, Type: "topic", Durable: true, Arguments: map[string]any{}},
			{Name: RetryExchange, Vhost: DefinitionsVhost, Type: "headers", Durable: true, Arguments: map[string]any{}},
			{Name: RedeliverExchange, Vhost: DefinitionsVhost, Type: "direct", Durable: true, Arguments: map[string]any{}},
		},
	}
	specs := make([]queueSpec, 0, len(handlers))
	for _, h := range handlers {
		if len(h.Events) == 0 {
			return nil, fmt.Errorf("queue %s is bound to no event", h.Queue)
		}
		specs = append(specs, queueSpec{Name: h.Queue, Args: t.queueArgs(), Bindings: handlerBindings(h.Queue, h.Events)})
	}
	for _, q := range append(specs, t.fixedQueues()...) {
		defs.Queues = append(defs.Queues, queue{Name: q.Name, Vhost: DefinitionsVhost, Durable: true, Arguments: q.Args})
		for _, b := range q.Bindings {
			args := map[string]any(b.Args)
			if args == nil {
				args = map[string]any{}
			}
			defs.Bindings = append(defs.Bindings, binding{
				Source: b.Exchange, Vhost: DefinitionsVhost, Destination: q.Name,
				DestinationType: "queue", RoutingKey: b.RoutingKey, Arguments: args,
			})
		}
	}
	out, err := json.MarshalIndent(defs, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode definitions: %w", err)
	}
	return append(out, '\n'), nil
}
