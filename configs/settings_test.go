package configs_test

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/orderflow/orderflow/configs"
)

type screenSettings struct {
	Limit  int64         `yaml:"limit"`
	Window time.Duration `yaml:"window"`
}

func (s *screenSettings) Validate() error {
	var errs []error
	if s.Limit < 1 {
		errs = append(errs, fmt.Errorf("limit: must be >= 1, got %d", s.Limit))
	}
	if s.Window <= 0 {
		errs = append(errs, fmt.Errorf("window: must be a positive duration such as 10m, got %s", s.Window))
	}
	return errors.Join(errs...)
}

func block(t *testing.T, text string) yaml.Node {
	t.Helper()
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(text), &doc))
	return *doc.Content[0]
}

func TestDecodeSettings(t *testing.T) {
	t.Parallel()
	defaults := screenSettings{Limit: 5, Window: 10 * time.Minute}
	tests := []struct {
		Name  string
		Block string
		Want  screenSettings
		Err   string
	}{
		{Name: "absent keeps the defaults", Want: defaults},
		{Name: "overrides what it names", Block: "window: 1m", Want: screenSettings{Limit: 5, Window: time.Minute}},
		{Name: "every problem, each named", Block: "limit: 0\nwindow: -1s",
			Err: "handlers.x.settings.limit: must be >= 1, got 0\nhandlers.x.settings.window: must be a positive duration such as 10m, got -1s"},
		{Name: "an unknown key", Block: "limt: 3",
			Err: "handlers.x.settings.limt: no such setting (the settings are limit, window)"},
		{Name: "a value of the wrong type", Block: "limit: lots",
			Err: "handlers.x.settings.limit: line 1: cannot unmarshal !!str `lots` into int64"},
		{Name: "not a block", Block: "7", Err: `handlers.x.settings: must be a block of setting: value lines, got "7"`},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			var node yaml.Node
			if tt.Block != "" {
				node = block(t, tt.Block)
			}
			got := defaults
			err := configs.DecodeSettings("handlers.x.settings", node, &got)
			if tt.Err != "" {
				require.Error(t, err)
				assert.Equal(t, tt.Err, err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.Want, got)
		})
	}
}

func TestLoad_keeps_a_handlers_settings_block(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/c.yaml"
	require.NoError(t, os.WriteFile(path, []byte("handlers:\n  fraud-screen:\n    settings:\n      max_orders: 2\n"), 0o600))
	cfg, err := configs.Load(path, func(string) string { return "" })
	require.NoError(t, err)
	var s struct {
		MaxOrders int `yaml:"max_orders"`
	}
	require.NoError(t, configs.DecodeSettings("p", cfg.Handlers["fraud-screen"].Settings, &s))
	assert.Equal(t, 2, s.MaxOrders)
}
