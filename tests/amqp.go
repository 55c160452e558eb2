package tests

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/handlers"
)

// What `make test` tells the tests about its RabbitMQ.
const (
	EnvAMQPURL    = "ORDERFLOW_TEST_AMQP_URL"
	EnvRabbitAPI  = "ORDERFLOW_TEST_RABBITMQ_API"
	rabbitTimeout = 10 * time.Second
)

// AMQPURL returns the URL of a new, empty virtual host of the test's own on the broker
// `make test` started, deleted when the test ends: tests in parallel never share a queue.
func AMQPURL(t testing.TB) string {
	t.Helper()
	base, api := os.Getenv(EnvAMQPURL), os.Getenv(EnvRabbitAPI)
	if base == "" || api == "" {
		requireServer(t, "RabbitMQ ("+EnvAMQPURL+", "+EnvRabbitAPI+")")
	}
	vhost := "t-" + uuid.NewString()[:8]
	rabbitAPI(t, http.MethodPut, api, "/api/vhosts/"+vhost, "")
	rabbitAPI(t, http.MethodPut, api, "/api/permissions/"+vhost+"/guest", `{"configure":".*","write":".*","read":".*"}`)
	t.Cleanup(func() { rabbitAPI(t, http.MethodDelete, api, "/api/vhosts/"+vhost, "") })
	u, err := url.Parse(base)
	require.NoError(t, err)
	u.Path = "/" + vhost
	return u.String()
}

func rabbitAPI(t testing.TB, method, api, path, body string) {
	t.Helper()
	u, err := url.Parse(api)
	require.NoError(t, err)
	pass, _ := u.User.Password()
	req, err := http.NewRequest(method, u.Scheme+"://"+u.Host+path, strings.NewReader(body))
	require.NoError(t, err)
	req.SetBasicAuth(u.User.Username(), pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: rabbitTimeout}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Less(t, resp.StatusCode, 300, "%s %s", method, path)
}

// Tap publishes to and listens on a worker's broker from outside, as another program
// would.
type Tap interface {
	// Publish sends msg with topic as its event name (routing key), signed with the
	// worker's keys as Orderflow signs what it publishes.
	Publish(t testing.TB, topic string, msg *message.Message)
	// PublishUnsigned sends msg as it is, as a foreign producer would.
	PublishUnsigned(t testing.TB, topic string, msg *message.Message)
	// Subscribe returns every message published to topic from now on.
	Subscribe(t testing.TB, topic string) <-chan *message.Message
	// Poisoned returns what the poison queue holds.
	Poisoned(t testing.TB) []*message.Message
}

// amqpTap is a Tap on RabbitMQ through amqp091-go.
type amqpTap struct {
	url  string
	conn *amqp.Connection
}

func newAMQPTap(t testing.TB, urls ...string) *amqpTap {
	t.Helper()
	var errs []error
	for _, url := range urls {
		conn, err := amqp.Dial(url)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.Cleanup(func() { _ = conn.Close() })
		return &amqpTap{url: url, conn: conn}
	}
	require.NoError(t, errors.Join(errs...), "no node of the broker answers")
	return nil
}

// transport publishes a message as it is.
type transport interface {
	PublishUnsigned(t testing.TB, topic string, msg *message.Message)
	Subscribe(t testing.TB, topic string) <-chan *message.Message
	Poisoned(t testing.TB) []*message.Message
}

// tap signs for a transport with the keys of its worker.
type tap struct {
	transport
	w *TestWorker
}

func (p tap) Publish(t testing.TB, topic string, msg *message.Message) {
	t.Helper()
	handlers.Sign(p.w.Keys, topic, msg)
	p.PublishUnsigned(t, topic, msg)
}

func (a *amqpTap) PublishUnsigned(t testing.TB, topic string, msg *message.Message) {
	t.Helper()
	ch, err := a.conn.Channel()
	require.NoError(t, err)
	defer ch.Close()
	require.NoError(t, ch.Confirm(false))
	pub, err := amqpbroker.Marshaler{}.Marshal(msg)
	require.NoError(t, err)
	dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), amqpbroker.Exchange, topic, false, false, pub)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), rabbitTimeout)
	defer cancel()
	acked, err := dc.WaitContext(ctx)
	require.NoError(t, err)
	require.True(t, acked)
}

