package tests

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/handlers"
)

func TestComponent_300_orders_reach_terminal_states_with_invariants(t *testing.T) {
	t.Parallel()
	for _, env := range Envs() {
		t.Run(env.Name, func(t *testing.T) {
			t.Parallel()
			component300(t, env)
		})
	}
}

func component300(t *testing.T, env Env) {
	w := env.Start(t, nil, handlers.Table())
	c := NewClient(w.URL())
	plan := NewPlan(42, 300)
	plan.SetStock(t, c)

	placed := plan.PlaceAll(t, c, 8)
	require.Len(t, placed, 300)
	out := AwaitTerminal(t, c, plan, placed, 60*time.Second)

	CheckInvariants(t, c, plan, placed, out, ledgerCaptures(t, w, true))

	t.Logf("outcomes: %v", out.Counts)
	assert.Positive(t, out.Counts["confirmed"], "the plan confirms some orders")
	assert.Positive(t, out.Counts["out_of_stock"], "the plan runs some SKU out of stock")
	assert.Positive(t, out.Counts["payment_declined"], "the plan has declined payments")
	assert.Empty(t, w.Tap.Poisoned(t), "nothing is poisoned")
}
