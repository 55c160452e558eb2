package middleware

import (
	"context"
	"sync"
	"time"
)

// MemoryClaims is a ClaimStore in process memory, for the embedded default and tests.
type MemoryClaims struct {
	mu     sync.Mutex
	now    func() time.Time
	claims map[string]memoryClaim
	// sweepAt is when expired claims are next dropped, so memory does not grow for ever.
	sweepAt time.Time
}

type memoryClaim struct {
	token   string // "" once done
	expires time.Time
}

// NewMemoryClaims returns an empty store.
func NewMemoryClaims() *MemoryClaims {
	return &MemoryClaims{now: time.Now, claims: map[string]memoryClaim{}}
}

// Claim implements ClaimStore.
func (m *MemoryClaims) Claim(_ context.Context, key, token string, lease time.Duration) (ClaimResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	if c, ok := m.claims[key]; ok && now.Before(c.expires) {
		if c.token == "" {
			return Done, nil
		}
		return InFlight, nil
	}
	m.claims[key] = memoryClaim{token: token, expires: now.Add(lease)}
	return Claimed, nil
}

// Commit implements ClaimStore.
func (m *MemoryClaims) Commit(_ context.Context, key, token string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.claims[key]
	if !ok || c.token != token {
		return false, nil
	}
	m.claims[key] = memoryClaim{expires: m.now().Add(ttl)}
	return true, nil
}

// Release implements ClaimStore.
func (m *MemoryClaims) Release(_ context.Context, key, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.claims[key]; ok && c.token == token {
		delete(m.claims, key)
	}
	return nil
}

func (m *MemoryClaims) sweep(now time.Time) {
	if now.Before(m.sweepAt) {
		return
	}
	for k, c := range m.claims {
		if !now.Before(c.expires) {
			delete(m.claims, k)
		}
	}
	m.sweepAt = now.Add(time.Minute)
}
