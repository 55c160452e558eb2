package paysim_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/paysim"
	"github.com/orderflow/orderflow/domain/money"
	"github.com/orderflow/orderflow/domain/payment"
)

var usd, _ = money.ParseCurrency("USD")

func TestProvider_declines_above_the_threshold_and_is_idempotent(t *testing.T) {
	t.Parallel()
	p := paysim.New(paysim.Config{DeclineAboveCents: 100})
	ctx := context.Background()
	r, err := p.Charge(ctx, "o1", 100, usd)
	require.NoError(t, err)
	assert.Equal(t, "pay-USD-o1", r.PaymentID)
	_, err = p.Charge(ctx, "o2", 101, usd)
	var declined *payment.DeclinedError
	require.True(t, errors.As(err, &declined))
	again, err := p.Charge(ctx, "o1", 100, usd)
	require.NoError(t, err)
	assert.Equal(t, r, again)
	ledger := map[string]paysim.Charge{}
	for _, c := range p.Ledger() {
		ledger[c.Key] = c
	}
	assert.Equal(t, 2, ledger["o1"].Calls)
	assert.False(t, ledger["o2"].Captured)
}

func TestProvider_transient_failures_charge_nothing(t *testing.T) {
	t.Parallel()
	p := paysim.New(paysim.Config{DeclineAboveCents: 100, TransientFailureRate: 0.999, Seed: 1})
	_, err := p.Charge(context.Background(), "o1", 1, usd)
	assert.ErrorIs(t, err, payment.ErrProviderUnavailable)
	assert.Empty(t, p.Ledger())
}

func TestProvider_ledger_is_bounded(t *testing.T) {
	t.Parallel()
	p := paysim.New(paysim.Config{DeclineAboveCents: 100})
	for i := range paysim.LedgerSize + 10 {
		_, err := p.Charge(context.Background(), fmt.Sprint(i), 1, usd)
		require.NoError(t, err)
	}
	ledger := p.Ledger()
	assert.Len(t, ledger, paysim.LedgerSize)
	keys := map[string]bool{}
	for _, c := range ledger {
		keys[c.Key] = true
	}
	assert.False(t, keys["0"], "the oldest charges are forgotten")
	assert.True(t, keys[fmt.Sprint(paysim.LedgerSize+9)], "the newest are kept")
}
