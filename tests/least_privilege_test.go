package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

// EnvRabbitCtl names rabbitmqctl for the broker `make test` starts (tests/services.sh).
const EnvRabbitCtl = "ORDERFLOW_TEST_RABBITMQCTL"

// TestLeastPrivilege_each_user_does_only_its_job loads deploy/rabbitmq/definitions.json
// as deploy/rabbitmq/README.md says (rabbitmqctl import_definitions, then
// rabbitmqctl change_password) and runs each user against the real broker: the worker
// runs the saga, retry queues and poison queue included; the producer publishes
// order.placed and nothing else, and reads nothing; the monitor sees the queues in the
// management API and can neither publish nor consume; connections are limited per user.
func TestLeastPrivilege_each_user_does_only_its_job(t *testing.T) {
	t.Parallel()
	b := importDefinitions(t, "users", "vhosts", "permissions", "topic_permissions", "exchanges", "queues", "bindings")

	t.Run("no user can log in before its password is set", func(t *testing.T) {
		// At once: RabbitMQ answers a failed login only after 3 s.
		var wg sync.WaitGroup
		for _, user := range b.users() {
			for _, pass := range []string{"", user, b.name[user]} {
				wg.Go(func() {
					conn, err := amqp.Dial(b.urlWith(b.name[user], pass))
					if err == nil {
						_ = conn.Close()
					}
					assert.ErrorIs(t, err, amqp.ErrCredentials, "%s with password %q", user, pass)
				})
			}
		}
		wg.Wait()
	})
	b.setPasswords(t)

	// The worker runs on the file's retry tiers: it declares them again, with the same
	// arguments, and finds them there.
	probe := newRedeliveryProbe()
	w := startWorkerAs(t, b, configs.Default().AMQP.RetryDelays, probe)
	c := NewClient(w.URL())

	t.Run("the worker runs the saga, through a retry queue too", func(t *testing.T) {
		id := placeOrder(t, c)
		awaitStatus(t, c, id, "confirmed", 30*time.Second)
		probe.awaitHandled(t, id)
	})

	producer := b.url[amqpbroker.ProducerUser]
	t.Run("the producer publishes order.placed", func(t *testing.T) {
		id := "ord-lp-" + uuid.NewString()[:8]
		require.NoError(t, publishAs(t, producer, amqpbroker.Exchange, event.OrderPlacedName, placedBody(t, id)))
		awaitStatus(t, c, id, "confirmed", 30*time.Second)
	})

	t.Run("the producer publishes no other routing key, and not around the exchange", func(t *testing.T) {
		for _, to := range []struct{ exchange, key string }{
			{amqpbroker.Exchange, event.InventoryRejectedName},
			{amqpbroker.Exchange, event.PaymentCapturedName},
			{amqpbroker.Exchange, event.OrderConfirmedName},
			{amqpbroker.Exchange, amqpbroker.PoisonQueueName},
			{amqpbroker.Exchange, "order.placed.extra"},
			{"", amqpbroker.PoisonQueueName},
			{"", "orderflow.inventory-reserve"},
			{amqpbroker.RetryExchange, "orderflow.inventory-reserve"},
		} {
			requireRefused(t, publishAs(t, producer, to.exchange, to.key, placedBody(t, "ord-refused")),
				"publish to exchange %q with routing key %q", to.exchange, to.key)
		}
	})

	t.Run("the producer reads, consumes and declares nothing", func(t *testing.T) {
		requireNothingButPublish(t, b, producer)
	})

	monitor := b.url[amqpbroker.MonitorUser]
	t.Run("the monitor neither publishes nor consumes", func(t *testing.T) {
		requireRefused(t, publishAs(t, monitor, amqpbroker.Exchange, event.OrderPlacedName, placedBody(t, "ord-refused")),
			"the monitor publishes order.placed")
		requireNothingButPublish(t, b, monitor)
	})

	t.Run("the monitor sees the queues in the management API, not their messages", func(t *testing.T) {
		status, body := b.management(t, amqpbroker.MonitorUser, http.MethodGet, "/api/queues/"+url.PathEscape(b.vhost), "")
		require.Equal(t, http.StatusOK, status, "%s", body)
		assert.Contains(t, string(body), `"name":"`+amqpbroker.PoisonQueueName+`"`)
		status, body = b.management(t, amqpbroker.MonitorUser, http.MethodPost,
			"/api/queues/"+url.PathEscape(b.vhost)+"/"+amqpbroker.PoisonQueueName+"/get",
			`{"count":1,"ackmode":"ack_requeue_true","encoding":"auto"}`)
		assert.Equal(t, http.StatusUnauthorized, status, "%s", body)
	})

	t.Run("connections are limited per user", func(t *testing.T) {
		limit := b.maxConnections[amqpbroker.MonitorUser]
		require.Positive(t, limit)
		var conns []*amqp.Connection
		defer func() {
			for _, conn := range conns {
				_ = conn.Close()
			}
		}()
		for range limit {
			conn, err := amqp.Dial(monitor)
			require.NoError(t, err)
			conns = append(conns, conn)
		}
		conn, err := amqp.Dial(monitor)
		if err == nil {
			_ = conn.Close()
		}
		require.Error(t, err, "connection %d of the monitor, over its limit of %d", limit+1, limit)
		require.NoError(t, conns[0].Close())
		conns = conns[1:]
		Eventually(t, 10*time.Second, func() string {
			conn, err := amqp.Dial(monitor)
			if err != nil {
				return "no connection after one was closed: " + err.Error()
			}
			conns = append(conns, conn)
			return ""
		})
	})

	t.Run("the worker poisons what it cannot process, and orderflow poison reads it as the worker", func(t *testing.T) {
		require.NoError(t, publishAs(t, producer, amqpbroker.Exchange, event.OrderPlacedName, []byte(`{"order_id": "not an order"`)))
		q, err := amqpbroker.DialPoisonQueue([]string{b.url[amqpbroker.WorkerUser]}, nil)
		require.NoError(t, err)
		defer q.Close()
		Eventually(t, 30*time.Second, func() string {
			list, err := q.List()
			require.NoError(t, err)
			for _, p := range list {
				if p.Handler == handlers.InventoryReserve && p.RoutingKey == event.OrderPlacedName {
					return ""
				}
			}
			return "inventory-reserve has not poisoned the broken order.placed yet"
		})
		n, err := q.Purge()
		require.NoError(t, err)
		assert.Positive(t, n)
	})
}

