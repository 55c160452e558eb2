package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/redisstore"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain/order"
)

// fleet is a set of orderflow worker processes.
type fleet struct {
	t   *testing.T
	env []string

	mu      sync.Mutex
	workers []*Process
	started int
	killed  int
}

func (f *fleet) launch() error {
	p, err := LaunchBinary(f.t, f.env...)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.workers = append(f.workers, p)
	f.started++
	f.mu.Unlock()
	return nil
}

// keepLaunching starts a worker, trying again while the broker or Redis is down.
func (f *fleet) keepLaunching(ctx context.Context) {
	for ctx.Err() == nil {
		if err := f.launch(); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// killOne SIGKILLs a random worker.
func (f *fleet) killOne() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.workers) == 0 {
		return
	}
	i := rand.IntN(len(f.workers))
	_ = f.workers[i].Cmd.Process.Signal(syscall.SIGKILL)
	f.workers = append(f.workers[:i], f.workers[i+1:]...)
	f.killed++
}

// client returns a client of a random live worker.
func (f *fleet) client() *Client {
	return NewClient("http://" + f.anyLive().Addr)
}

// admin returns a client of a random live worker's admin listener.
func (f *fleet) admin() *Client {
	return NewClient("http://" + f.anyLive().AdminAddr)
}

func (f *fleet) anyLive() *Process {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.workers) > 0 {
		p := f.workers[rand.IntN(len(f.workers))]
		if !p.Exited() {
			return p
		}
	}
	return &Process{Addr: "127.0.0.1:1", AdminAddr: "127.0.0.1:1"}
}

// TestChaos_3_workers_5000_orders_kills_and_restarts runs 3 worker processes on RabbitMQ
// and Redis, places 5,000 orders through their HTTP APIs, SIGKILLs a random worker every
// few seconds and starts a new one, and restarts RabbitMQ once and Redis once. Afterwards
// every order is terminal and every invariant of the saga (CheckInvariants) holds exactly.
func TestChaos_3_workers_5000_orders_kills_and_restarts(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("chaos test")
	}
	rabbit := StartRabbitMQ(t)
	redisServer := StartRedis(t)
	config := writeWorkerConfig(t, rabbit.URL, redisServer.URL(), "  retry_delays: [200ms, 1s, 3s]\n", `shutdown_timeout: 5s
dedup:
  lease: 5s
handler_defaults:
  timeout: 2s
  consumers: 4
  retry: {max_attempts: 5, initial_interval: 10ms, max_interval: 200ms, max_elapsed: 2s, jitter: 0.5}
  throttle: {per_second: 0, burst: 1}
`)
	f := &fleet{t: t, env: []string{"ORDERFLOW_HTTP_ADDR=127.0.0.1:0", "ORDERFLOW_CONFIG=" + config}}
	for range 3 {
		require.NoError(t, f.launch())
	}
	plan := NewPlan(5000, 5000)
	plan.SetStock(t, f.admin())

	start := time.Now()
	chaosCtx, stopChaos := context.WithCancel(context.Background())
	var restarts []string
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		tick := time.NewTicker(3 * time.Second)
		defer tick.Stop()
		for round := 1; ; round++ {
			<-tick.C
			if chaosCtx.Err() != nil && round > 4 {
				return // the orders are in, and both servers were restarted
			}
			f.killOne()
			switch round {
			case 2:
				rabbit.Stop(t)
				time.Sleep(2 * time.Second)
				rabbit.Start(t)
				restarts = append(restarts, fmt.Sprintf("rabbitmq at %s", time.Since(start).Round(time.Second)))
			case 4:
				redisServer.Stop(t)
				time.Sleep(2 * time.Second)
				redisServer.Start(t)
				restarts = append(restarts, fmt.Sprintf("redis at %s", time.Since(start).Round(time.Second)))
			}
			f.keepLaunching(context.Background())
		}
	}()

	placed, retries := placeThroughFleet(t, f, plan, 8, &atomic.Int64{})
	placedIn := time.Since(start)
	stopChaos()
	<-chaosDone
	for f.live() < 3 {
		f.keepLaunching(context.Background())
	}
	out := AwaitTerminal(t, f.client(), plan, placed, 5*time.Minute)

	captures := capturesIn(t, config)
	CheckInvariants(t, f.client(), plan, placed, out, captures)
	poisoned := poisonList(t, config)
	t.Logf("chaos: %d orders placed in %s (%d POSTs retried), all terminal after %s: %v; workers started %d, SIGKILLed %d; restarts: %v; poisoned: %d",
		len(placed), placedIn.Round(time.Second), retries, time.Since(start).Round(time.Second), out.Counts, f.started, f.killed, restarts, len(poisoned))
	require.Len(t, restarts, 2, "RabbitMQ and Redis were each restarted once")
	require.Empty(t, poisoned, "an outage poisons nothing")
}

