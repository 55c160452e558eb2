package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/configs"
)

// cliResult is how a run of the binary ended.
type cliResult struct {
	Code           int
	Stdout, Stderr string
	Took           time.Duration
}

// runCLI runs the binary with args, env added to this process's environment, and stdin
// as its standard input (a pipe, so never a terminal).
func runCLI(t *testing.T, env []string, stdin string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := cliResult{Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("orderflow %s: %v", strings.Join(args, " "), err)
	}
	return r
}

func TestCLI_help_exits_0(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"help", "poison"}, {"poison", "--help"}, {"run", "-h"}} {
		r := runCLI(t, []string{"ORDERFLOW_BROKER=kafka"}, "", args...)
		assert.Equal(t, 0, r.Code, "%v: %s", args, r.Stderr)
		assert.Empty(t, r.Stderr, "%v", args)
		assert.Contains(t, r.Stdout, "Usage", "%v", args)
	}
	r := runCLI(t, nil, "", "help")
	for _, v := range configs.Variables() {
		assert.Contains(t, r.Stdout, "  "+v.Name+" ", "help lists %s", v.Name)
	}
}

func TestCLI_start_up_log_names_the_version(t *testing.T) {
	t.Parallel()
	p := StartBinary(t, "ORDERFLOW_HTTP_ADDR=127.0.0.1:0")
	var loaded map[string]any
	for _, line := range strings.Split(p.Logs(), "\n") {
		if strings.Contains(line, `"msg":"config loaded"`) {
			require.NoError(t, json.Unmarshal([]byte(line), &loaded))
		}
	}
	require.NotNil(t, loaded, p.Logs())
	assert.Equal(t, "dev", loaded["version"])
}

// TestCLI_usage_error_exits_2_without_connecting: the broker URL points at a listener
// of the test's own, which counts connections; every usage error returns at once with
// status 2 and one line and a hint, and nothing connects.
func TestCLI_usage_error_exits_2_without_connecting(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	env := []string{"ORDERFLOW_BROKER=amqp", "ORDERFLOW_SIGNING_ALLOW_UNSIGNED=true", "ORDERFLOW_AMQP_URL=amqp://guest:guest@" + l.Addr().String() + "/"}
	for _, args := range [][]string{
		{"frob"},
		{"poison"},
		{"poison", "frob"},
		{"poison", "replay"},
		{"poison", "replay", "--all", "--id", "x"},
		{"poison", "list", "--bogus"},
		{"poison", "list", "--limit"},
		{"poison", "purge"}, // stdin is a pipe: no terminal to confirm on
		{"run", "configs/staging.yaml"},
		{"run", "--config", "a.yaml", "--config", "b.yaml"},
	} {
		r := runCLI(t, env, "yes\n", args...)
		assert.Equal(t, 2, r.Code, "%v: %s", args, r.Stderr)
		assert.Empty(t, r.Stdout, "%v", args)
		lines := strings.Split(strings.TrimSuffix(r.Stderr, "\n"), "\n")
		if assert.Len(t, lines, 2, "%v: one line and a hint: %s", args, r.Stderr) {
			assert.True(t, strings.HasPrefix(lines[0], "orderflow: "), "%v: %s", args, lines[0])
			assert.True(t, strings.HasPrefix(lines[1], "Run 'orderflow help"), "%v: %s", args, lines[1])
		}
		assert.Less(t, r.Took, 5*time.Second, "%v returns at once", args)
	}
	assert.Zero(t, accepted.Load(), "no usage error connected to the broker")

	// The same broker for a command line that is right: it connects, and fails with 1.
	r := runCLI(t, env, "", "poison", "list")
	assert.Equal(t, 1, r.Code, r.Stderr)
	assert.Positive(t, accepted.Load(), "a valid command does connect")
}

// poisonRig is a vhost with the exchange and the poison queue as a worker declares them,
// and a queue bound to every event, which sees what a replay publishes.
type poisonRig struct {
	url    string
	ch     *amqp.Channel
	events string
	env    []string
}

func newPoisonRig(t *testing.T) *poisonRig {
	t.Helper()
	url := AMQPURL(t)
	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.ExchangeDeclare(amqpbroker.Exchange, "topic", true, false, false, false, nil))
	_, err = ch.QueueDeclare(amqpbroker.PoisonQueueName, true, false, false, false, amqp.Table{"x-queue-type": "classic"})
	require.NoError(t, err)
	require.NoError(t, ch.QueueBind(amqpbroker.PoisonQueueName, amqpbroker.PoisonQueueName, amqpbroker.Exchange, false, nil))
	events, err := ch.QueueDeclare("", false, true, true, false, nil)
	require.NoError(t, err)
	for _, key := range []string{"order.*", "inventory.*", "payment.*"} {
		require.NoError(t, ch.QueueBind(events.Name, key, amqpbroker.Exchange, false, nil))
	}
	require.NoError(t, ch.Confirm(false))
	// The poison commands read broker and URL from the environment alone.
	env := []string{"ORDERFLOW_BROKER=amqp", "ORDERFLOW_AMQP_URL=" + url, "ORDERFLOW_SIGNING_ALLOW_UNSIGNED=true"}
	return &poisonRig{url: url, ch: ch, events: events.Name, env: env}
}

