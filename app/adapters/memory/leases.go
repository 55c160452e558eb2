package memory

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/orderflow/orderflow/app/lease"
)

// Leases is a lease.Store in process memory. Expired keys are swept, so memory is
// bounded by the keys still live.
type Leases struct {
	mu     sync.Mutex
	now    func() time.Time
	keys   map[string]heldLease
	sweeps sweeper
}

type heldLease struct {
	token   string // "" once committed
	value   string
	expires time.Time
}

// NewLeases returns an empty store.
func NewLeases() *Leases {
	return &Leases{now: time.Now, keys: map[string]heldLease{}}
}

// Claim implements lease.Store.
func (m *Leases) Claim(_ context.Context, key, token string, ttl time.Duration) (lease.State, string, error) {
	if err := lease.CheckToken(token); err != nil {
		return 0, "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	if held, ok := m.keys[key]; ok && now.Before(held.expires) {
		if held.token == "" {
			return lease.Done, held.value, nil
		}
		return lease.Held, held.token, nil
	}
	m.keys[key] = heldLease{token: token, expires: now.Add(ttl)}
	return lease.Claimed, "", nil
}

// Commit implements lease.Store.
func (m *Leases) Commit(_ context.Context, key, token, value string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	held, ok := m.keys[key]
	if !ok || held.token != token || !now.Before(held.expires) {
		return false, nil
	}
	m.keys[key] = heldLease{value: value, expires: now.Add(ttl)}
	return true, nil
}

// Release implements lease.Store.
func (m *Leases) Release(_ context.Context, key, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if held, ok := m.keys[key]; ok && held.token == token {
		delete(m.keys, key)
	}
	return nil
}

// Len returns how many keys are kept, expired ones not yet swept included.
func (m *Leases) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}

func (m *Leases) sweep(now time.Time) {
	if m.sweeps.due(now) {
		maps.DeleteFunc(m.keys, func(_ string, held heldLease) bool { return !now.Before(held.expires) })
	}
}