func (a *amqpTap) Subscribe(t testing.TB, topic string) <-chan *message.Message {
	t.Helper()
	ch, err := a.conn.Channel()
	require.NoError(t, err)
	t.Cleanup(func() { _ = ch.Close() })
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	require.NoError(t, err)
	require.NoError(t, ch.QueueBind(q.Name, topic, amqpbroker.Exchange, false, nil))
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	require.NoError(t, err)
	out := make(chan *message.Message, 1024)
	go func() {
		for d := range deliveries {
			msg, err := amqpbroker.Marshaler{}.Unmarshal(d)
			if err == nil {
				out <- msg
			}
		}
	}()
	return out
}

func (a *amqpTap) Poisoned(t testing.TB) []*message.Message {
	t.Helper()
	ch, err := a.conn.Channel()
	require.NoError(t, err)
	defer ch.Close() // puts back what was read
	var out []*message.Message
	for {
		d, ok, err := ch.Get(amqpbroker.PoisonQueueName, false)
		require.NoError(t, err)
		if !ok {
			return out
		}
		msg, err := amqpbroker.Marshaler{}.Unmarshal(d)
		require.NoError(t, err)
		out = append(out, msg)
	}
}

// inprocTap is a Tap on the in-process broker.
type inprocTap struct{ w *TestWorker }

func (i inprocTap) PublishUnsigned(t testing.TB, topic string, msg *message.Message) {
	t.Helper()
	require.NoError(t, i.w.Broker.Publish(topic, msg))
}

func (i inprocTap) Subscribe(t testing.TB, topic string) <-chan *message.Message {
	t.Helper()
	return i.w.Subscribe(t, topic)
}

func (i inprocTap) Poisoned(testing.TB) []*message.Message {
	return i.w.Broker.Retained(envelope.PoisonTopic)
}

// Env is where a test worker runs: a broker and a store.
type Env struct {
	Name  string
	Start func(t testing.TB, cfg *configs.Config, table []handlers.Definition) *TestWorker
}

// Envs are GoChannel with memory stores, and RabbitMQ with Redis.
func Envs() []Env {
	return []Env{
		{Name: "gochannel", Start: Start},
		{Name: "amqp", Start: StartAMQP},
	}
}

// AMQPConfig points cfg at a vhost and a Redis database of the test's own, with short
// redelivery delays.
func AMQPConfig(t testing.TB, cfg *configs.Config) *configs.Config {
	t.Helper()
	if cfg == nil {
		cfg = TestConfig()
	}
	cfg.Broker, cfg.AMQP.URL = configs.BrokerAMQP, AMQPURL(t)
	cfg.Store, cfg.Redis.URL = configs.StoreRedis, RedisURL(t)
	cfg.AMQP.RetryDelays = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	cfg.Signing.KeysFile = SigningKeysFile(t)
	return cfg
}

// StartAMQP runs a worker on RabbitMQ and Redis: as cfg says when it names the amqp
// broker already (see AMQPConfig), else each in a namespace of the test's own.
func StartAMQP(t testing.TB, cfg *configs.Config, table []handlers.Definition) *TestWorker {
	t.Helper()
	return StartAMQPWith(t, cfg, table, Options{})
}

// StartAMQPWith is StartAMQP with options.
func StartAMQPWith(t testing.TB, cfg *configs.Config, table []handlers.Definition, opts Options) *TestWorker {
	t.Helper()
	opts = opts.withDefaults()
	if cfg == nil || cfg.Broker != configs.BrokerAMQP {
		cfg = AMQPConfig(t, cfg)
	}
	transport, closeTransport, err := worker.NewAMQPTransport(cfg, Logger())
	require.NoError(t, err)
	storage, closeStorage, err := worker.NewRedisStorage(cfg, Logger())
	require.NoError(t, err)
	tw, cleanup, err := initializeWorkerOn(OnlyFor(cfg, table), opts.Logger, table, opts.Clock, opts.Tracer, transport, storage)
	require.NoError(t, err)
	tw.Tap = tap{newAMQPTap(t, cfg.AMQP.URLs()...), tw}
	run(t, tw, func() {
		cleanup()
		closeStorage()
		closeTransport()
	})
	return tw
}

// amqpTapOf returns the AMQP connection under a worker's tap.
func amqpTapOf(t Tap) *amqpTap {
	return t.(tap).transport.(*amqpTap)
}
