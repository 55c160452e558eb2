package tests

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/adapters/inproc"
	"github.com/orderflow/orderflow/app/adapters/paysim"
	"github.com/orderflow/orderflow/app/signing"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/handlers"
)

// TestWorker is a running worker and the parts tests reach into.
type TestWorker struct {
	Worker   *worker.Worker
	Broker   *inproc.Broker
	Payments *paysim.Provider
	Storage  worker.Storage
	Registry *prometheus.Registry
	// Keys sign what the worker publishes; nil when it runs unsigned.
	Keys *signing.Keys
	// Tap reaches the broker from outside.
	Tap Tap
}

// Counter returns the value of the counter name with the label handler, or 0.
func (w *TestWorker) Counter(t testing.TB, name, handler string) float64 {
	t.Helper()
	return CounterValue(t, w.Registry, name, handler)
}

// CounterValue sums the counter name of reg over the series labelled handler.
func CounterValue(t testing.TB, reg prometheus.Gatherer, name, handler string) float64 {
	t.Helper()
	return CounterValueWith(t, reg, name, map[string]string{"handler": handler})
}

// CounterValueWith sums the counter name of reg over the series that have every label.
func CounterValueWith(t testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m.GetLabel(), labels) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// labelPair is a label of a gathered series (client_model's LabelPair).
type labelPair interface {
	GetName() string
	GetValue() string
}

// hasLabels reports whether the labels of a gathered series hold every label.
func hasLabels[P labelPair](pairs []P, labels map[string]string) bool {
	matched := 0
	for _, l := range pairs {
		if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
			matched++
		}
	}
	return matched == len(labels)
}

// TestConfig is the default configuration with an ephemeral HTTP port and retries fast
// enough for tests.
func TestConfig() *configs.Config {
	cfg := configs.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTP.AdminAddr = "127.0.0.1:0"
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.HandlerDefaults.Retry.InitialInterval = time.Millisecond
	cfg.HandlerDefaults.Retry.MaxInterval = 10 * time.Millisecond
	cfg.HandlerDefaults.Retry.MaxElapsed = 2 * time.Second
	return cfg
}

// Logger writes to stderr when ORDERFLOW_TEST_LOG is set, else nowhere.
func Logger() *slog.Logger {
	if os.Getenv("ORDERFLOW_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Start runs a worker with the handlers of table on cfg (TestConfig when nil), the
// in-process broker and memory stores, until the test ends.
func Start(t testing.TB, cfg *configs.Config, table []handlers.Definition) *TestWorker {
	t.Helper()
	return StartWith(t, cfg, table, Options{})
}

// Options change what a test worker runs with; zero fields take the defaults.
type Options struct {
	// Logger defaults to Logger().
	Logger *slog.Logger
	// Clock defaults to the wall clock.
	Clock app.Clock
	// Tracer records the worker's spans; it defaults to one that records nothing.
	Tracer trace.TracerProvider
}

func (o Options) withDefaults() Options {
	if o.Tracer == nil {
		o.Tracer = noop.NewTracerProvider()
	}
	if o.Logger == nil {
		o.Logger = Logger()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// StartWith is Start with options.
func StartWith(t testing.TB, cfg *configs.Config, table []handlers.Definition, opts Options) *TestWorker {
	t.Helper()
	if cfg == nil {
		cfg = TestConfig()
	}
	opts = opts.withDefaults()
	tw, cleanup, err := initializeTestWorker(OnlyFor(cfg, table), opts.Logger, table, opts.Clock, opts.Tracer)
	require.NoError(t, err)
	tw.Tap = tap{inprocTap{tw}, tw}
	run(t, tw, cleanup)
	return tw
}

// StartOn runs a worker like Start, on broker through transport (which may wrap it) and
// on storage.
func StartOn(t testing.TB, cfg *configs.Config, table []handlers.Definition, broker *inproc.Broker, transport worker.Transport, storage worker.Storage) *TestWorker {
	t.Helper()
	tw, err := TryStartOn(t, cfg, table, broker, transport, storage, Options{})
	require.NoError(t, err)
	return tw
}

// OnlyFor drops from cfg the blocks of handlers that table lacks, which the worker would
// refuse as unknown: a test may run a few rows of the table on the default config.
func OnlyFor(cfg *configs.Config, table []handlers.Definition) *configs.Config {
	for name := range cfg.Handlers {
		if !slices.ContainsFunc(table, func(d handlers.Definition) bool { return d.Name == name }) {
			delete(cfg.Handlers, name)
		}
	}
	return cfg
}

// TryStartOn is StartOn with options, returning the error of a worker that cannot be
// built (its table or configuration refused) instead of failing the test.
func TryStartOn(t testing.TB, cfg *configs.Config, table []handlers.Definition, broker *inproc.Broker, transport worker.Transport, storage worker.Storage, opts Options) (*TestWorker, error) {
	t.Helper()
	opts = opts.withDefaults()
	tw, cleanup, err := initializeWorkerOn(OnlyFor(cfg, table), opts.Logger, table, opts.Clock, opts.Tracer, transport, storage)
	if err != nil {
		return nil, err
	}
	tw.Broker = broker
	tw.Tap = tap{inprocTap{tw}, tw}
	run(t, tw, cleanup)
	return tw, nil
}

// ConsumersOf returns the names of the handlers of table that consume the event named
// (every handler when event is ""), in table order, so that tests expect what each
// handler does without listing which handlers exist.
func ConsumersOf(t testing.TB, table []handlers.Definition, eventName string) []string {
	t.Helper()
	built, err := worker.BuildHandlers(TestConfig(), Logger(), worker.NewMemoryStorage(), &app.Application{}, table, time.Now)
	require.NoError(t, err)
	var names []string
	for _, b := range built {
		if eventName == "" || slices.Contains(b.Handler.Events(), eventName) {
			names = append(names, b.Name)
		}
	}
	return names
}

// run starts tw and, when the test ends, checks that it stops cleanly.
func run(t testing.TB, tw *TestWorker, cleanup func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tw.Worker.Run(ctx) }()
	select {
	case <-tw.Worker.Started():
	case err := <-done:
		cancel()
		cleanup()
		require.NoError(t, err, "worker did not start")
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("worker did not start within 10s")
	}
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done, "worker stops cleanly")
		cleanup()
	})
}