// poison puts a message in the poison queue as the worker leaves one there.
func (r *poisonRig) poison(t *testing.T, id, handler, routingKey, reason string, ago time.Duration) {
	t.Helper()
	dc, err := r.ch.PublishWithDeferredConfirmWithContext(context.Background(), amqpbroker.Exchange, amqpbroker.PoisonQueueName, true, false, amqp.Publishing{
		MessageId: id, ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: []byte(`{"id":"` + id + `"}`),
		Headers: amqp.Table{
			envelope.PoisonHandlerKey: handler, envelope.PoisonRoutingKeyKey: routingKey, envelope.PoisonReasonKey: reason,
			envelope.PoisonAttemptsKey: "3", envelope.PoisonedAtKey: time.Now().Add(-ago).UTC().Format(time.RFC3339Nano),
		},
	})
	require.NoError(t, err)
	ok, err := dc.WaitContext(context.Background())
	require.NoError(t, err)
	require.True(t, ok)
}

func (r *poisonRig) cli(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	return runCLI(t, r.env, stdin, append([]string{"poison"}, args...)...)
}

// ids lists the ids of the poison queue, in its order, through `poison list --json`
// with args as filters.
func (r *poisonRig) ids(t *testing.T, args ...string) []string {
	t.Helper()
	res := r.cli(t, "", append([]string{"list", "--json"}, args...)...)
	require.Equal(t, 0, res.Code, res.Stderr)
	var list []amqpbroker.Poisoned
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &list), res.Stdout)
	out := []string{}
	for _, p := range list {
		out = append(out, p.ID)
	}
	return out
}

// replayed returns the ids and routing keys of what replays published so far.
func (r *poisonRig) replayed(t *testing.T) []string {
	t.Helper()
	var out []string
	for {
		d, ok, err := r.ch.Get(r.events, true)
		require.NoError(t, err)
		if !ok {
			return out
		}
		out = append(out, d.MessageId+"@"+d.RoutingKey)
	}
}

