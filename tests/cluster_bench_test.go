//go:build cluster

package tests

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/redisstore"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain/inventory"
)

// BenchmarkCluster runs on a 3-node RabbitMQ cluster with quorum queues and a Redis
// Cluster of 3 masters and 3 replicas (`make bench` builds the tests with the cluster
// tag): orders/s with 1, 2 and 3 worker processes, the payment provider at 10 ms a
// charge and one consumer per handler, as BenchmarkScaleOut's workers rows; and the
// ceiling of the inventory slot, which holds all stock on one shard: reservations per
// second through the Redis store from 64 callers at once.
func BenchmarkCluster(b *testing.B) {
	rabbit := StartRabbitCluster(b, 3)
	redisCluster := StartRedisCluster(b)
	orders := sized(100, 1000)
	run := 0
	for _, workers := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("workers-%d", workers), func(b *testing.B) {
			for range b.N {
				run++
				urls := rabbit.AddVHost(b, fmt.Sprintf("bench-%d", run))
				redisCluster.Flush(b)
				config := clusterConfig(b, urls, redisCluster.URL(), benchWorkerYAML+"payment:\n  latency: 10ms\nhandler_defaults:\n  consumers: 1\n")
				for range workers {
					StartBinary(b, "ORDERFLOW_HTTP_ADDR=127.0.0.1:0", "ORDERFLOW_CONFIG="+config)
				}
				nodes := configs.SplitURLs(urls)
				b.ReportMetric(drive(b, nodes[0], newAMQPTap(b, nodes...), orders), "orders/s")
			}
		})
	}
	b.Run("inventory-slot", func(b *testing.B) {
		for range b.N {
			redisCluster.Flush(b)
			b.ReportMetric(reservationsPerSecond(b, redisstore.New(redisCluster.Client(b)).Inventory, sized(2000, 20000), 64), "reservations/s")
		}
	})
}

// reservationsPerSecond reserves one unit for each of n orders, from callers
// goroutines at once, and returns the rate.
func reservationsPerSecond(b *testing.B, inv *redisstore.Inventory, n, callers int) float64 {
	b.Helper()
	ctx := context.Background()
	require.NoError(b, inv.Seed(ctx, map[inventory.SKU]int64{"SKU-BENCH": int64(n)}))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				outcome, err := inv.Reserve(ctx, fmt.Sprintf("ord-slot-%d", i), []inventory.Item{{SKU: "SKU-BENCH", Quantity: 1}})
				if err == nil && !outcome.Reserved {
					err = fmt.Errorf("order %d: out of stock with stock for every order", i)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
	stock, err := inv.Stock(ctx, "SKU-BENCH")
	require.NoError(b, err)
	require.Equal(b, int64(0), stock.Available, "every unit reserved once")
	return float64(n) / elapsed.Seconds()
}