// TestLeastPrivilege_worker_declares_its_own_topology: with only the users, the vhost
// and the permissions of the definitions loaded, the worker user declares every exchange
// and queue itself (retry queues on tiers that no definitions hold, whose dead-letter
// exchange is the default one), and the saga runs, through a retry queue too.
func TestLeastPrivilege_worker_declares_its_own_topology(t *testing.T) {
	t.Parallel()
	b := importDefinitions(t, "users", "vhosts", "permissions", "topic_permissions")
	b.setPasswords(t, amqpbroker.WorkerUser)
	probe := newRedeliveryProbe()
	w := startWorkerAs(t, b, nil, probe)
	c := NewClient(w.URL())
	id := placeOrder(t, c)
	awaitStatus(t, c, id, "confirmed", 30*time.Second)
	probe.awaitHandled(t, id)
}

// brokerUsers are the users of the definitions file on the test broker, in a vhost of
// the test's own. Users are global on a broker, so each gets a name of the test's own
// too; name maps the file's name to it.
type brokerUsers struct {
	vhost          string
	vhostURL       *url.URL
	queues         []string
	name           map[string]string
	maxConnections map[string]int
	password       map[string]string
	// url holds an AMQP URL to the vhost for each user whose password is set.
	url map[string]string
}

// importDefinitions loads the sections of deploy/rabbitmq/definitions.json with
// rabbitmqctl import_definitions, as operators do, into a new vhost under user names of
// the test's own, and deletes those users when the test ends.
func importDefinitions(t *testing.T, sections ...string) *brokerUsers {
	t.Helper()
	ctl := os.Getenv(EnvRabbitCtl)
	if ctl == "" {
		requireServer(t, "rabbitmqctl of the test broker ("+EnvRabbitCtl+")")
	}
	vhostURL, err := url.Parse(AMQPURL(t))
	require.NoError(t, err)
	b := &brokerUsers{
		vhost: strings.TrimPrefix(vhostURL.Path, "/"), vhostURL: vhostURL,
		name: map[string]string{}, maxConnections: map[string]int{}, password: map[string]string{}, url: map[string]string{},
	}

	raw, err := os.ReadFile("../deploy/rabbitmq/definitions.json")
	require.NoError(t, err)
	var defs map[string]any
	require.NoError(t, json.Unmarshal(raw, &defs))
	for _, item := range defs["users"].([]any) {
		u := item.(map[string]any)
		file := u["name"].(string)
		b.name[file] = b.vhost + "." + file
		u["name"] = b.name[file]
		limits, _ := u["limits"].(map[string]any)
		n, _ := limits["max-connections"].(float64)
		b.maxConnections[file] = int(n)
	}
	for _, section := range []string{"permissions", "topic_permissions"} {
		for _, item := range defs[section].([]any) {
			p := item.(map[string]any)
			p["user"] = b.name[p["user"].(string)]
		}
	}
	defs["vhosts"] = []any{map[string]any{"name": b.vhost}}
	for _, section := range []string{"permissions", "topic_permissions", "exchanges", "queues", "bindings"} {
		for _, item := range defs[section].([]any) {
			item.(map[string]any)["vhost"] = b.vhost
		}
	}
	for _, item := range defs["queues"].([]any) {
		b.queues = append(b.queues, item.(map[string]any)["name"].(string))
	}

	scoped := map[string]any{"rabbit_version": defs["rabbit_version"]}
	for _, s := range sections {
		scoped[s] = defs[s]
	}
	out, err := json.Marshal(scoped)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "definitions.json")
	require.NoError(t, os.WriteFile(path, out, 0o600))
	api := os.Getenv(EnvRabbitAPI)
	t.Cleanup(func() {
		for _, name := range b.name {
			rabbitAPI(t, http.MethodDelete, api, "/api/users/"+url.PathEscape(name), "")
		}
	})
	cmd := exec.Command(ctl, "import_definitions", path)
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "rabbitmqctl import_definitions: %s", msg)
	return b
}

