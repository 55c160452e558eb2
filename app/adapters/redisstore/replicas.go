package redisstore

import (
	"context"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReplicaAckTimeout bounds how long a write waits for its replicas (WaitForReplicas).
const ReplicaAckTimeout = time.Second

// WaitForReplicas makes every write that client sends to a node wait, in the same round
// trip, until n replicas of that node have it (WAIT n, up to ReplicaAckTimeout), so that
// a handler publishes its event only once its writes would survive the node's failover:
// Redis replicates asynchronously, and a master SIGKILLed before its replica read the
// last writes takes them with it. It is best effort, as WAIT is: a write not confirmed
// in time (a replica down, say) is used all the same. Transactions (MULTI/EXEC), which
// the saga does not use, are sent without the wait. n = 0 changes nothing. Call it
// before client sends anything (Open does): a ClusterClient's nodes met before are left
// out.
func WaitForReplicas(client redis.UniversalClient, n int) {
	if n <= 0 {
		return
	}
	switch c := client.(type) {
	case *redis.ClusterClient:
		c.OnNewNode(func(node *redis.Client) { node.AddHook(replicaWait{node: node, n: n}) })
	case *redis.Client:
		c.AddHook(replicaWait{node: c, n: n})
	}
}

// replicaWait is the hook of one node's client. WAIT counts the replicas that have every
// write of its own connection, so it goes in the pipeline of the write it waits for.
type replicaWait struct {
	node *redis.Client
	n    int
}

// waiting marks a context whose pipeline carries its WAIT already.
type waiting struct{}

func (w replicaWait) DialHook(next redis.DialHook) redis.DialHook { return next }

func (w replicaWait) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ctx.Value(waiting{}) != nil || !writes(cmd) {
			return next(ctx, cmd)
		}
		var wait *redis.IntCmd
		_, _ = w.node.Pipelined(context.WithValue(ctx, waiting{}, true), func(p redis.Pipeliner) error {
			_ = p.Process(ctx, cmd)
			wait = waitCmd(ctx, w.n)
			return p.Process(ctx, wait)
		})
		if err := cmd.Err(); err != nil {
			return err
		}
		// The write is done; a wait cut off with the connection leaves it unconfirmed,
		// which a retry of the whole call confirms (every store write may be sent again).
		return wait.Err()
	}
}

func (w replicaWait) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if ctx.Value(waiting{}) != nil || len(cmds) == 0 || cmds[0].Name() == "multi" || !slices.ContainsFunc(cmds, writes) {
			return next(ctx, cmds)
		}
		return next(ctx, append(slices.Clip(cmds), waitCmd(ctx, w.n)))
	}
}

func waitCmd(ctx context.Context, n int) *redis.IntCmd {
	return redis.NewIntCmd(ctx, "wait", n, ReplicaAckTimeout.Milliseconds())
}

// readOnly are the commands the stores and go-redis send that write nothing; any other
// command is taken to write.
var readOnly = map[string]bool{
	"get": true, "mget": true, "hget": true, "hmget": true, "hgetall": true, "exists": true,
	"ttl": true, "pttl": true, "zcard": true, "zrange": true, "zscore": true, "scan": true,
	"ping": true, "info": true, "hello": true, "client": true, "auth": true, "select": true,
	"cluster": true, "command": true, "readonly": true, "script": true, "wait": true,
	"evalsha_ro": true, "eval_ro": true, "type": true, "dbsize": true, "time": true,
}

func writes(cmd redis.Cmder) bool { return !readOnly[cmd.Name()] }
