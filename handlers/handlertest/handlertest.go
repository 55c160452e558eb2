// Package handlertest runs one handler of the table with its own chain on the in-process
// broker, for the handler's own tests: publish an event, wait until the chain is done
// with it, and look at what it published, poisoned and stored.
//
//	rig := handlertest.Run(t, handlertest.Row(t, handlers.FraudScreen))
//	out := rig.Handle(t, "msg-1", event.OrderPlaced{...})
package handlertest

import (
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
	"github.com/orderflow/orderflow/tests"
)

// Option changes how Run runs the handler.
type Option func(*options)

type options struct {
	cfg      *configs.Config
	settings string
	storage  *worker.Storage
	tests.Options
}

// WithLogger logs to logger instead of nowhere.
func WithLogger(logger *slog.Logger) Option { return func(o *options) { o.Logger = logger } }

// WithClock gives the handler and its chain clock instead of the wall clock.
func WithClock(clock app.Clock) Option { return func(o *options) { o.Clock = clock } }

// WithConfig runs on cfg instead of tests.TestConfig().
func WithConfig(cfg *configs.Config) Option { return func(o *options) { o.cfg = cfg } }

// WithSettings sets the handler's settings block (handlers.<name>.settings) to the YAML
// given, e.g. "max_orders: 2\nwindow: 1m".
func WithSettings(yamlBlock string) Option { return func(o *options) { o.settings = yamlBlock } }

// WithStorage runs on storage (e.g. worker.RedisStorage) instead of memory stores.
func WithStorage(storage worker.Storage) Option { return func(o *options) { o.storage = &storage } }

// Row returns the row of handlers.Table() named name.
func Row(t testing.TB, name string) handlers.Definition { return tests.Definition(t, name) }

// Rig is one handler running until the test ends.
type Rig struct {
	// Worker is the running worker, for what the rig does not wrap.
	Worker *tests.TestWorker
	name   string
	state  app.State

	mu        sync.Mutex
	changed   chan struct{}
	handled   map[string]int
	published []*message.Message
}

// Run starts the handler of def with its chain. It fails the test when the handler
// cannot start, e.g. because its settings are wrong; see Start to get that error.
func Run(t testing.TB, def handlers.Definition, opts ...Option) *Rig {
	t.Helper()
	r, err := Start(t, def, opts...)
	require.NoError(t, err)
	return r
}

// Start is Run, returning the error a handler that cannot start gives.
func Start(t testing.TB, def handlers.Definition, opts ...Option) (*Rig, error) {
	t.Helper()
	o := options{cfg: tests.TestConfig()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.settings != "" {
		var doc yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(o.settings), &doc), "settings YAML")
		override := o.cfg.Handlers[def.Name]
		override.Settings = *doc.Content[0]
		if o.cfg.Handlers == nil {
			o.cfg.Handlers = map[string]configs.HandlerOverride{}
		}
		o.cfg.Handlers[def.Name] = override
	}
	r := &Rig{name: def.Name, changed: make(chan struct{}), handled: map[string]int{}}
	def.Chain = r.observed(def.Chain)
	storage := worker.NewMemoryStorage()
	if o.storage != nil {
		storage = *o.storage
	}
	r.state = storage.State(def.Name)
	broker, closeBroker := worker.NewInprocBroker(tests.Logger())
	t.Cleanup(closeBroker)
	transport := worker.NewInprocTransport(broker)
	transport.Publisher = recordingPublisher{Publisher: transport.Publisher, rig: r}
	w, err := tests.TryStartOn(t, o.cfg, []handlers.Definition{def}, broker, transport, storage, o.Options)
	if err != nil {
		return nil, err
	}
	r.Worker = w
	return r, nil
}

// observed adds a stage that records each message the chain is done with, just inside
// correlation (which must stay outermost), so it sees the outcome of every stage else.
func (r *Rig) observed(chain handlers.Chain) handlers.Chain {
	observe := handlers.Custom("handlertest", func(handlers.StageEnv) (message.HandlerMiddleware, error) {
		return func(h message.HandlerFunc) message.HandlerFunc {
			return func(msg *message.Message) ([]*message.Message, error) {
				out, err := h(msg)
				if err == nil {
					r.record(func() { r.handled[msg.UUID]++ })
				}
				return out, err
			}
		}, nil
	})
	if chain.Has(handlers.StageCorrelation) {
		return chain.With(observe, handlers.After(handlers.StageCorrelation))
	}
	return append(handlers.Chain{observe}, chain...)
}

func (r *Rig) record(change func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change()
	close(r.changed)
	r.changed = make(chan struct{})
}

// Publish sends e to the handler as message id, with metadata given as key, value pairs,
// as a producer on the broker would.
func (r *Rig) Publish(t testing.TB, id string, e event.Event, metadata ...string) {
	t.Helper()
	body, err := json.Marshal(e)
	require.NoError(t, err)
	msg := message.NewMessage(id, body)
	for i := 0; i+1 < len(metadata); i += 2 {
		msg.Metadata.Set(metadata[i], metadata[i+1])
	}
	r.Worker.Tap.Publish(t, e.EventName(), msg)
}

// AwaitHandled waits up to 5 s until the chain has acked message id for the nth time
// (n = 1 for a first delivery): handled, dropped as a duplicate or poisoned.
func (r *Rig) AwaitHandled(t testing.TB, id string, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		done, changed := r.handled[id] >= n, r.changed
		r.mu.Unlock()
		if done {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("handler %s did not finish message %s (%d times) within 5s", r.name, id, n)
		}
	}
}

// Handle publishes e as message id, waits until it is handled, and returns the messages
// the handler published for it (none when it publishes nothing).
func (r *Rig) Handle(t testing.TB, id string, e event.Event) []*message.Message {
	t.Helper()
	r.mu.Lock()
	n := r.handled[id] + 1
	r.mu.Unlock()
	r.Publish(t, id, e)
	r.AwaitHandled(t, id, n)
	return r.PublishedFor(id)
}

// PublishedFor returns what the handler published while handling message id.
func (r *Rig) PublishedFor(id string) []*message.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*message.Message
	for _, m := range r.published {
		if m.Metadata.Get(envelope.CausationIDKey) == id {
			out = append(out, m)
		}
	}
	return out
}

// Poisoned returns what the handler sent to the poison queue.
func (r *Rig) Poisoned(t testing.TB) []*message.Message { return r.Worker.Tap.Poisoned(t) }

// State is the handler's own state.
func (r *Rig) State() app.State { return r.state }

// Stores are the use cases' stores.
func (r *Rig) Stores() app.Stores { return r.Worker.Storage.Stores }

// recordingPublisher keeps a copy of every event a handler publishes (the poison queue
// aside, which Poisoned reads).
type recordingPublisher struct {
	message.Publisher
	rig *Rig
}

func (p recordingPublisher) Publish(topic string, msgs ...*message.Message) error {
	if err := p.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	if topic == envelope.PoisonTopic {
		return nil
	}
	p.rig.record(func() {
		for _, m := range msgs {
			p.rig.published = append(p.rig.published, m.Copy())
		}
	})
	return nil
}
