// Package paysim is the simulated payment provider that README.md describes:
// deterministic declines above a threshold, optional latency and transient failures for tests and benchmarks,
// and idempotency per key like a real provider.
package paysim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/orderflow/orderflow/domain/money"
	"github.com/orderflow/orderflow/domain/payment"
)

// Config tunes the simulation.
type Config struct {
	// DeclineAboveCents declines every charge above it.
	DeclineAboveCents int64
	// Latency is added to every charge.
	Latency time.Duration
	// TransientFailureRate is the share of charges, 0..1, that fail with
	// payment.ErrProviderUnavailable before anything is charged.
	TransientFailureRate float64
	// Seed makes the transient failures repeatable; 0 picks a random seed.
	Seed uint64
}

// LedgerSize is how many charges the provider remembers, for idempotency and for tests;
// older ones are forgotten so a long-running worker's memory stays flat. A real provider
// keeps its idempotency keys on its side, for about a day.
const LedgerSize = 20000

// Provider is the simulated provider. Its ledger lets tests count captures.
type Provider struct {
	cfg Config

	mu     sync.Mutex
	rnd    *rand.Rand
	ledger map[string]Charge
	keys   []string // a ring of the ledger's keys
	oldest int      // where the ring's oldest key is, once it is full
}

// Charge is one entry of the provider's ledger.
type Charge struct {
	Key       string
	Amount    money.Cents
	Captured  bool
	PaymentID string
	// Calls counts the charges made with this key; the provider answers all but the
	// first from its ledger.
	Calls int
}

// New returns a provider with an empty ledger.
func New(cfg Config) *Provider {
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Provider{cfg: cfg, rnd: rand.New(rand.NewPCG(seed, seed)), ledger: map[string]Charge{}}
}

// Charge implements payment.Provider.
func (p *Provider) Charge(ctx context.Context, key string, amount money.Cents, currency money.Currency) (payment.Receipt, error) {
	if p.cfg.Latency > 0 {
		t := time.NewTimer(p.cfg.Latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return payment.Receipt{}, fmt.Errorf("charge %s: %w", key, ctx.Err())
		case <-t.C:
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if held, ok := p.ledger[key]; ok {
		held.Calls++
		p.ledger[key] = held
		return result(held)
	}
	if p.cfg.TransientFailureRate > 0 && p.rnd.Float64() < p.cfg.TransientFailureRate {
		return payment.Receipt{}, fmt.Errorf("charge %s: %w", key, payment.ErrProviderUnavailable)
	}
	c := Charge{Key: key, Amount: amount, Calls: 1}
	if int64(amount) <= p.cfg.DeclineAboveCents {
		c.Captured = true
		c.PaymentID = fmt.Sprintf("pay-%s-%s", currency, key)
	}
	p.ledger[key] = c
	if len(p.keys) < LedgerSize {
		p.keys = append(p.keys, key)
	} else {
		delete(p.ledger, p.keys[p.oldest])
		p.keys[p.oldest] = key
		p.oldest = (p.oldest + 1) % LedgerSize
	}
	return result(c)
}

func result(c Charge) (payment.Receipt, error) {
	if !c.Captured {
		return payment.Receipt{}, &payment.DeclinedError{Reason: payment.ReasonDeclined}
	}
	return payment.Receipt{PaymentID: c.PaymentID}, nil
}

// Ledger returns every charge the provider took, captured or declined.
func (p *Provider) Ledger() []Charge {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Charge, 0, len(p.ledger))
	for _, c := range p.ledger {
		out = append(out, c)
	}
	return out
}