// users returns the names of the users in the file.
func (b *brokerUsers) users() []string {
	var out []string
	for file := range b.name {
		out = append(out, file)
	}
	return out
}

// setPasswords sets a password for each of users (every user when none is named) with
// rabbitmqctl change_password, the password on stdin as the README shows.
func (b *brokerUsers) setPasswords(t *testing.T, users ...string) {
	t.Helper()
	if len(users) == 0 {
		users = b.users()
	}
	for _, user := range users {
		name, ok := b.name[user]
		require.True(t, ok, "no user %s in the definitions", user)
		pass := uuid.NewString()
		cmd := exec.Command(os.Getenv(EnvRabbitCtl), "change_password", name)
		cmd.Stdin = strings.NewReader(pass + "\n")
		msg, err := cmd.CombinedOutput()
		require.NoError(t, err, "rabbitmqctl change_password %s: %s", name, msg)
		b.password[user] = pass
		b.url[user] = b.urlWith(name, pass)
	}
}

func (b *brokerUsers) urlWith(name, pass string) string {
	u := *b.vhostURL
	u.User = url.UserPassword(name, pass)
	return u.String()
}

// management calls the management API as user and returns the status and the body.
func (b *brokerUsers) management(t *testing.T, user, method, path, body string) (int, []byte) {
	t.Helper()
	api, err := url.Parse(os.Getenv(EnvRabbitAPI))
	require.NoError(t, err)
	req, err := http.NewRequest(method, api.Scheme+"://"+api.Host+path, strings.NewReader(body))
	require.NoError(t, err)
	req.SetBasicAuth(b.name[user], b.password[user])
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: rabbitTimeout}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

// startWorkerAs runs a worker on the vhost of b as the worker user, on delays (when not
// nil) and with probe beside the table's handlers.
func startWorkerAs(t *testing.T, b *brokerUsers, delays []time.Duration, probe *redeliveryProbe) *TestWorker {
	t.Helper()
	cfg := AMQPConfig(t, nil)
	cfg.AMQP.URL = b.url[amqpbroker.WorkerUser]
	if delays != nil {
		cfg.AMQP.RetryDelays = delays
	}
	return StartAMQP(t, cfg, append(handlers.Table(), probe.definition()))
}

// placeOrder places an order over the worker's HTTP API and returns its id.
func placeOrder(t *testing.T, c *Client) string {
	t.Helper()
	r := c.Must(t, http.MethodPost, "/orders", validOrder())
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var placed struct {
		OrderID string `json:"order_id"`
	}
	r.JSON(t, &placed)
	require.NotEmpty(t, placed.OrderID)
	return placed.OrderID
}

