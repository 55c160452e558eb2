package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/termsafe"
)

// hostileList is a poison queue whose messages came from someone who wants to rewrite
// the operator's screen: every field a producer chooses holds controls.
func hostileList(now time.Time) []amqpbroker.Poisoned {
	return []amqpbroker.Poisoned{{
		ID:         "id\x1b[2J\x1b[H",
		Handler:    "inventory-reserve\r",
		RoutingKey: "order.placed\u009b31m",
		Reason:     "decode order.placed:\nfake line\t\x07\u202eevil\xff",
		Attempts:   1,
		PoisonedAt: now.Add(-time.Minute),
	}, {
		ID: "plain", Handler: "fraud-screen", RoutingKey: "order.placed", Reason: "items[0].quantity must be 1..1000",
		Attempts: 1, PoisonedAt: now.Add(-time.Hour),
	}}
}

func writeRows(t *testing.T, out rows, list []amqpbroker.Poisoned) {
	t.Helper()
	require.NoError(t, out.begin())
	for _, p := range list {
		require.NoError(t, out.row(p))
	}
	require.NoError(t, out.end())
}

func TestPoisonList_table_escapes_controls(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var buf bytes.Buffer
	writeRows(t, &table{w: &buf, now: now}, hostileList(now))
	out := buf.String()
	assertTerminalSafe(t, out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 3, "a newline in a reason does not start a line of its own:\n%s", out)
	assert.Contains(t, lines[1], `id\x1b[2J\x1b[H`)
	assert.Contains(t, lines[1], `inventory-reserve\r`)
	assert.Contains(t, lines[1], `order.placed\u009b31m`)
	assert.Contains(t, lines[1], `decode order.placed:\nfake line\t\a\u202eevil\xff`)
	assert.Contains(t, lines[2], "items[0].quantity must be 1..1000", "a plain reason reads as it is")
	assert.Equal(t, strings.Index(lines[0], "REASON"), strings.Index(lines[2], "items["), "fixed columns: the header is above its column")
}

func TestPoisonList_json_escapes_controls_and_says_the_same(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	list := hostileList(now)
	var buf bytes.Buffer
	writeRows(t, &jsonArray{w: termsafe.JSONWriter(&buf)}, list)
	assertTerminalSafe(t, buf.String())
	assert.Len(t, strings.Split(strings.TrimSpace(buf.String()), "\n"), 4, "[, one element a line, ]")
	var back []map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	require.Len(t, back, 2)
	assert.Equal(t, list[0].ID, back[0]["id"])
	assert.Equal(t, list[0].RoutingKey, back[0]["routing_key"])
	assert.Equal(t, strings.ToValidUTF8(list[0].Reason, "\ufffd"), back[0]["reason"], "JSON holds UTF-8 only")

	buf.Reset()
	writeRows(t, &jsonArray{w: &buf}, nil)
	assert.Equal(t, "[]\n", buf.String(), "an empty queue is an empty array")
}

// assertTerminalSafe fails when s holds a byte a terminal could act on: a control
// character other than the newline between lines, DEL, a C1 control, another character
// that is not printable, or a byte that is not UTF-8.
func assertTerminalSafe(t *testing.T, s string) {
	t.Helper()
	for i, r := range s {
		if r != '\n' && (r == '\ufffd' || !strconv.IsPrint(r)) {
			t.Fatalf("raw %U at byte %d of %q", r, i, s)
		}
	}
}

// fakeQueue is a poison queue in memory, with the semantics of amqpbroker.Pass: a pass
// reads the messages there when it began; what it does not remove stays.
type fakeQueue struct {
	msgs     []amqpbroker.Poisoned
	replayed []string
	passes   int
	open     int
	failNext error
}

func (q *fakeQueue) Begin() (pass, error) {
	q.passes++
	q.open++
	return &fakePass{q: q, left: append([]amqpbroker.Poisoned(nil), q.msgs...)}, nil
}

type fakePass struct {
	q    *fakeQueue
	left []amqpbroker.Poisoned
	// reads counts Next calls, for the streaming test.
	reads  int
	onRead func()
}

func (p *fakePass) Next() (amqpbroker.Poisoned, bool, error) {
	if p.q.failNext != nil && p.reads == 1 {
		return amqpbroker.Poisoned{}, false, p.q.failNext
	}
	if p.onRead != nil {
		p.onRead()
	}
	p.reads++
	if len(p.left) == 0 {
		return amqpbroker.Poisoned{}, false, nil
	}
	m := p.left[0]
	p.left = p.left[1:]
	return m, true, nil
}

