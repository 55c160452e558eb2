package tests

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// forwardLater listens on a free port and, from when open is called, forwards each
// connection to target: a broker that "comes up" while a worker waits for it.
type forwardLater struct {
	addr string
	open chan struct{}
}

func newForwardLater(t *testing.T, target string) *forwardLater {
	t.Helper()
	port := freePorts(t, 1)[0]
	f := &forwardLater{addr: fmt.Sprintf("127.0.0.1:%d", port), open: make(chan struct{})}
	go func() {
		<-f.open
		l, err := net.Listen("tcp", f.addr)
		if err != nil {
			t.Errorf("forwarder: %v", err)
			return
		}
		t.Cleanup(func() { _ = l.Close() })
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
	return f
}

// TestBinary_starts_before_its_broker_and_connects_when_it_comes: with RabbitMQ not
// there, the worker neither exits nor hides: /healthz answers 200 and /readyz 503 naming
// the broker, on both listeners; once the broker answers, the worker runs and confirms
// an order.
func TestBinary_starts_before_its_broker_and_connects_when_it_comes(t *testing.T) {
	t.Parallel()
	real, err := url.Parse(AMQPURL(t))
	require.NoError(t, err)
	broker := newForwardLater(t, real.Host)
	late := *real
	late.Host = broker.addr
	ports := freePorts(t, 2)
	public, admin := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	config := writeWorkerConfig(t, late.String(), RedisURL(t), "", "")
	p, running, err := spawnBinary(t, "ORDERFLOW_CONFIG="+config, "ORDERFLOW_HTTP_ADDR="+public, "ORDERFLOW_ADMIN_ADDR="+admin)
	require.NoError(t, err)

	for _, addr := range []string{public, admin} {
		c := NewClient("http://" + addr)
		Eventually(t, 10*time.Second, func() string {
			r, err := c.Do(http.MethodGet, "/readyz", nil)
			if err != nil {
				return "not listening yet: " + err.Error()
			}
			if r.Status != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), `"status":"starting"`) || !strings.Contains(string(r.Body), "broker amqp") {
				return fmt.Sprintf("readyz %d %s", r.Status, r.Body)
			}
			return ""
		})
		assert.Equal(t, http.StatusOK, c.Must(t, http.MethodGet, "/healthz", nil).Status, "alive while it waits")
	}
	time.Sleep(500 * time.Millisecond) // a few more attempts
	require.False(t, p.Exited(), "the worker waits for its broker instead of exiting")
	assert.Contains(t, p.Logs(), `"msg":"waiting for the broker and the stores"`)

	close(broker.open)
	select {
	case <-running:
	case <-time.After(30 * time.Second):
		t.Fatalf("the worker did not start once the broker came\n%s", p.Logs())
	}
	c := NewClient("http://" + public)
	assert.Equal(t, http.StatusOK, c.Must(t, http.MethodGet, "/readyz", nil).Status)
	r := c.Must(t, http.MethodPost, "/orders", validOrder())
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	var placed struct {
		OrderID string `json:"order_id"`
	}
	r.JSON(t, &placed)
	awaitStatus(t, c, placed.OrderID, "confirmed", 20*time.Second)

	require.NoError(t, p.Cmd.Process.Signal(syscall.SIGTERM))
	assert.NoError(t, p.Wait(t, 30*time.Second))
}

// TestBinary_sigterm_turns_readiness_off_before_the_servers_stop: for drain_window after
// SIGTERM, /readyz answers 503 "draining" while /healthz and the API still answer; then
// the process exits 0.
func TestBinary_sigterm_turns_readiness_off_before_the_servers_stop(t *testing.T) {
	t.Parallel()
	config := filepath.Join(t.TempDir(), "drain.yaml")
	require.NoError(t, os.WriteFile(config, []byte("drain_window: 2s\nshutdown_timeout: 5s\n"), 0o600))
	p := StartBinary(t, "ORDERFLOW_HTTP_ADDR=127.0.0.1:0", "ORDERFLOW_CONFIG="+config)
	c := NewClient("http://" + p.Addr)
	require.Equal(t, http.StatusOK, c.Must(t, http.MethodGet, "/readyz", nil).Status)

	require.NoError(t, p.Cmd.Process.Signal(syscall.SIGTERM))
	Eventually(t, 5*time.Second, func() string {
		r, err := c.Do(http.MethodGet, "/readyz", nil)
		if err != nil || r.Status != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), `"draining"`) {
			return fmt.Sprintf("readyz not draining yet: %v %d", err, r.Status)
		}
		return ""
	})
	assert.Equal(t, http.StatusOK, c.Must(t, http.MethodGet, "/healthz", nil).Status, "alive while draining")
	assert.Equal(t, http.StatusAccepted, c.Must(t, http.MethodPost, "/orders", validOrder()).Status, "still serving while draining")
	assert.False(t, p.Exited())
	assert.NoError(t, p.Wait(t, 20*time.Second), "exit 0 after the drain")
	assert.Contains(t, p.Logs(), `"msg":"orderflow draining"`)
}

// TestBinary_waits_for_redis_instead_of_exiting: with the Redis store not there, the
// worker serves /healthz and names Redis on /readyz, and keeps trying.
func TestBinary_waits_for_redis_instead_of_exiting(t *testing.T) {
	t.Parallel()
	ports := freePorts(t, 3)
	public := fmt.Sprintf("127.0.0.1:%d", ports[0])
	p, _, err := spawnBinary(t, "ORDERFLOW_STORE=redis", fmt.Sprintf("ORDERFLOW_REDIS_URL=redis://127.0.0.1:%d/0", ports[2]),
		"ORDERFLOW_HTTP_ADDR="+public, fmt.Sprintf("ORDERFLOW_ADMIN_ADDR=127.0.0.1:%d", ports[1]))
	require.NoError(t, err)
	c := NewClient("http://" + public)
	Eventually(t, 10*time.Second, func() string {
		r, err := c.Do(http.MethodGet, "/readyz", nil)
		if err != nil || r.Status != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), "redis") {
			return fmt.Sprintf("readyz does not name redis yet: %v %d %s", err, r.Status, r.Body)
		}
		return ""
	})
	assert.Equal(t, http.StatusOK, c.Must(t, http.MethodGet, "/healthz", nil).Status)
	time.Sleep(2 * time.Second) // past the 1.7 s after which it used to exit
	assert.False(t, p.Exited(), "still waiting for Redis")
	for _, line := range strings.Split(p.Logs(), "\n") {
		assert.True(t, strings.HasPrefix(line, "{"), "every line is JSON, go-redis's too: %q", line)
	}
	require.NoError(t, p.Cmd.Process.Signal(syscall.SIGTERM))
	assert.NoError(t, p.Wait(t, 10*time.Second), "SIGTERM while waiting exits 0")
}
