//go:build cluster

// The tests of this file run on a 3-node RabbitMQ cluster and a Redis Cluster of 3
// masters and 3 replicas, all on this machine: `make test-cluster`. They are built
// with the cluster tag only, so `make test` never starts the clusters, and under
// test-cluster they never skip.

package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

// RabbitCluster is RabbitMQ nodes joined into one cluster.
type RabbitCluster struct {
	Nodes []*RabbitServer
}

// StartRabbitCluster starts n nodes on one epmd, each with its name, ports and data
// dir, and joins the others to the first with rabbitmqctl join_cluster.
func StartRabbitCluster(t testing.TB, n int) *RabbitCluster {
	t.Helper()
	ports := freePorts(t, 2*n+1)
	epmd := startEPMD(t, ports[2*n])
	cookie := erlangCookie()
	c := &RabbitCluster{}
	for i := range n {
		s := newRabbitNode(t, ports[2*i], ports[2*i+1], epmd, cookie, "")
		t.Cleanup(func() { s.Stop(t) })
		s.Start(t)
		if i > 0 {
			s.Ctl(t, "stop_app")
			s.Ctl(t, "join_cluster", c.Nodes[0].Node)
			s.Ctl(t, "start_app")
		}
		c.Nodes = append(c.Nodes, s)
	}
	require.ElementsMatch(t, c.names(), c.running(t, c.Nodes[0]), "every node runs in the cluster")
	return c
}

func (c *RabbitCluster) names() []string {
	var names []string
	for _, s := range c.Nodes {
		names = append(names, s.Node)
	}
	return names
}

