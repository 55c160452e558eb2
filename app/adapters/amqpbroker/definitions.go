package amqpbroker

import (
	"encoding/json"
	"fmt"
)

// HandlerQueue is a handler's queue and the events bound to it.
type HandlerQueue struct {
	Queue  string
	Events []string
}

// DefinitionsVhost is the virtual host of the definitions file.
const DefinitionsVhost = "orderflow"

// The broker user of the definitions file; its password is "orderflow", to be changed
// once loaded (deploy/rabbitmq/README.md).
const (
	definitionsUser         = "orderflow"
	definitionsPasswordHash = "kI88EWxRAHD0LHImdqkp4VEmgfjbaa8thp9pO/RkySbRydPN"
)

// Definitions returns the RabbitMQ definitions (the JSON that rabbitmqctl
// import_definitions loads) of the whole topology for handlers: what the workers would
// declare themselves, for a broker that operations manage.
func (t *Topology) Definitions(handlers []HandlerQueue) ([]byte, error) {
	type user struct {
		Name             string   `json:"name"`
		PasswordHash     string   `json:"password_hash"`
		HashingAlgorithm string   `json:"hashing_algorithm"`
		Tags             []string `json:"tags"`
	}
	type permission struct {
		User      string `json:"user"`
		Vhost     string `json:"vhost"`
		Configure string `json:"configure"`
		Write     string `json:"write"`
		Read      string `json:"read"`
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
	defs := struct {
		RabbitVersion string           `json:"rabbit_version"`
		Users         []user           `json:"users"`
		Vhosts        []map[string]any `json:"vhosts"`
		Permissions   []permission     `json:"permissions"`
		Exchanges     []exchange       `json:"exchanges"`
		Queues        []queue          `json:"queues"`
		Bindings      []binding        `json:"bindings"`
	}{
		RabbitVersion: "3.10.8",
		Users:         []user{{Name: definitionsUser, PasswordHash: definitionsPasswordHash, HashingAlgorithm: "rabbit_password_hashing_sha256", Tags: []string{}}},
		Vhosts:        []map[string]any{{"name": DefinitionsVhost}},
		Permissions: []permission{{
			User: definitionsUser, Vhost: DefinitionsVhost,
			Configure: `^orderflow\.`, Write: `^orderflow\.`, Read: `^orderflow\.`,
		}},
		Exchanges: []exchange{
			{Name: Exchange, Vhost: DefinitionsVhost, Type: "topic", Durable: true, Arguments: map[string]any{}},
			{Name: RetryExchange, Vhost: DefinitionsVhost, Type: "headers", Durable: true, Arguments: map[string]any{}},
		},
	}
	specs := make([]queueSpec, 0, len(handlers))
	for _, h := range handlers {
		if len(h.Events) == 0 {
			return nil, fmt.Errorf("queue %s is bound to no event", h.Queue)
		}
		q := queueSpec{Name: h.Queue, Args: t.queueArgs()}
		for _, e := range h.Events {
			q.Bindings = append(q.Bindings, bindingSpec{Exchange: Exchange, RoutingKey: e})
		}
		specs = append(specs, q)
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
