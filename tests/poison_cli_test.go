package tests

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPoisonCLI_list_replay_purge: a payment provider that is down poisons the captures;
// once it is back, `orderflow poison replay --all` completes the orders.
func TestPoisonCLI_list_replay_purge(t *testing.T) {
	t.Parallel()
	amqpURL, redisURL := AMQPURL(t), RedisURL(t)
	const common = `handler_defaults:
  timeout: 2s
  consumers: 2
  retry: {max_attempts: 2, initial_interval: 1ms, max_interval: 5ms, max_elapsed: 200ms, jitter: 0.1}
  throttle: {per_second: 0, burst: 1}
`
	const delays = "  retry_delays: [50ms, 100ms]\n"
	broken := writeWorkerConfig(t, amqpURL, redisURL, delays, common+"payment:\n  transient_failure_rate: 0.999\n")
	fixed := writeWorkerConfig(t, amqpURL, redisURL, delays, common)
	env := []string{"ORDERFLOW_HTTP_ADDR=127.0.0.1:0"}

	first := StartBinary(t, append(env, "ORDERFLOW_CONFIG="+broken)...)
	c := NewClient("http://" + first.Addr)
	var ids []string
	for range 3 {
		r := c.Must(t, http.MethodPost, "/orders", validOrder())
		require.Equal(t, http.StatusAccepted, r.Status)
		var placed struct {
			OrderID string `json:"order_id"`
		}
		r.JSON(t, &placed)
		ids = append(ids, placed.OrderID)
	}
	var list []map[string]any
	Eventually(t, 30*time.Second, func() string {
		list = poisonList(t, fixed)
		if len(list) < 3 {
			return "captures not poisoned yet"
		}
		return ""
	})
	require.Len(t, list, 3)
	for _, p := range list {
		assert.Equal(t, "payment-capture", p["handler"])
		assert.Equal(t, "inventory.reserved", p["routing_key"])
		assert.Contains(t, p["reason"], "payment provider unavailable")
		assert.GreaterOrEqual(t, p["attempts"], float64(6), "2 attempts a round, 3 rounds: the first and two delayed redeliveries")
		assert.NotEmpty(t, p["id"])
		assert.NotEmpty(t, p["poisoned_at"])
	}
	table := poisonCLI(t, fixed, "list")
	assert.Contains(t, table, "ID")
	assert.Contains(t, table, "payment-capture")
	for _, id := range ids {
		var v OrderView
		c.Must(t, http.MethodGet, "/orders/"+id, nil).JSON(t, &v)
		assert.Equal(t, "reserved", v.Status, "the order waits, reserved, while its capture is poisoned")
	}
	require.NoError(t, first.Cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, first.Wait(t, 20*time.Second))

	second := StartBinary(t, append(env, "ORDERFLOW_CONFIG="+fixed)...)
	c = NewClient("http://" + second.Addr)
	out := poisonCLI(t, fixed, "replay", "--id", list[0]["id"].(string))
	assert.Contains(t, out, "1 replayed")
	assert.Len(t, poisonList(t, fixed), 2, "a replayed message leaves the poison queue")
	out = poisonCLI(t, fixed, "replay", "--all")
	assert.Contains(t, out, "2 replayed")
	for _, id := range ids {
		awaitStatus(t, c, id, "confirmed", 20*time.Second)
	}
	assert.Empty(t, poisonList(t, fixed))
	assert.Equal(t, StockView{SKU: "SKU-RED", Available: 94}, stock(t, c, "SKU-RED"))

	// purge: --yes, since a test's stdin is no terminal to confirm on
	assert.Contains(t, poisonCLI(t, fixed, "purge", "--yes"), "0 purged")
}

func poisonCLI(t *testing.T, config string, args ...string) string {
	t.Helper()
	cmd := exec.Command(Binary(t), append([]string{"poison"}, args...)...)
	cmd.Env = append(os.Environ(), "ORDERFLOW_CONFIG="+config)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "orderflow poison %s: %s", strings.Join(args, " "), out)
	return string(out)
}

func poisonList(t *testing.T, config string) []map[string]any {
	t.Helper()
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(poisonCLI(t, config, "list", "--json")), &list))
	return list
}
