package tests

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

// sentTwice makes a go-redis client send every command and pipeline twice and keep the
// second reply. go-redis does that by itself when a connection breaks after the server
// ran a call and before its reply arrived (it retries on EOF and resets), which is what
// a Redis master SIGKILLed under load looks like to a worker.
type sentTwice struct{}

func (sentTwice) DialHook(next redis.DialHook) redis.DialHook { return next }

func (sentTwice) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			_ = next(ctx, cmd)
		}
		return next(ctx, cmd)
	}
}

func (sentTwice) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && !handshake(cmds[0]) {
			_ = next(ctx, cmds)
		}
		return next(ctx, cmds)
	}
}

// TestRedisStores_every_call_run_twice_changes_nothing: with every Redis call of the
// worker run twice (the dedup claims, the scripts that claim and commit a mark in one
// go, the compare-and-set of an order), each order still ends once, with every
// CONTRACT 3 invariant, a single charge, and one notification.sent: a script that
// finds its own claim or its own commit knows it, instead of taking the message for a
// duplicate in flight or handled.
func TestRedisStores_every_call_run_twice_changes_nothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("component test")
	}
	client := RedisClient(t)
	client.AddHook(sentTwice{})
	broker, closeBroker := worker.NewInprocBroker(Logger())
	t.Cleanup(closeBroker)
	w := StartOn(t, TestConfig(), handlers.Table(), broker, worker.NewInprocTransport(broker), worker.RedisStorage(client))
	sent := countFrom(w.Tap.Subscribe(t, event.NotificationSentName), orderIDOf)
	c := NewClient(w.URL())
	plan := NewPlan(11, 120)
	plan.SetStock(t, NewClient(w.AdminURL()))

	placed := plan.PlaceAll(t, c, 4)
	require.Len(t, placed, 120)
	out := AwaitTerminal(t, c, plan, placed, time.Minute)
	CheckInvariants(t, c, plan, placed, out, ledgerCaptures(t, w, true))
	sent.wait(t, len(placed), 10*time.Second)
	sent.mu.Lock()
	defer sent.mu.Unlock()
	assert.Len(t, sent.seen, len(placed), "one notification.sent per order")
	assert.Positive(t, out.Counts["confirmed"])
	assert.Empty(t, w.Tap.Poisoned(t), "nothing is poisoned")
}