// publishAs publishes body to exchange with key on a connection of its own to url, and
// returns nil once the broker confirmed it, else the error with which the broker closed
// the channel instead.
func publishAs(t *testing.T, url, exchange, key string, body []byte) error {
	t.Helper()
	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	require.NoError(t, ch.Confirm(false))
	ctx, cancel := context.WithTimeout(context.Background(), rabbitTimeout)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, amqp.Publishing{
		MessageId: uuid.NewString(), ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: body,
	})
	require.NoError(t, err)
	acked, err := dc.WaitContext(ctx)
	require.NoError(t, err, "no confirm within %s", rabbitTimeout)
	if acked {
		return nil
	}
	// A refused publish closes the channel, and the pending confirm ends as a nack.
	select {
	case e := <-closed:
		if e != nil {
			return e
		}
	case <-ctx.Done():
	}
	return errors.New("nacked, and the channel was not closed with an error")
}

// requireNothingButPublish checks that the user of url can get, consume, purge and
// declare none of the queues of b, nor declare one of its own.
func requireNothingButPublish(t *testing.T, b *brokerUsers, url string) {
	t.Helper()
	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	defer conn.Close()
	// Each refusal closes its channel, so every operation gets a channel of its own.
	on := func(op func(ch *amqp.Channel) error) error {
		ch, err := conn.Channel()
		require.NoError(t, err)
		defer ch.Close()
		return op(ch)
	}
	require.NotEmpty(t, b.queues)
	for _, q := range b.queues {
		requireRefused(t, on(func(ch *amqp.Channel) error { _, _, err := ch.Get(q, false); return err }), "get from %s", q)
		requireRefused(t, on(func(ch *amqp.Channel) error {
			_, err := ch.Consume(q, "", false, false, false, false, nil)
			return err
		}), "consume %s", q)
		requireRefused(t, on(func(ch *amqp.Channel) error { _, err := ch.QueuePurge(q, false); return err }), "purge %s", q)
		requireRefused(t, on(func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "classic"})
			return err
		}), "declare %s", q)
	}
	requireRefused(t, on(func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare("", false, true, true, false, nil)
		return err
	}), "declare a server-named queue to bind to the events")
	requireRefused(t, on(func(ch *amqp.Channel) error {
		return ch.ExchangeDeclare(amqpbroker.Exchange, amqp.ExchangeTopic, true, false, false, false, nil)
	}), "declare %s", amqpbroker.Exchange)
}

// requireRefused checks that err is the broker's ACCESS_REFUSED (403).
func requireRefused(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	what = fmt.Sprintf(what, args...)
	var aerr *amqp.Error
	require.ErrorAs(t, err, &aerr, what)
	assert.Equal(t, amqp.AccessRefused, aerr.Code, "%s: %v", what, aerr)
}

// redeliveryProbe is a handler on order.placed that fails each message on its first
// delivery, outside the in-process retries: the redeliver stage parks it on the retry
// exchange, and RabbitMQ dead-letters it back to the probe's queue after the delay. The
// probe handles what comes back.
type redeliveryProbe struct {
	mu      sync.Mutex
	failed  map[string]bool
	handled chan string
}

func newRedeliveryProbe() *redeliveryProbe {
	return &redeliveryProbe{failed: map[string]bool{}, handled: make(chan string, 64)}
}

func (p *redeliveryProbe) definition() handlers.Definition {
	failFirst := handlers.Custom("fail-first-delivery", func(handlers.StageEnv) (message.HandlerMiddleware, error) {
		return func(h message.HandlerFunc) message.HandlerFunc {
			return func(msg *message.Message) ([]*message.Message, error) {
				p.mu.Lock()
				first := !p.failed[msg.UUID]
				p.failed[msg.UUID] = true
				p.mu.Unlock()
				if first {
					return nil, errors.New("the probe fails a first delivery")
				}
				return h(msg)
			}
		}, nil
	})
	return handlers.Definition{
		Name: "redelivery-probe",
		New: func(handlers.Deps) (handlers.Handler, error) {
			return handlers.NewHandler(handlers.On(func(_ context.Context, e event.OrderPlaced) (event.Event, error) {
				select {
				case p.handled <- e.OrderID:
				default:
				}
				return nil, nil
			})), nil
		},
		Chain: handlers.Standard.Without(handlers.StageThrottle).With(failFirst, handlers.Before(handlers.StageRetry)),
	}
}

// awaitHandled waits until the probe handled the order, which it does only once the
// order came back through a retry queue.
func (p *redeliveryProbe) awaitHandled(t *testing.T, orderID string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case id := <-p.handled:
			if id == orderID {
				return
			}
		case <-deadline:
			t.Fatalf("order %s did not come back through a retry queue within 30s", orderID)
		}
	}
}