func (p *fakePass) Remove(m amqpbroker.Poisoned) error {
	for i, o := range p.q.msgs {
		if o.ID == m.ID {
			p.q.msgs = append(p.q.msgs[:i:i], p.q.msgs[i+1:]...)
			return nil
		}
	}
	return errors.New("removed twice: " + m.ID)
}

func (p *fakePass) Replay(_ context.Context, m amqpbroker.Poisoned) error {
	p.q.replayed = append(p.q.replayed, m.ID)
	return p.Remove(m)
}

func (p *fakePass) Close() error {
	p.q.open--
	return nil
}

func sampleQueue(now time.Time) *fakeQueue {
	at := func(ago time.Duration) time.Time { return now.Add(-ago) }
	return &fakeQueue{msgs: []amqpbroker.Poisoned{
		{ID: "a", Handler: "payment-capture", RoutingKey: "inventory.reserved", Reason: "payment provider unavailable", Attempts: 6, PoisonedAt: at(3 * time.Hour)},
		{ID: "b", Handler: "inventory-reserve", RoutingKey: "order.placed", Reason: "items[0].quantity must be 1..1000", Attempts: 1, PoisonedAt: at(2 * time.Hour)},
		{ID: "c", Handler: "payment-capture", RoutingKey: "inventory.reserved", Reason: "payment provider unavailable", Attempts: 6, PoisonedAt: at(30 * time.Minute)},
		{ID: "d", Handler: "payment-capture", RoutingKey: "", Reason: "signature missing", Attempts: 1, PoisonedAt: at(10 * time.Minute)},
		{ID: "e", Handler: "order-confirm", RoutingKey: "payment.captured", Reason: "no time of poisoning"},
	}}
}

func ids(msgs []amqpbroker.Poisoned) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

// poison parses args as `orderflow poison ARGS` and runs them on q.
func poison(t *testing.T, q queue, now time.Time, stdin string, terminal bool, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd, err := Parse(append([]string{"poison"}, args...), now)
	require.NoError(t, err)
	var out, errOut bytes.Buffer
	err = runPoison(context.Background(), cmd.Poison, q, IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut, Terminal: terminal}, now)
	return out.String(), errOut.String(), err
}

func TestPoison_filters(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		Name string
		Args []string
		Want []string
	}{
		{"all", nil, []string{"a", "b", "c", "d", "e"}},
		{"handler", []string{"--handler", "payment-capture"}, []string{"a", "c", "d"}},
		{"handlers", []string{"--handler", "order-confirm", "--handler", "inventory-reserve"}, []string{"b", "e"}},
		{"reason", []string{"--reason", "provider"}, []string{"a", "c"}},
		{"reason as written", []string{"--reason", "Provider"}, nil},
		{"since", []string{"--since", "1h"}, []string{"c", "d"}},
		{"before", []string{"--before", "1h"}, []string{"a", "b"}},
		{"since and before", []string{"--since", "150m", "--before", "20m"}, []string{"b", "c"}},
		{"since a time", []string{"--since", "2026-11-22T11:45:00Z"}, []string{"d"}},
		{"limit", []string{"--handler", "payment-capture", "--limit", "2"}, []string{"a", "c"}},
		{"ids", []string{"--id", "e", "--id", "b"}, []string{"b", "e"}},
		{"everything", []string{"--handler", "payment-capture", "--reason", "unavailable", "--since", "4h", "--limit", "1"}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			q := sampleQueue(now)
			out, _, err := poison(t, q, now, "", false, append([]string{"list", "--json"}, tt.Args...)...)
			require.NoError(t, err)
			var got []amqpbroker.Poisoned
			require.NoError(t, json.Unmarshal([]byte(out), &got), out)
			assert.Equal(t, tt.Want, ids(got))
			assert.Len(t, q.msgs, 5, "list changes nothing")
			assert.Zero(t, q.open, "the pass is closed")
		})
	}
}

func TestPoisonList_streams_header_first_then_each_row_as_read(t *testing.T) {
	t.Parallel()
	now := time.Now()
	q := &streamQueue{fakeQueue: sampleQueue(now)}
	var out bytes.Buffer
	q.out = &out
	cmd, err := Parse([]string{"poison", "list"}, now)
	require.NoError(t, err)
	require.NoError(t, runPoison(context.Background(), cmd.Poison, q, IO{Stdout: &out}, now))
	// Before each read, the output held the header and one line per message read so far.
	require.Len(t, q.linesBeforeRead, 6)
	for i, n := range q.linesBeforeRead {
		assert.Equal(t, i+1, n, "before read %d", i+1)
	}
	assert.True(t, strings.HasPrefix(out.String(), "ID  "), out.String())
}

// streamQueue records, before each read, how many lines were printed already.
type streamQueue struct {
	*fakeQueue
	out             *bytes.Buffer
	linesBeforeRead []int
}