// running returns the nodes that via sees running in the cluster.
func (c *RabbitCluster) running(t testing.TB, via *RabbitServer) []string {
	t.Helper()
	var status struct {
		RunningNodes []string `json:"running_nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(via.Ctl(t, "cluster_status", "--formatter", "json")), &status))
	return status.RunningNodes
}

// URL is the worker's ORDERFLOW_AMQP_URL: every node, separated by commas.
func (c *RabbitCluster) URL() string { return c.vhostURL("") }

// vhostURL is URL on the virtual host vhost ("" for the default one).
func (c *RabbitCluster) vhostURL(vhost string) string {
	var urls []string
	for _, s := range c.Nodes {
		urls = append(urls, s.URL+vhost)
	}
	return strings.Join(urls, ",")
}

// AddVHost adds a virtual host that guest may use, and returns its URL list.
func (c *RabbitCluster) AddVHost(t testing.TB, vhost string) string {
	t.Helper()
	c.Nodes[0].Ctl(t, "add_vhost", vhost)
	c.Nodes[0].Ctl(t, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
	return c.vhostURL(vhost)
}

// RedisCluster is a Redis Cluster of masters with one replica each.
type RedisCluster struct {
	Nodes []*RedisServer
}

// StartRedisCluster starts 6 redis-server in cluster mode and creates a cluster of 3
// masters and 3 replicas with redis-cli --cluster create. A master that does not answer
// for 2 s is failed over to its replica.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		requireServer(t, "redis-server")
	}
	c := &RedisCluster{}
	var addrs []string
	for range 6 {
		s := startClusterNode(t)
		c.Nodes = append(c.Nodes, s)
		addrs = append(addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	out, err := exec.Command("redis-cli", append(args, "--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput()
	require.NoError(t, err, "redis-cli --cluster create: %s", out)
	c.awaitHealthy(t)
	return c
}

// startClusterNode starts one cluster-enabled redis-server until the test ends. A server
// that does not answer is tried again on another port, twice at most: once in about
// seventeen runs one never answered on the port it was handed.
func startClusterNode(t testing.TB) *RedisServer {
	t.Helper()
	var errs []error
	for range 3 {
		s := &RedisServer{
			Addr: fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0]), dir: t.TempDir(),
			args: append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", "2000"}, replicated...),
		}
		err := s.tryStart()
		if err == nil {
			t.Cleanup(func() { s.Stop(t) })
			return s
		}
		t.Logf("retrying on another port: %v", err)
		errs = append(errs, err)
	}
	require.NoError(t, errors.Join(errs...), "start a cluster node")
	return nil
}

// replicated are the options of a server with a replica: the replica holds the data,
// so not an fsync per write (six servers sharing one disk would measure the disk), and
// the first sync at once, not after the 5 s Redis waits for more replicas to join.
var replicated = []string{"--appendfsync", "everysec", "--repl-diskless-sync-delay", "0"}

// URL is the worker's ORDERFLOW_REDIS_URL in mode cluster (go-redis ParseClusterURL).
func (c *RedisCluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr + "?"
	for i, s := range c.Nodes[1:] {
		if i > 0 {
			u += "&"
		}
		u += "addr=" + s.Addr
	}
	return u
}

// awaitHealthy waits until every live node says the cluster is ok and three masters
// serve all slots.
func (c *RedisCluster) awaitHealthy(t testing.TB) {
	t.Helper()
	Eventually(t, 60*time.Second, func() string {
		for _, s := range c.Nodes {
			if s.cmd == nil {
				continue
			}
			client := nodeClient(s)
			info, err := client.ClusterInfo(context.Background()).Result()
			_ = client.Close()
			if err != nil {
				return s.Addr + ": " + err.Error()
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
				return s.Addr + " not ok yet"
			}
			if msg := replicaInSync(s); msg != "" {
				return msg
			}
		}
		return ""
	})
}

// replicaInSync returns why s, if it is a replica, does not have its master's data yet.
func replicaInSync(s *RedisServer) string {
	client := nodeClient(s)
	defer client.Close()
	info, err := client.Info(context.Background(), "replication").Result()
	if err != nil {
		return s.Addr + ": " + err.Error()
	}
	if strings.Contains(info, "role:slave") && !strings.Contains(info, "master_link_status:up") {
		return "replica " + s.Addr + " not in sync with its master yet"
	}
	return ""
}

func nodeClient(s *RedisServer) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
}

// Client returns a cluster client, closed when the test ends.
func (c *RedisCluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	opts, err := redis.ParseClusterURL(c.URL())
	require.NoError(t, err)
	client := redis.NewClusterClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// Flush empties every master.
func (c *RedisCluster) Flush(t testing.TB) {
	t.Helper()
	require.NoError(t, c.Client(t).ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		return m.FlushAll(ctx).Err()
	}))
}

// MasterOf returns the node that serves key's slot now, as a live node sees it, or nil
// while no master of that slot is online (during a failover).
func (c *RedisCluster) MasterOf(t testing.TB, key string) *RedisServer {
	t.Helper()
	for _, via := range c.Nodes {
		if via.cmd == nil {
			continue
		}
		client := nodeClient(via)
		defer client.Close()
		ctx := context.Background()
		slot, err := client.ClusterKeySlot(ctx, key).Result()
		require.NoError(t, err)
		shards, err := client.ClusterShards(ctx).Result()
		require.NoError(t, err)
		for _, shard := range shards {
			for _, r := range shard.Slots {
				if slot < r.Start || slot > r.End {
					continue
				}
				for _, n := range shard.Nodes {
					for _, s := range c.Nodes {
						if n.Role == "master" && n.Health == "online" && s.Addr == fmt.Sprintf("%s:%d", n.IP, n.Port) {
							return s
						}
					}
				}
			}
		}
	}
	return nil
}

// clusterConfig writes a worker config file for the brokers at amqpURL and the Redis
// Cluster at redisURL, with quorum queues, and writes that wait for a replica: a master
// SIGKILLed before its replica read its last writes would take them with it (a
// payment-capture's "paid" was lost so once, and order-confirm poisoned its
// payment.captured).
func clusterConfig(t testing.TB, amqpURL, redisURL, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "orderflow.yaml")
	yaml := "broker: amqp\nstore: redis\n" +
		"amqp:\n  url: " + amqpURL + "\n  queue_type: quorum\n  retry_delays: [200ms, 1s, 3s]\n" +
		"redis:\n  mode: cluster\n  url: " + redisURL + "\n  replica_acks: 1\n" +
		"signing:\n  keys_file: " + SigningKeysFile(t) + "\n" + "drain_window: 200ms\n" + extra
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

// TestCluster_chaos_3_workers_on_quorum_queues_and_a_redis_cluster: three worker
// processes share a 3-node RabbitMQ cluster (quorum queues, each worker given every
// node's URL) and a Redis Cluster of 3 masters and 3 replicas. Orders go in over HTTP
// with Idempotency-Keys while a worker is SIGKILLed every few seconds and another
// started, one RabbitMQ node is SIGKILLed and brought back, and the Redis master that
// holds the stock is SIGKILLed (its replica is promoted) and brought back as a
// replica. Afterwards every order is terminal, every invariant holds exactly, and
// nothing is poisoned.
func TestCluster_chaos_3_workers_on_quorum_queues_and_a_redis_cluster(t *testing.T) {
	start := time.Now()
	rabbit := StartRabbitCluster(t, 3)
	redisCluster := StartRedisCluster(t)
	t.Logf("clusters up in %s: rabbitmq %v, redis %s", time.Since(start).Round(time.Second), rabbit.names(), redisCluster.URL())

	config := clusterConfig(t, rabbit.URL(), redisCluster.URL(), `shutdown_timeout: 5s
dedup:
  lease: 5s
handler_defaults:
  timeout: 2s
  consumers: 4
  retry: {max_attempts: 8, initial_interval: 20ms, max_interval: 500ms, max_elapsed: 4s, jitter: 0.5}
  throttle: {per_second: 0, burst: 1}
`)
	f := &fleet{t: t, env: []string{"ORDERFLOW_HTTP_ADDR=127.0.0.1:0", "ORDERFLOW_CONFIG=" + config}}
	for range 3 {
		require.NoError(t, f.launch())
	}
	plan := NewPlan(4000, 4000)
	plan.SetStock(t, f.admin())

	start = time.Now()
	var (
		chaos    []string
		accepted atomic.Int64
		// killedWhile counts the kills of a server that came while orders were still
		// being placed, so that the outages meet work in flight.
		killedWhile int
	)
	note := func(format string, args ...any) {
		chaos = append(chaos, fmt.Sprintf("%s at %s (%d orders in)", fmt.Sprintf(format, args...), time.Since(start).Round(time.Second), accepted.Load()))
	}
	var placing atomic.Bool
	placing.Store(true)
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		for round := 1; placing.Load() || round <= 3; round++ {
			time.Sleep(3 * time.Second)
			f.killOne()
			switch round {
			case 1:
				master := redisCluster.MasterOf(t, "{inventory}")
				master.Kill(t)
				if placing.Load() {
					killedWhile++
				}
				note("redis master %s (the {inventory} slot) SIGKILLed", master.Addr)
				Eventually(t, 30*time.Second, func() string {
					if now := redisCluster.MasterOf(t, "{inventory}"); now == nil || now == master {
						return "the replica is not promoted yet"
					}
					return ""
				})
				note("its replica %s promoted", redisCluster.MasterOf(t, "{inventory}").Addr)
				master.Start(t)
				redisCluster.awaitHealthy(t)
				note("%s back as a replica", master.Addr)
			case 3:
				node := rabbit.Nodes[rand.IntN(len(rabbit.Nodes))]
				node.Kill(t)
				if placing.Load() {
					killedWhile++
				}
				note("rabbitmq %s SIGKILLed", node.Node)
				time.Sleep(5 * time.Second)
				node.Start(t)
				note("rabbitmq %s back", node.Node)
			}
			f.keepLaunching(context.Background())
		}
	}()

	placed, retries := placeThroughFleet(t, f, plan, 8, &accepted)
	placedIn := time.Since(start)
	placing.Store(false)
	<-chaosDone
	for f.live() < 3 {
		f.keepLaunching(context.Background())
	}
	out := AwaitTerminal(t, f.client(), plan, placed, 5*time.Minute)

	captures := capturesIn(t, config)
	CheckInvariants(t, f.client(), plan, placed, out, captures)
	if t.Failed() {
		logReservations(t, redisCluster, out)
	}
	poisoned := poisonList(t, config)
	t.Logf("cluster chaos: %d orders placed in %s (%d POSTs retried), all terminal after %s: %v; workers started %d, SIGKILLed %d; %s; poisoned: %d",
		len(placed), placedIn.Round(time.Second), retries, time.Since(start).Round(time.Second), out.Counts,
		f.started, f.killed, strings.Join(chaos, "; "), len(poisoned))
	require.Len(t, chaos, 5, "a RabbitMQ node and a Redis master were each killed and brought back")
	require.Equal(t, 2, killedWhile, "both servers were killed while orders were being placed")
	require.Empty(t, poisoned, "losing a node poisons nothing")
	// The workers' writes waited for a replica on every master (redis.replica_acks 1).
	require.NoError(t, redisCluster.Client(t).ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		stats, err := m.Info(ctx, "commandstats").Result()
		if err != nil {
			return err
		}
		assert.Contains(t, stats, "cmdstat_wait:", "master %s saw no WAIT", m.Options().Addr)
		return nil
	}))
}

// TestCluster_retry_tiers_and_poison_on_quorum_queues: on quorum queues across the
// cluster, a message that keeps failing transiently waits in each retry tier (message
// TTL, then dead-lettering back to its queue) and is handled once it succeeds; one that
// fails for good goes to the poison queue with its reason.
func TestCluster_retry_tiers_and_poison_on_quorum_queues(t *testing.T) {
	rabbit := StartRabbitCluster(t, 3)
	redisCluster := StartRedisCluster(t)

	const recovers, fails = "recovers-late", "always-fails"
	var attempts atomic.Int64
	table := []handlers.Definition{
		{
			Name: recovers,
			New: func(handlers.Deps) (handlers.Handler, error) {
				return handlers.NewHandler(handlers.On(func(context.Context, event.OrderPlaced) (event.Event, error) {
					if attempts.Add(1) <= 3 {
						return nil, domain.Unavailable("provider", errors.New("timed out"))
					}
					return nil, nil
				})), nil
			},
			Chain: handlers.Standard,
		},
		{
			Name: fails,
			New: func(handlers.Deps) (handlers.Handler, error) {
				return handlers.NewHandler(handlers.On(func(context.Context, event.OrderPlaced) (event.Event, error) {
					return nil, domain.Permanent(errors.New("card refused"))
				})), nil
			},
			Chain: handlers.Standard,
		},
	}
	cfg := AMQPConfig(t, nil)
	cfg.AMQP.URL, cfg.AMQP.QueueType = rabbit.URL(), "quorum"
	cfg.Redis.Mode, cfg.Redis.URL = "cluster", redisCluster.URL()
	cfg.HandlerDefaults.Retry.MaxAttempts = 1
	require.NoError(t, cfg.Validate())
	w := StartAMQP(t, cfg, table)

	var queues []struct{ Name, Type string }
	require.NoError(t, json.Unmarshal([]byte(rabbit.Nodes[0].Ctl(t, "list_queues", "name", "type", "--formatter", "json")), &queues))
	types := map[string]string{}
	for _, q := range queues {
		types[q.Name] = q.Type
	}
	assert.Equal(t, map[string]string{
		"orderflow." + recovers: "quorum", "orderflow." + fails: "quorum", "orderflow.poison": "quorum",
		"orderflow.delay.100ms": "quorum", "orderflow.delay.200ms": "quorum", "orderflow.delay.400ms": "quorum",
	}, types, "every queue, the retry tiers and the poison queue too, is a quorum queue")
	order := event.OrderPlaced{
		OrderID: "ord-quorum", CustomerID: "cust-quorum", Currency: "USD", PlacedAt: "2026-12-01T10:00:00Z",
		Items: []event.Item{{SKU: "SKU-RED", Quantity: 1, UnitPriceCents: 100}}, TotalCents: 100,
	}
	w.Tap.PublishUnsigned(t, event.OrderPlacedName, forged(t, order))

	var poisoned []*message.Message
	Eventually(t, 30*time.Second, func() string {
		if poisoned = w.Tap.Poisoned(t); len(poisoned) == 0 {
			return "nothing poisoned yet"
		}
		if attempts.Load() < 4 {
			return fmt.Sprintf("%s tried %d times", recovers, attempts.Load())
		}
		return ""
	})
	require.Len(t, poisoned, 1)
	assert.Equal(t, fails, poisoned[0].Metadata.Get(envelope.PoisonHandlerKey))
	assert.Contains(t, poisoned[0].Metadata.Get(envelope.PoisonReasonKey), "card refused")
	assert.Equal(t, float64(3), CounterValueWith(t, w.Registry, "orderflow_messages_total", map[string]string{"handler": recovers, "outcome": "parked"}),
		"parked once in each of the 3 tiers")
	assert.Equal(t, float64(1), CounterValueWith(t, w.Registry, "orderflow_messages_total", map[string]string{"handler": recovers, "outcome": "handled"}))
	time.Sleep(time.Second)
	assert.Equal(t, int64(4), attempts.Load(), "handled once it succeeded, not again")
}

// startReplicated starts a master on masterPort and its replica on replicaPort, and
// returns them once the replica is in sync.
func startReplicated(t testing.TB, masterPort, replicaPort int) (master, replica *RedisServer) {
	t.Helper()
	master = &RedisServer{Addr: fmt.Sprintf("127.0.0.1:%d", masterPort), dir: t.TempDir(), args: replicated}
	master.Start(t)
	t.Cleanup(func() { master.Stop(t) })
	replica = &RedisServer{Addr: fmt.Sprintf("127.0.0.1:%d", replicaPort), dir: t.TempDir(),
		args: append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(masterPort)}, replicated...)}
	replica.Start(t)
	t.Cleanup(func() { replica.Stop(t) })
	Eventually(t, 30*time.Second, func() string { return replicaInSync(replica) })
	return master, replica
}

// startSentinelRedis starts a master, its replica and three sentinels watching the
// master under the name orderflow (quorum 2, down after 3 s: the two cores here pause
// for up to a second now and then, which must not read as a dead master), and returns the master,
// the replica and the worker's ORDERFLOW_REDIS_URL in mode sentinel (go-redis
// ParseFailoverURL).
func startSentinelRedis(t testing.TB) (master, replica *RedisServer, url string) {
	t.Helper()
	ports := freePorts(t, 5)
	master, replica = startReplicated(t, ports[0], ports[1])
	var addrs []string
	for _, port := range ports[2:] {
		dir := t.TempDir()
		// A sentinel rewrites its config file as it learns, so each has one of its own.
		conf := filepath.Join(dir, "sentinel.conf")
		require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil,
			"bind 127.0.0.1\nport %d\ndir %s\nsentinel monitor orderflow 127.0.0.1 %d 2\n"+
				"sentinel down-after-milliseconds orderflow 3000\nsentinel failover-timeout orderflow 10000\n",
			port, dir, ports[0]), 0o600))
		cmd := exec.Command("redis-server", conf, "--sentinel", "--logfile", filepath.Join(dir, "sentinel.log"))
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	url = "redis://" + addrs[0] + "?master_name=orderflow&addr=" + addrs[1] + "&addr=" + addrs[2]
	sentinel := redis.NewSentinelClient(&redis.Options{Addr: addrs[0]})
	defer sentinel.Close()
	Eventually(t, 30*time.Second, func() string {
		replicas, err := sentinel.Replicas(context.Background(), "orderflow").Result()
		if err != nil || len(replicas) == 0 {
			return fmt.Sprintf("the sentinel knows no replica yet (%v)", err)
		}
		return ""
	})
	return master, replica, url
}

// TestCluster_redis_sentinel_fails_over_under_a_worker: a worker in redis mode sentinel
// confirms orders; its master is SIGKILLed, the sentinels promote the replica, and the
// worker, told by them where the master is now, confirms orders again by itself.
func TestCluster_redis_sentinel_fails_over_under_a_worker(t *testing.T) {
	master, replica, url := startSentinelRedis(t)
	cfg := AMQPConfig(t, nil)
	cfg.Redis.Mode, cfg.Redis.URL = "sentinel", url
	require.NoError(t, cfg.Validate())
	w := StartAMQP(t, cfg, handlers.Table())
	c := NewClient(w.URL())
	placeAndConfirm(t, c)
	var before StockView
	c.Must(t, http.MethodGet, "/inventory/SKU-RED", nil).JSON(t, &before)

	sentinel := redis.NewSentinelClient(&redis.Options{Addr: strings.TrimPrefix(strings.Split(url, "?")[0], "redis://")})
	defer sentinel.Close()
	addr, err := sentinel.GetMasterAddrByName(context.Background(), "orderflow").Result()
	require.NoError(t, err)
	require.Equal(t, master.Addr, strings.Join(addr, ":"), "no failover before the master is killed")
	// What the master acknowledged and has not sent yet is lost with it (asynchronous
	// replication, see README); this test is about what was replicated.
	awaitReplicated(t, master, replica)
	master.Kill(t)
	Eventually(t, 60*time.Second, func() string {
		addr, err := sentinel.GetMasterAddrByName(context.Background(), "orderflow").Result()
		if err != nil || len(addr) != 2 || addr[0]+":"+addr[1] != replica.Addr {
			return fmt.Sprintf("the replica is not master yet: %v %v", addr, err)
		}
		return ""
	})
	var after StockView
	c.Must(t, http.MethodGet, "/inventory/SKU-RED", nil).JSON(t, &after)
	assert.Equal(t, before, after, "the promoted replica has the stock the master had")
	placeAndConfirm(t, c)
}

// awaitReplicated waits until replica has applied everything master has written so far.
func awaitReplicated(t testing.TB, master, replica *RedisServer) {
	t.Helper()
	offset := func(s *RedisServer, field string) int64 {
		client := nodeClient(s)
		defer client.Close()
		info, err := client.Info(context.Background(), "replication").Result()
		require.NoError(t, err)
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, field+":"); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				require.NoError(t, err)
				return n
			}
		}
		t.Fatalf("%s: no %s in INFO replication", s.Addr, field)
		return 0
	}
	written := offset(master, "master_repl_offset")
	Eventually(t, 10*time.Second, func() string {
		if got := offset(replica, "slave_repl_offset"); got < written {
			return fmt.Sprintf("replica at offset %d of %d", got, written)
		}
		return ""
	})
}

// logReservations logs, when an invariant failed, the orders whose reservation does not
// match how they ended: a cancelled order whose stock stayed sold, a confirmed one whose
// stock came back.
func logReservations(t *testing.T, redisCluster *RedisCluster, out Outcome) {
	client := redisCluster.Client(t)
	ctx := context.Background()
	mismatched := 0
	for id, v := range out.Orders {
		state, err := client.HGet(ctx, "orderflow:{inventory}:reservation:"+id, "state").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Logf("reservation of %s: %v", id, err)
			continue
		}
		if (v.Status == "cancelled" && state == "committed") || (v.Status == "confirmed" && state != "committed") {
			mismatched++
			if mismatched <= 10 {
				order, _ := client.Get(ctx, "orderflow:order:{"+id+"}").Result()
				t.Logf("order %s ended %s (%s), its reservation is %q; stored order: %s", id, v.Status, v.Reason, state, order)
			}
		}
	}
	t.Logf("%d orders whose reservation does not match how they ended", mismatched)
}