func (f *fleet) live() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.workers {
		if !p.Exited() {
			n++
		}
	}
	return n
}

// placeThroughFleet posts every order of the plan to random live workers, each with an
// Idempotency-Key, retrying on any failure until the order is accepted: a retry that
// reaches the order a dead worker already accepted gets the same answer, not a new order.
func placeThroughFleet(t *testing.T, f *fleet, plan Plan, workers int, accepted *atomic.Int64) ([]Placed, int64) {
	t.Helper()
	var (
		mu      sync.Mutex
		placed  []Placed
		retries atomic.Int64
		wg      sync.WaitGroup
	)
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				key := fmt.Sprintf("chaos-order-%d", i)
				deadline := time.Now().Add(2 * time.Minute)
				for {
					r, err := f.client().Do(http.MethodPost, "/orders", plan.Orders[i], "Idempotency-Key", key)
					if err == nil && (r.Status == http.StatusAccepted || r.Status == http.StatusOK) {
						var body struct {
							OrderID string `json:"order_id"`
						}
						r.JSON(t, &body)
						mu.Lock()
						placed = append(placed, Placed{OrderID: body.OrderID, PlannedOrder: plan.Orders[i]})
						mu.Unlock()
						accepted.Add(1)
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("order %d not accepted within 2 minutes: %v", i, err)
						break
					}
					retries.Add(1)
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	for i := range plan.Orders {
		next <- i
	}
	close(next)
	wg.Wait()
	return placed, retries.Load()
}

// capturesIn reads, from the Redis that the config file names, which orders were charged:
// a single node, or every master of a cluster. A paid order keeps its capture's payment
// id; a capture recorded in the payments (as workers did before orders kept it) counts
// too, once per order either way.
func capturesIn(t *testing.T, config string) map[string]int {
	t.Helper()
	cfg, err := configs.Load(config, func(string) string { return "" })
	require.NoError(t, err)
	ctx := context.Background()
	client, err := redisstore.Open(ctx, cfg.Redis.Mode, cfg.Redis.URL, nil, 0)
	require.NoError(t, err)
	defer client.Close()
	stores := redisstore.New(client)
	var mu sync.Mutex
	captures := map[string]int{}
	charged := func(orderID string) {
		mu.Lock()
		defer mu.Unlock()
		captures[orderID] = 1
	}
	orderIDIn := func(key, prefix string) string { return strings.TrimSuffix(strings.TrimPrefix(key, prefix), "}") }
	scan := func(ctx context.Context, node redis.UniversalClient) error {
		orders := node.Scan(ctx, 0, "orderflow:order:*", 1000).Iterator()
		for orders.Next(ctx) {
			o, err := stores.Orders.Get(ctx, order.ID(orderIDIn(orders.Val(), "orderflow:order:{")))
			if err != nil {
				return err
			}
			if o.PaymentID() != "" {
				charged(string(o.ID()))
			}
		}
		if err := orders.Err(); err != nil {
			return err
		}
		payments := node.Scan(ctx, 0, "orderflow:payment:*", 1000).Iterator()
		for payments.Next(ctx) {
			orderID := orderIDIn(payments.Val(), "orderflow:payment:{")
			outcome, ok, err := stores.Payments.Get(ctx, orderID)
			if err != nil {
				return err
			}
			if ok && outcome.Captured {
				charged(orderID)
			}
		}
		return payments.Err()
	}
	if cluster, ok := client.(*redis.ClusterClient); ok {
		require.NoError(t, cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return scan(ctx, node) }))
	} else {
		require.NoError(t, scan(ctx, client))
	}
	return captures
}
