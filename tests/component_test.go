package tests

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

func TestComponent_300_orders_reach_terminal_states_with_invariants(t *testing.T) {
	t.Parallel()
	for _, env := range Envs() {
		t.Run(env.Name, func(t *testing.T) {
			t.Parallel()
			component300(t, env, handlers.Table())
		})
	}
}

// TestComponent_a_throwaway_handler_joins_the_table: a handler of its own on order.placed,
// with state and a custom chain, added to a copy of the table, leaves the saga exactly as
// it was and sees every order once.
func TestComponent_a_throwaway_handler_joins_the_table(t *testing.T) {
	t.Parallel()
	for _, env := range Envs() {
		t.Run(env.Name, func(t *testing.T) {
			t.Parallel()
			var seen atomic.Int64
			counting := handlers.Custom("count", func(handlers.StageEnv) (message.HandlerMiddleware, error) {
				return func(h message.HandlerFunc) message.HandlerFunc {
					return func(msg *message.Message) ([]*message.Message, error) {
						seen.Add(1)
						return h(msg)
					}
				}, nil
			})
			const name = "order-tally"
			tally := handlers.Definition{
				Name: name,
				New: func(d handlers.Deps) (handlers.Handler, error) {
					return handlers.NewHandler(handlers.On(func(ctx context.Context, e event.OrderPlaced) (event.Event, error) {
						_, err := d.State.AddOnce(ctx, "orders", e.OrderID, d.Clock(), time.Hour)
						return nil, err
					})), nil
				},
				Chain: handlers.Standard.Without(handlers.StageThrottle).With(counting, handlers.Before(handlers.StageRetry)),
			}
			table := append(handlers.Table(), tally)
			w := component300(t, env, table)
			Eventually(t, 10*time.Second, func() string {
				if w.Counter(t, "orderflow_messages_total", name) < 300 {
					return "the throwaway handler has not handled every order yet"
				}
				return ""
			})
			n, err := w.Storage.State(name).AddOnce(context.Background(), "orders", "probe", time.Now(), time.Hour)
			require.NoError(t, err)
			assert.Equal(t, int64(300+1), n, "the throwaway handler recorded each of the 300 orders once, in its own state")
			assert.GreaterOrEqual(t, seen.Load(), int64(300), "its custom stage saw every order")
			assert.Equal(t, 300.0, w.Counter(t, "orderflow_messages_total", name))
		})
	}
}

func component300(t *testing.T, env Env, table []handlers.Definition) *TestWorker {
	w := env.Start(t, nil, table)
	c := NewClient(w.URL())
	plan := NewPlan(42, 300)
	plan.SetStock(t, NewClient(w.AdminURL()))

	placed := plan.PlaceAll(t, c, 8)
	require.Len(t, placed, 300)
	out := AwaitTerminal(t, c, plan, placed, 60*time.Second)

	CheckInvariants(t, c, plan, placed, out, ledgerCaptures(t, w, true))

	t.Logf("outcomes: %v", out.Counts)
	assert.Positive(t, out.Counts["confirmed"], "the plan confirms some orders")
	assert.Positive(t, out.Counts["out_of_stock"], "the plan runs some SKU out of stock")
	assert.Positive(t, out.Counts["payment_declined"], "the plan has declined payments")
	assert.Empty(t, w.Tap.Poisoned(t), "nothing is poisoned")
	return w
}