func TestPoisonCLI_filters_dry_run_and_purge(t *testing.T) {
	t.Parallel()
	r := newPoisonRig(t)
	r.poison(t, "p1", "payment-capture", "inventory.reserved", "payment provider unavailable", 3*time.Hour)
	r.poison(t, "p2", "inventory-reserve", "order.placed", "items[0].quantity must be 1..1000", 2*time.Hour)
	r.poison(t, "p3", "payment-capture", "inventory.reserved", "payment provider unavailable", 30*time.Minute)
	r.poison(t, "p4", "order-confirm", "payment.captured", "signature missing", 20*time.Minute)
	r.poison(t, "p5", "payment-capture", "inventory.reserved", "payment provider unavailable", 10*time.Minute)
	r.poison(t, "p6", "inventory-reserve", "order.placed", "decode order.placed: unexpected end of JSON input", 5*time.Minute)
	all := []string{"p1", "p2", "p3", "p4", "p5", "p6"}

	assert.Equal(t, all, r.ids(t), "oldest first")
	assert.Equal(t, []string{"p1", "p3", "p5"}, r.ids(t, "--handler", "payment-capture"))
	assert.Equal(t, []string{"p4", "p6"}, r.ids(t, "--handler", "inventory-reserve", "--handler", "order-confirm", "--since", "1h"))
	assert.Equal(t, []string{"p1", "p2"}, r.ids(t, "--before", "1h"))
	assert.Equal(t, []string{"p3", "p4", "p5", "p6"}, r.ids(t, "--since", "1h"))
	assert.Equal(t, []string{"p6"}, r.ids(t, "--reason", "order.placed"))
	assert.Equal(t, []string{"p1", "p3"}, r.ids(t, "--reason", "unavailable", "--limit", "2"))
	assert.Equal(t, []string{"p1", "p2"}, r.ids(t, "--limit", "2"))

	table := r.cli(t, "", "list", "--handler", "payment-capture", "--limit", "2")
	require.Equal(t, 0, table.Code, table.Stderr)
	lines := strings.Split(strings.TrimSuffix(table.Stdout, "\n"), "\n")
	require.Len(t, lines, 3, table.Stdout)
	assert.True(t, strings.HasPrefix(lines[0], "ID "), "the header first: %s", lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "p1 "))
	assert.True(t, strings.HasPrefix(lines[2], "p3 "))

	// Dry runs print what would happen and change nothing.
	dry := r.cli(t, "", "replay", "--all", "--handler", "payment-capture", "--dry-run")
	require.Equal(t, 0, dry.Code, dry.Stderr)
	assert.Contains(t, dry.Stdout, "would replay p1 to inventory.reserved (poisoned by payment-capture)\n")
	assert.Contains(t, dry.Stdout, "3 would be replayed (dry run: nothing changed)\n")
	dry = r.cli(t, "", "purge", "--handler", "inventory-reserve", "--dry-run")
	require.Equal(t, 0, dry.Code, dry.Stderr)
	assert.Contains(t, dry.Stdout, "2 would be purged (dry run: nothing changed)\n")
	assert.Empty(t, r.replayed(t), "a dry run publishes nothing")
	assert.Equal(t, all, r.ids(t), "a dry run removes nothing, and the order holds")

	// purge without --yes on a pipe refuses, before connecting.
	refused := r.cli(t, "yes\n", "purge", "--handler", "inventory-reserve")
	assert.Equal(t, 2, refused.Code, refused.Stderr)
	assert.Contains(t, refused.Stderr, "stdin is not a terminal to confirm on: add --yes")
	assert.Equal(t, all, r.ids(t))

	purged := r.cli(t, "", "purge", "--handler", "inventory-reserve", "--yes")
	require.Equal(t, 0, purged.Code, purged.Stderr)
	assert.True(t, strings.HasSuffix(purged.Stdout, "\n2 purged\n"), purged.Stdout)
	assert.Equal(t, []string{"p1", "p3", "p4", "p5"}, r.ids(t), "only what matched is gone; the rest keeps its order")

	replay := r.cli(t, "", "replay", "--all", "--reason", "provider", "--limit", "2")
	require.Equal(t, 0, replay.Code, replay.Stderr)
	assert.Equal(t, "replayed p1 to inventory.reserved\nreplayed p3 to inventory.reserved\n2 replayed\n", replay.Stdout)
	assert.Equal(t, []string{"p1@inventory.reserved", "p3@inventory.reserved"}, r.replayed(t))
	assert.Equal(t, []string{"p4", "p5"}, r.ids(t))

	missing := r.cli(t, "", "replay", "--id", "p4", "--id", "nope")
	assert.Equal(t, 1, missing.Code)
	assert.Contains(t, missing.Stderr, `no message "nope" in the poison queue matches`)
	assert.Equal(t, []string{"p4@payment.captured"}, r.replayed(t), "the id that is there is replayed")

	rest := r.cli(t, "", "purge", "--yes")
	require.Equal(t, 0, rest.Code, rest.Stderr)
	assert.True(t, strings.HasSuffix(rest.Stdout, "\n1 purged\n"), rest.Stdout)
	assert.Empty(t, r.ids(t))
	assert.Equal(t, "[]\n", r.cli(t, "", "list", "--json").Stdout)
}

// TestPoisonCLI_list_streams: list prints its header, then each row as it reads it.
// The test reads the first bytes and then stops reading, so the command blocks once the
// pipe is full; messages are still waiting to be read in the queue by then, which they
// would not be if it printed only after reading the whole queue.
func TestPoisonCLI_list_streams(t *testing.T) {
	t.Parallel()
	r := newPoisonRig(t)
	const n = 2000 // rows of ~130 bytes: several times what a pipe holds
	for i := range n {
		r.poison(t, "m"+strconv.Itoa(i), "payment-capture", "inventory.reserved", "payment provider unavailable", time.Minute)
	}
	cmd := exec.Command(Binary(t), "poison", "list")
	cmd.Env = append(os.Environ(), r.env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	first := make([]byte, 64)
	_, err = io.ReadFull(stdout, first)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(first), "ID "), "the header comes first: %q", first)

	Eventually(t, 10*time.Second, func() string {
		q, err := r.ch.QueueDeclarePassive(amqpbroker.PoisonQueueName, true, false, false, false, nil)
		require.NoError(t, err)
		// Messages counts the ready ones, not those the command holds unacknowledged.
		if q.Messages == n {
			return "the command has not started reading"
		}
		return ""
	})
	time.Sleep(300 * time.Millisecond) // let it fill the pipe and block
	q, err := r.ch.QueueDeclarePassive(amqpbroker.PoisonQueueName, true, false, false, false, nil)
	require.NoError(t, err)
	assert.Positive(t, q.Messages, "rows came out while messages were still unread")

	rest, err := io.ReadAll(stdout)
	require.NoError(t, err)
	require.NoError(t, cmd.Wait())
	assert.Equal(t, n+1, strings.Count(string(first)+string(rest), "\n"), "the header and every row")
	Eventually(t, 10*time.Second, func() string {
		q, err := r.ch.QueueDeclarePassive(amqpbroker.PoisonQueueName, true, false, false, false, nil)
		require.NoError(t, err)
		if q.Messages != n {
			return "not every message is back yet"
		}
		return ""
	})
}
