package cli

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
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

func TestPoisonList_table_escapes_controls(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var buf bytes.Buffer
	require.NoError(t, writeTable(&buf, hostileList(now), now))
	out := buf.String()
	assertTerminalSafe(t, out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 3, "a newline in a reason does not start a line of its own:\n%s", out)
	assert.Contains(t, lines[1], `id\x1b[2J\x1b[H`)
	assert.Contains(t, lines[1], `inventory-reserve\r`)
	assert.Contains(t, lines[1], `order.placed\u009b31m`)
	assert.Contains(t, lines[1], `decode order.placed:\nfake line\t\a\u202eevil\xff`)
	assert.Contains(t, lines[2], "items[0].quantity must be 1..1000", "a plain reason reads as it is")
}

func TestPoisonList_json_escapes_controls_and_says_the_same(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	list := hostileList(now)
	var buf bytes.Buffer
	require.NoError(t, writeJSON(&buf, list))
	assertTerminalSafe(t, buf.String())
	var back []map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	require.Len(t, back, 2)
	assert.Equal(t, list[0].ID, back[0]["id"])
	assert.Equal(t, list[0].RoutingKey, back[0]["routing_key"])
	assert.Equal(t, strings.ToValidUTF8(list[0].Reason, "\ufffd"), back[0]["reason"], "JSON holds UTF-8 only")

	buf.Reset()
	require.NoError(t, writeJSON(&buf, nil))
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