// URL returns the base URL of the worker's HTTP API.
func (w *TestWorker) URL() string { return "http://" + w.Worker.Addr().String() }

// AdminURL is the base URL of the worker's admin listener.
func (w *TestWorker) AdminURL() string { return "http://" + w.Worker.AdminAddr().String() }

// Subscribe acks and collects every message published to topic from now until the test
// ends.
func (w *TestWorker) Subscribe(t testing.TB, topic string) <-chan *message.Message {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	in, err := w.Broker.Subscribe(ctx, topic)
	require.NoError(t, err)
	out := make(chan *message.Message, 1024)
	go func() {
		for msg := range in {
			msg.Ack()
			out <- msg
		}
	}()
	return out
}

// Receive waits up to 5 s for the next message on ch.
func Receive(t testing.TB, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case msg := <-ch:
		return msg
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}

// Definition returns the row of the handler table named name.
func Definition(t testing.TB, name string) handlers.Definition {
	t.Helper()
	for _, def := range handlers.Table() {
		if def.Name == name {
			return def
		}
	}
	t.Fatalf("no handler %s in the table", name)
	return handlers.Definition{}
}

func mustDuration(t testing.TB, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	require.NoError(t, err)
	return d
}

// writeWorkerConfig writes a config file for worker processes on the RabbitMQ at amqpURL
// and the Redis at redisURL, with amqpExtra (indented keys) in the amqp block and extra
// YAML after, and returns its path. Every worker and command given the file signs with
// the test process's key file.
func writeWorkerConfig(t testing.TB, amqpURL, redisURL, amqpExtra, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "orderflow.yaml")
	yaml := "broker: amqp\nstore: redis\namqp:\n  url: " + amqpURL + "\n" + amqpExtra + "redis:\n  url: " + redisURL + "\n" +
		"signing:\n  keys_file: " + SigningKeysFile(t) + "\n" + "drain_window: 200ms\n" + extra
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

// awaitStatus waits until the order has status and returns what the API shows of it.
func awaitStatus(t testing.TB, c *Client, id, status string, timeout time.Duration) OrderView {
	t.Helper()
	var v OrderView
	Eventually(t, timeout, func() string {
		r := c.Must(t, http.MethodGet, "/orders/"+id, nil)
		if r.Status != http.StatusOK {
			return id + " not recorded yet"
		}
		r.JSON(t, &v)
		if v.Status != status {
			return id + " is " + v.Status + " " + v.Reason
		}
		return ""
	})
	return v
}

// ledgerCaptures counts the captures the simulated provider holds per order; with
// onceEach, it also checks that the provider was asked once per order.
func ledgerCaptures(t testing.TB, w *TestWorker, onceEach bool) map[string]int {
	t.Helper()
	captures := map[string]int{}
	for _, charge := range w.Payments.Ledger() {
		if charge.Captured {
			captures[charge.Key]++
			if onceEach {
				assert.Equal(t, 1, charge.Calls, "the provider was asked once for %s", charge.Key)
			}
		}
	}
	return captures
}