func (s *streamQueue) Begin() (pass, error) {
	p, _ := s.fakeQueue.Begin()
	fp := p.(*fakePass)
	fp.onRead = func() { s.linesBeforeRead = append(s.linesBeforeRead, strings.Count(s.out.String(), "\n")) }
	return fp, nil
}

func TestPoisonReplay(t *testing.T) {
	t.Parallel()
	now := time.Now()

	q := sampleQueue(now)
	out, _, err := poison(t, q, now, "", false, "replay", "--all", "--handler", "payment-capture", "--dry-run")
	require.Error(t, err, "d has no routing key, so it would fail")
	assert.Contains(t, err.Error(), `"d": no original routing key to replay to`)
	assert.Equal(t, "would replay a to inventory.reserved (poisoned by payment-capture)\n"+
		"would replay c to inventory.reserved (poisoned by payment-capture)\n"+
		"2 would be replayed (dry run: nothing changed)\n", out)
	assert.Empty(t, q.replayed, "a dry run replays nothing")
	assert.Len(t, q.msgs, 5)

	out, _, err = poison(t, q, now, "", false, "replay", "--all", "--reason", "unavailable", "--limit", "1")
	require.NoError(t, err)
	assert.Equal(t, "replayed a to inventory.reserved\n1 replayed\n", out)
	assert.Equal(t, []string{"b", "c", "d", "e"}, ids(q.msgs), "the rest stays, in order")

	out, _, err = poison(t, q, now, "", false, "replay", "--id", "b", "--id", "zz")
	assert.EqualError(t, err, `poison replay: no message "zz" in the poison queue matches`)
	assert.Equal(t, "replayed b to order.placed\n1 replayed\n", out)
	assert.Equal(t, []string{"a", "b"}, q.replayed)
	assert.Zero(t, q.open)
}

func TestPoisonPurge(t *testing.T) {
	t.Parallel()
	now := time.Now()

	t.Run("dry run", func(t *testing.T) {
		t.Parallel()
		q := sampleQueue(now)
		out, _, err := poison(t, q, now, "", false, "purge", "--handler", "payment-capture", "--dry-run")
		require.NoError(t, err)
		assert.Contains(t, out, "3 would be purged (dry run: nothing changed)")
		assert.Len(t, q.msgs, 5)
	})
	t.Run("--yes removes what matches, the rest stays in order", func(t *testing.T) {
		t.Parallel()
		q := sampleQueue(now)
		out, stderr, err := poison(t, q, now, "", false, "purge", "--handler", "payment-capture", "--yes")
		require.NoError(t, err)
		assert.Empty(t, stderr, "--yes asks nothing")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 5, "header, the three, and the count")
		assert.Equal(t, "3 purged", lines[4])
		assert.Equal(t, []string{"b", "e"}, ids(q.msgs))
	})
	t.Run("asks on a terminal, and yes purges", func(t *testing.T) {
		t.Parallel()
		q := sampleQueue(now)
		out, stderr, err := poison(t, q, now, "yes\n", true, "purge", "--reason", "quantity")
		require.NoError(t, err)
		assert.Equal(t, "Purge this message from orderflow.poison for good? Type yes to confirm: ", stderr)
		assert.Contains(t, out, "1 purged")
		assert.Equal(t, []string{"a", "c", "d", "e"}, ids(q.msgs))
	})
	t.Run("anything but yes purges nothing", func(t *testing.T) {
		t.Parallel()
		for _, answer := range []string{"y\n", "no\n", "", "YES please\n"} {
			q := sampleQueue(now)
			_, _, err := poison(t, q, now, answer, true, "purge")
			assert.EqualError(t, err, "poison purge: not confirmed: nothing purged", "answer %q", answer)
			assert.Len(t, q.msgs, 5)
			assert.Zero(t, q.open, "the messages go back")
		}
	})
	t.Run("nothing matches: nothing to ask", func(t *testing.T) {
		t.Parallel()
		q := sampleQueue(now)
		out, stderr, err := poison(t, q, now, "", true, "purge", "--handler", "nobody")
		require.NoError(t, err)
		assert.Empty(t, stderr)
		assert.Contains(t, out, "0 purged")
	})
}

func TestPoison_read_error_is_reported_and_the_pass_closed(t *testing.T) {
	t.Parallel()
	now := time.Now()
	q := sampleQueue(now)
	q.failNext = errors.New("channel closed")
	_, _, err := poison(t, q, now, "", false, "purge", "--yes")
	assert.EqualError(t, err, "poison purge: channel closed")
	assert.Len(t, q.msgs, 5, "nothing purged on an error while reading")
	assert.Zero(t, q.open)
}
