package tests

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBinary_sigterm_during_load_exits_0(t *testing.T) {
	t.Parallel()
	config := filepath.Join(t.TempDir(), "slow.yaml")
	require.NoError(t, os.WriteFile(config, []byte("shutdown_timeout: 5s\ndrain_window: 200ms\npayment:\n  latency: 20ms\n"), 0o600))
	p := StartBinary(t, "ORDERFLOW_HTTP_ADDR=127.0.0.1:0", "ORDERFLOW_CONFIG="+config)
	c := NewClient("http://" + p.Addr)

	var accepted atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := c.Do(http.MethodPost, "/orders", validOrder())
				if err == nil && r.Status == http.StatusAccepted {
					accepted.Add(1)
				}
			}
		}()
	}
	Eventually(t, 10*time.Second, func() string {
		if accepted.Load() < 50 {
			return "fewer than 50 orders accepted"
		}
		return ""
	})

	require.NoError(t, p.Cmd.Process.Signal(syscall.SIGTERM))
	err := p.Wait(t, 5*time.Second+5*time.Second)
	close(stop)
	wg.Wait()
	assert.NoError(t, err, "exit status 0 after SIGTERM\n%s", p.Logs())
	assert.Contains(t, p.Logs(), `"msg":"orderflow stopping"`)
}

func TestBinary_bad_config_one_clear_line_and_nonzero_exit(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(Binary(t), "run")
	cmd.Env = append(os.Environ(), "ORDERFLOW_BROKER=kafka", "ORDERFLOW_REDIS_URL=redis://:hunter2@cache:port/0")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.NotZero(t, exit.ExitCode())
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	assert.Equal(t, []string{
		`orderflow: broker (ORDERFLOW_BROKER): must be "gochannel" or "amqp", got "kafka"`,
		`redis.url (ORDERFLOW_REDIS_URL): not a URL (invalid port after host (a password with / or # in it must be percent-encoded))`,
	}, lines)
	assert.NotContains(t, string(out), "hunter2")
}

func TestBinary_version(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(Binary(t), "version").CombinedOutput()
	require.NoError(t, err)
	assert.Equal(t, "orderflow dev\n", string(out))
}

func TestBinary_topology_prints_the_definitions_file(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(Binary(t), "topology")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // the embedded default alone
	out, err := cmd.Output()
	require.NoError(t, err)
	file, err := os.ReadFile("../deploy/rabbitmq/definitions.json")
	require.NoError(t, err)
	assert.Equal(t, string(file), string(out))
}

func TestBinary_redis_store_keeps_stock_across_a_restart(t *testing.T) {
	t.Parallel()
	env := []string{"ORDERFLOW_HTTP_ADDR=127.0.0.1:0", "ORDERFLOW_STORE=redis", "ORDERFLOW_REDIS_URL=" + RedisURL(t)}
	first := StartBinary(t, env...)
	c := NewClient("http://" + first.Addr)
	r := c.Must(t, http.MethodPost, "/orders", validOrder())
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var placed struct {
		OrderID string `json:"order_id"`
	}
	r.JSON(t, &placed)
	awaitStatus(t, c, placed.OrderID, "confirmed", 10*time.Second)
	assert.Equal(t, StockView{SKU: "SKU-RED", Available: 98}, stock(t, c, "SKU-RED"))
	require.NoError(t, first.Cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, first.Wait(t, 20*time.Second))

	second := StartBinary(t, env...)
	c = NewClient("http://" + second.Addr)
	assert.Equal(t, StockView{SKU: "SKU-RED", Available: 98}, stock(t, c, "SKU-RED"), "the seed does not reset stock")
	var v OrderView
	c.Must(t, http.MethodGet, "/orders/"+placed.OrderID, nil).JSON(t, &v)
	assert.Equal(t, "confirmed", v.Status)
}
