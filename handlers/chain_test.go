package handlers_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/handlers"
)

// TestTable_every_chain_keeps_the_order_rules pins, for every row, the rules the chains
// rely on, whatever else a row adds or removes.
func TestTable_every_chain_keeps_the_order_rules(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	for _, def := range handlers.Table() {
		assert.False(t, names[def.Name], "handler names are unique: %s", def.Name)
		names[def.Name] = true
		at := func(s handlers.Stage) int {
			for i, st := range def.Chain {
				if st.Name == s.Name {
					return i
				}
			}
			return -1
		}
		c := def.Chain
		if at(handlers.StageCorrelation) >= 0 {
			assert.Equal(t, 0, at(handlers.StageCorrelation), "%s: correlation outermost", def.Name)
		}
		if at(handlers.StageRecoverer) >= 0 {
			assert.Equal(t, len(c)-1, at(handlers.StageRecoverer), "%s: recoverer innermost", def.Name)
		}
		if at(handlers.StagePoison) >= 0 && at(handlers.StageRetry) >= 0 {
			assert.Less(t, at(handlers.StagePoison), at(handlers.StageRetry), "%s: poison outside retry", def.Name)
		}
		if assert.GreaterOrEqual(t, at(handlers.StageVerify), 0, "%s: verify in every chain", def.Name) && at(handlers.StagePoison) >= 0 {
			assert.Less(t, at(handlers.StagePoison), at(handlers.StageVerify), "%s: poison outside verify", def.Name)
		}
		if at(handlers.StageRetry) >= 0 && at(handlers.StageDedup) >= 0 {
			assert.Less(t, at(handlers.StageRetry), at(handlers.StageDedup), "%s: dedup inside retry", def.Name)
		}
		assert.NoError(t, c.Check(), def.Name)
	}
}

func TestChain_without_and_with(t *testing.T) {
	t.Parallel()
	noop := func(handlers.StageEnv) (message.HandlerMiddleware, error) { return nil, nil }
	audit := handlers.Custom("audit", noop)

	assert.Equal(t, []string{"correlation", "logging", "metrics", "poison", "verify", "redeliver", "retry", "dedup", "timeout", "recoverer"},
		handlers.Standard.Without(handlers.StageThrottle).Names())
	assert.Equal(t, []string{"correlation", "logging", "audit", "metrics"},
		handlers.Chain{handlers.StageCorrelation, handlers.StageLogging, handlers.StageMetrics}.With(audit, handlers.After(handlers.StageLogging)).Names())
	assert.Equal(t, []string{"correlation", "audit", "logging"},
		handlers.Chain{handlers.StageCorrelation, handlers.StageLogging}.With(audit, handlers.Before(handlers.StageLogging)).Names())
	assert.Len(t, handlers.Standard, 11, "With and Without leave Standard alone")
	assert.True(t, handlers.Standard.With(audit, handlers.Before(handlers.StageRetry)).Has(audit))

	assert.PanicsWithValue(t, "handlers: cannot place stage audit next to throttle, which the chain lacks", func() {
		handlers.Standard.Without(handlers.StageThrottle).With(audit, handlers.After(handlers.StageThrottle))
	})
	assert.PanicsWithValue(t, "handlers: chain already holds stage retry", func() {
		handlers.Standard.With(handlers.StageRetry, handlers.After(handlers.StageDedup))
	})
}

func TestChain_check_names_each_broken_rule(t *testing.T) {
	t.Parallel()
	s := handlers.Standard
	tests := []struct {
		Name  string
		Chain handlers.Chain
		Want  string
	}{
		{"standard", s, ""},
		{"empty", nil, "verify is missing"},
		{"no verify", s.Without(handlers.StageVerify), "verify is missing: every chain checks signatures"},
		{"verify outside poison", handlers.Chain{handlers.StageVerify, handlers.StagePoison}, "poison must be outside verify"},
		{"verify inside dedup", s.Without(handlers.StageVerify).With(handlers.StageVerify, handlers.After(handlers.StageDedup)), "verify must be outside dedup"},
		{"no dedup, no throttle", s.Without(handlers.StageDedup, handlers.StageThrottle), ""},
		{"correlation inside", handlers.Chain{handlers.StageLogging, handlers.StageCorrelation}, "correlation must be the outermost stage, is at 2"},
		{"recoverer outside", handlers.Chain{handlers.StageRecoverer, handlers.StageRetry}, "recoverer must be the innermost stage, is at 1 of 2"},
		{"retry outside poison", handlers.Chain{handlers.StageRetry, handlers.StagePoison}, "poison must be outside retry"},
		{"dedup outside retry", handlers.Chain{handlers.StageDedup, handlers.StageRetry}, "retry must be outside dedup"},
		{"twice", handlers.Chain{handlers.StageMetrics, handlers.StageMetrics}, "stage metrics appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			err := tt.Chain.Check()
			if tt.Want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.Want)
		})
	}
}
