//go:build cluster

package tests

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/redisstore"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/order"
)

// TestCluster_writes_wait_for_a_replica: with redis.replica_acks 1, every store write
// carries a WAIT for one replica in its own round trip, a read none, and the replica
// holds each write when the store returns; with 0, nothing waits.
func TestCluster_writes_wait_for_a_replica(t *testing.T) {
	t.Parallel()
	ports := freePorts(t, 2)
	master, replica := startReplicated(t, ports[0], ports[1])

	ctx := context.Background()
	admin, onReplica := nodeClient(master), nodeClient(replica)
	t.Cleanup(func() { _ = admin.Close(); _ = onReplica.Close() })
	waits := func() int {
		stats, err := admin.Info(ctx, "commandstats").Result()
		require.NoError(t, err)
		m := regexp.MustCompile(`cmdstat_wait:calls=(\d+)`).FindStringSubmatch(stats)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	placed := func(id string) *order.Order {
		e := event.OrderPlaced{OrderID: id, CustomerID: "c", Currency: "USD", PlacedAt: time.Now().UTC().Format(time.RFC3339),
			Items: []event.Item{{SKU: "SKU-W", Quantity: 1, UnitPriceCents: 100}}, TotalCents: 100}
		o, err := order.New(mustPlaced(t, e), time.Now())
		require.NoError(t, err)
		return o
	}

	// 0 first: its scripts load them, so that no NOSCRIPT retry adds a round trip at 1.
	for _, acks := range []int{0, 1} {
		client := redis.NewClient(&redis.Options{Addr: master.Addr})
		t.Cleanup(func() { _ = client.Close() })
		redisstore.WaitForReplicas(client, acks)
		orders := redisstore.New(client).Orders
		before := waits()

		id := order.ID("ord-wait-" + strconv.Itoa(acks))
		_, err := orders.Add(ctx, placed(string(id))) // one script
		require.NoError(t, err)
		_, err = orders.Update(ctx, id, func(o *order.Order) error { return o.Cancel(order.OutOfStock, time.Now()) }) // a read, then a script
		require.NoError(t, err)
		_, err = client.Pipelined(ctx, func(p redis.Pipeliner) error { // a pipeline that writes
			p.Set(ctx, "wait-pipelined-"+strconv.Itoa(acks), "x", 0)
			p.Get(ctx, "wait-pipelined-"+strconv.Itoa(acks))
			return nil
		})
		require.NoError(t, err)
		_, err = orders.Get(ctx, id) // a read
		require.NoError(t, err)

		if acks == 0 {
			assert.Equal(t, before, waits(), "replica_acks 0: no write waits")
			continue
		}
		assert.Equal(t, before+3, waits(), "one WAIT for each of the 3 round trips that write, none for the 2 reads")
		held, err := onReplica.Get(ctx, "orderflow:order:{"+string(id)+"}").Result()
		require.NoError(t, err, "the replica has the order once the store returned")
		assert.Contains(t, held, `"cancelled"`, "and its last write")
		_, err = onReplica.Get(ctx, "wait-pipelined-1").Result()
		assert.NoError(t, err, "the replica has the pipeline's write")
	}
}
