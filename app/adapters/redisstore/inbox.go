package redisstore

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app/inbox"
	"github.com/orderflow/orderflow/app/lease"
)

// A deferred claim (app/inbox) puts its mark in the hash slot of the keys the use case
// first touches, orderflow:dedup:{<tag>}:<handler>:<message id>, so that a script on
// that slot can claim or commit it with its own work. Marks from before, at
// orderflow:dedup:<handler>:<message id>, are still read, in the same pipeline: they
// drop duplicates until they expire (dedup.ttl), and a claim held there by a worker not
// yet upgraded is still in flight.

func markStored(tag, key string) string { return "{" + tag + "}:" + key }

// queuedClaim is a pending claim queued in a pipeline, with the read of its old mark.
type queuedClaim struct {
	c      *inbox.Claim
	tag    string
	legacy *redis.StringCmd
	claim  *redis.Cmd // nil when a script of the pipeline claims it itself
}

// queueLegacy queues the read of the mark an older worker would have written.
func queueLegacy(ctx context.Context, p redis.Pipeliner, c *inbox.Claim, tag string) *queuedClaim {
	return &queuedClaim{c: c, tag: tag, legacy: p.Get(ctx, DedupKeyPrefix+c.Key)}
}

// queueClaim queues c's claim in tag's slot. Scripts in a pipeline are sent with EVAL:
// EVALSHA's fallback on NOSCRIPT does not work there.
func queueClaim(ctx context.Context, p redis.Pipeliner, c *inbox.Claim, tag string) *queuedClaim {
	c.Attempt(markStored(tag, c.Key), tag)
	q := queueLegacy(ctx, p, c, tag)
	q.claim = claimScript.Eval(ctx, p, []string{DedupKeyPrefix + markStored(tag, c.Key)}, c.Token, c.Lease.Milliseconds())
	return q
}

// settle records in the claim what the pipeline found: found is the reply of the claim
// (nil: claimed). It returns inbox.ErrHeld or inbox.ErrDone when the message must not be
// handled, and releases the new claim when an old mark decides instead.
func (q *queuedClaim) settle(ctx context.Context, client redis.UniversalClient, found *string) error {
	state, value := lease.Claimed, ""
	if found != nil {
		state, value = lease.Decode(*found)
	}
	stored := markStored(q.tag, q.c.Key)
	legacy, err := q.legacy.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		// The old mark is on another node of a cluster, which may be the one down.
		// Record first what the new mark holds: this attempt may have claimed or even
		// committed it, and Dedup must know that to release it and to publish what it
		// owes on the retry.
		if settleErr := q.c.Settle(stored, q.tag, state, value); settleErr != nil {
			return settleErr
		}
		return wrap("dedup claim "+q.c.Key, err)
	}
	if legacy != "" && state == lease.Claimed {
		state, value = lease.Decode(legacy)
		if q.claim != nil {
			// Nothing ran under the new claim; give it back so a retry is not kept
			// waiting for its lease. Only for the dedup.ttl after an upgrade.
			_ = releaseScript.Run(ctx, client, []string{DedupKeyPrefix + stored}, q.c.Token).Err()
		}
	}
	return q.c.Settle(stored, q.tag, state, value)
}

// claimReply reads the reply of a queued claim script.
func (q *queuedClaim) claimReply() (*string, error) {
	stored, err := q.claim.Text()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		return nil, wrap("dedup claim "+q.c.Key, err)
	}
	return &stored, nil
}

// withClaim runs queue in one pipeline, after the pending claim of ctx, if any, in the
// slot of tag: the claim costs no round trip of its own. It returns only the claim's
// errors (inbox.ErrHeld, inbox.ErrDone among them); the caller reads its own commands.
func withClaim(ctx context.Context, client redis.UniversalClient, tag string, queue func(redis.Pipeliner)) error {
	c := inbox.From(ctx)
	var q *queuedClaim
	_, _ = client.Pipelined(ctx, func(p redis.Pipeliner) error {
		if c.Pending() {
			q = queueClaim(ctx, p, c, tag)
		}
		queue(p)
		return nil
	})
	if q == nil {
		return nil
	}
	found, err := q.claimReply()
	if err != nil {
		return err
	}
	return q.settle(ctx, client, found)
}

// settleFirst runs the pending claim of ctx, if any, on its own: for a write that cannot
// carry it, which must not run unclaimed.
func settleFirst(ctx context.Context, client redis.UniversalClient, tag string) error {
	c := inbox.From(ctx)
	if !c.Pending() {
		return nil
	}
	return withClaim(ctx, client, tag, func(redis.Pipeliner) {})
}

