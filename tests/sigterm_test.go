package tests

import (
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAMQP_sigterm_during_load: a worker told to stop exits 0 within its shutdown
// timeout; what it had in flight is handed back and finished by the other worker;
// nothing is lost.
func TestAMQP_sigterm_during_load(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	config := writeWorkerConfig(t, AMQPURL(t), RedisURL(t), "  retry_delays: [200ms, 1s]\n", "shutdown_timeout: 5s\npayment:\n  latency: 20ms\n")
	f := &fleet{t: t, env: []string{"ORDERFLOW_HTTP_ADDR=127.0.0.1:0", "ORDERFLOW_CONFIG=" + config}}
	require.NoError(t, f.launch())
	require.NoError(t, f.launch())
	stopping := f.workers[0]
	plan := NewPlan(11, 600)
	plan.SetStock(t, f.admin())

	var exitErr error
	var exitedIn time.Duration
	var accepted atomic.Int64
	var atSignal int64
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for accepted.Load() < 150 { // a quarter into the load
			time.Sleep(5 * time.Millisecond)
		}
		atSignal = accepted.Load()
		require.NoError(t, stopping.Cmd.Process.Signal(syscall.SIGTERM))
		start := time.Now()
		exitErr = stopping.Wait(t, 5*time.Second+5*time.Second)
		exitedIn = time.Since(start)
	}()
	placed, retries := placeThroughFleet(t, f, plan, 8, &accepted)
	<-stopped
	assert.Less(t, atSignal, int64(len(plan.Orders))/2, "SIGTERM came during the load")
	assert.NoError(t, exitErr, "exit status 0 after SIGTERM\n%s", stopping.Logs())
	assert.Contains(t, stopping.Logs(), `"msg":"orderflow stopping"`)

	out := AwaitTerminal(t, f.client(), plan, placed, 2*time.Minute)
	captures := capturesIn(t, config)
	CheckInvariants(t, f.client(), plan, placed, out, captures)
	assert.Empty(t, poisonList(t, config))
	t.Logf("SIGTERM: exited in %s; %d orders, %d POSTs retried, outcomes %v", exitedIn.Round(time.Millisecond), len(placed), retries, out.Counts)
}
