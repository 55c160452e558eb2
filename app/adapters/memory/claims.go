package memory

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/orderflow/orderflow/middleware"
)

// Claims is a middleware.ClaimStore in process memory, for the embedded default and
// tests.
type Claims struct {
	mu     sync.Mutex
	now    func() time.Time
	claims map[string]memoryClaim
	sweeps sweeper
}

type memoryClaim struct {
	token   string // "" once done
	expires time.Time
}

// NewClaims returns an empty store.
func NewClaims() *Claims {
	return &Claims{now: time.Now, claims: map[string]memoryClaim{}}
}

// Claim implements middleware.ClaimStore.
func (m *Claims) Claim(_ context.Context, key, token string, lease time.Duration) (middleware.ClaimResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	if c, ok := m.claims[key]; ok && now.Before(c.expires) {
		if c.token == "" {
			return middleware.Done, nil
		}
		return middleware.InFlight, nil
	}
	m.claims[key] = memoryClaim{token: token, expires: now.Add(lease)}
	return middleware.Claimed, nil
}

// Commit implements middleware.ClaimStore.
func (m *Claims) Commit(_ context.Context, key, token string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.claims[key]
	if !ok || c.token != token {
		return false, nil
	}
	m.claims[key] = memoryClaim{expires: m.now().Add(ttl)}
	return true, nil
}

// Release implements middleware.ClaimStore.
func (m *Claims) Release(_ context.Context, key, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.claims[key]; ok && c.token == token {
		delete(m.claims, key)
	}
	return nil
}

func (m *Claims) sweep(now time.Time) {
	if m.sweeps.due(now) {
		maps.DeleteFunc(m.claims, func(_ string, c memoryClaim) bool { return !now.Before(c.expires) })
	}
}