// markLua gives a script whose last key is a mark, and whose last five ARGV are
// markPlan.args, claim_mark() (false when it claimed the mark, else what the mark holds)
// and commit_mark() (1 when it committed the mark). go-redis sends a script again when
// the connection failed before its reply, so each also knows its own earlier run: a
// mark held by the token is claimed, and one committed by it (its value starts with the
// token, see inbox.Claim.MarkValue) is committed.
const markLua = `
local mark_mode, mark_token, mark_lease, mark_value, mark_ttl = ARGV[#ARGV-4], ARGV[#ARGV-3], ARGV[#ARGV-2], ARGV[#ARGV-1], ARGV[#ARGV]
local mark_mine = 'done:' .. mark_token .. '\31'
local mark_committed = false
local function claim_mark()
  if not string.find(mark_mode, 'claim', 1, true) then return false end
  if redis.call('SET', KEYS[#KEYS], mark_token, 'NX', 'PX', mark_lease) then return false end
  local held = redis.call('GET', KEYS[#KEYS])
  if held == mark_token then return false end
  if string.sub(held, 1, #mark_mine) == mark_mine then
    mark_committed = true
    return false
  end
  return held
end
local function commit_mark()
  if not string.find(mark_mode, 'commit', 1, true) then return 0 end
  if mark_committed then return 1 end
  local held = redis.call('GET', KEYS[#KEYS])
  if held ~= mark_token then
    if held and string.sub(held, 1, #mark_mine) == mark_mine then return 1 end
    return 0
  end
  redis.call('SET', KEYS[#KEYS], mark_value, 'PX', mark_ttl)
  return 1
end
`

// markPlan is what a write script on tag's slot does with the claim of ctx: claim it
// (when it is pending and the script can), commit it (when the write is the last one and
// the mark is, or is being, claimed in that slot), or nothing.
type markPlan struct {
	c      *inbox.Claim
	tag    string
	claim  bool
	commit bool
	key    string
	args   []any
}

// planMark takes the Last flag of ctx's claim and plans a write on tag's slot. A script
// that cannot run claim_mark must settle the claim first (settleFirst).
func planMark(ctx context.Context, tag string, canClaim bool) markPlan {
	c := inbox.From(ctx)
	value, last := c.TakeLast()
	p := markPlan{c: c, tag: tag, key: DedupKeyPrefix + markStored(tag, "-")}
	if c == nil {
		p.args = []any{"", "", 0, "", 0}
		return p
	}
	p.claim = canClaim && c.Pending()
	sameSlot := c.State() == inbox.Claimed && c.Slot() == tag
	p.commit = last && (p.claim || sameSlot)
	if p.claim || sameSlot {
		p.key = DedupKeyPrefix + markStored(tag, c.Key)
	}
	var mode []string
	if p.claim {
		mode = append(mode, "claim")
	}
	if p.commit {
		mode = append(mode, "commit")
	}
	p.args = []any{strings.Join(mode, ","), c.Token, c.Lease.Milliseconds(), lease.Encode(c.MarkValue(value)), c.TTL.Milliseconds()}
	return p
}

// run runs script with the plan's mark as its last key and its args last, in one
// pipeline with the read of the old mark when it claims.
func (p markPlan) run(ctx context.Context, client redis.UniversalClient, script *redis.Script, keys []string, args ...any) (*redis.Cmd, *queuedClaim) {
	keys = append(keys, p.key)
	args = append(args, p.args...)
	if !p.claim {
		return script.Run(ctx, client, keys, args...), nil
	}
	p.c.Attempt(markStored(p.tag, p.c.Key), p.tag)
	var cmd *redis.Cmd
	var q *queuedClaim
	_, _ = client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		q = queueLegacy(ctx, pipe, p.c, p.tag)
		cmd = script.Eval(ctx, pipe, keys, args...)
		return nil
	})
	return cmd, q
}

// doneWith reads the reply of a script built on markLua, res = {status, value,
// committed}, where status foundStatus means claim_mark found the mark taken and value
// is what it holds, and hands it to done.
func (p markPlan) doneWith(ctx context.Context, client redis.UniversalClient, q *queuedClaim, res []any, foundStatus int64) error {
	var found *string
	if status, _ := res[0].(int64); status == foundStatus {
		held, _ := res[1].(string)
		found = &held
	}
	committed := len(res) > 2 && res[2] == int64(1)
	return p.done(ctx, client, q, found, committed)
}

// done records what the script reported: found is what claim_mark found (nil: it
// claimed, or did not try), committed whether commit_mark committed.
func (p markPlan) done(ctx context.Context, client redis.UniversalClient, q *queuedClaim, found *string, committed bool) error {
	var err error
	if q != nil {
		err = q.settle(ctx, client, found)
	}
	if committed && p.c.State() == inbox.Claimed {
		p.c.Committed()
	}
	return err
}
