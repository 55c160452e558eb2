package memory

import (
	"context"

	"github.com/orderflow/orderflow/app/inbox"
)

// marks runs a message's deferred claim (app/inbox) on the dedup marks of a Leases, so
// that the memory stores behave as the Redis ones do: the first operation claims, the
// last write commits the mark while the store still holds its lock, so nothing sees the
// write without the mark. A store embeds it; until ClaimOn, it runs no claims.
type marks struct {
	leases *Leases
}

// ClaimOn makes the store run deferred claims on the dedup marks in leases.
func (m *marks) ClaimOn(leases *Leases) { m.leases = leases }

// settle runs the pending claim of ctx, if any: inbox.ErrHeld or inbox.ErrDone say the
// message must not be handled.
func (m *marks) settle(ctx context.Context) error {
	c := inbox.From(ctx)
	if !c.Pending() || m.leases == nil {
		return nil
	}
	c.Attempt(c.Key, "")
	state, value, err := m.leases.Claim(ctx, c.Key, c.Token, c.Lease)
	if err != nil {
		return err
	}
	return c.Settle(c.Key, "", state, value)
}

// wrote takes the Last flag of ctx's claim and, when the write that changed something
// (changed) is the message's last, commits the mark with what it owes.
func (m *marks) wrote(ctx context.Context, changed bool) {
	c := inbox.From(ctx)
	value, last := c.TakeLast()
	if !changed || !last || c.State() != inbox.Claimed || m.leases == nil {
		return
	}
	if ok, _ := m.leases.Commit(ctx, c.Key, c.Token, c.MarkValue(value), c.TTL); ok {
		c.Committed()
	}
}
