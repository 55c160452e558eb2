package configs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/configs"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

func TestLoadEnv_derived_variables(t *testing.T) {
	t.Parallel()
	cfg, err := configs.LoadEnv("", []string{
		"ORDERFLOW_AMQP_PREFETCH=25",
		"ORDERFLOW_HANDLER_DEFAULTS_RETRY_MAX_ATTEMPTS=7",
		"ORDERFLOW_HANDLERS_PAYMENT_CAPTURE_THROTTLE_PER_SECOND=40",
		"ORDERFLOW_HANDLERS_ORDER_CONFIRM_RETRY_JITTER=0.1",
		"ORDERFLOW_HANDLERS_ORDER_CONFIRM_TIMEOUT=3s",
		"ORDERFLOW_AMQP_RETRY_DELAYS=[2s, 20s]",
		"ORDERFLOW_INVENTORY_SEED={SKU-NEW: 4, SKU-RED: 7}",
		"ORDERFLOW_DEDUP_FAIL_OPEN=true",
		"ORDERFLOW_PAYMENT_TRANSIENT_FAILURE_RATE=0.25",
		"ORDERFLOW_AMQP_URL=amqp://u:p@mq:5672/vh?heartbeat=10#x",
	})
	require.NoError(t, err)
	assert.Equal(t, 25, cfg.AMQP.Prefetch)
	assert.Equal(t, 7, cfg.HandlerDefaults.Retry.MaxAttempts)
	capture := cfg.Handler("payment-capture")
	assert.Equal(t, configs.Throttle{PerSecond: 40, Burst: 50}, capture.Throttle, "one variable changes one value of the default's block")
	confirm := cfg.Handler("order-confirm")
	assert.Equal(t, 3*time.Second, confirm.Timeout)
	assert.Equal(t, 0.1, confirm.Retry.Jitter)
	assert.Equal(t, 7, confirm.Retry.MaxAttempts, "a handler's block starts from handler_defaults, as the variables left it")
	assert.Equal(t, []time.Duration{2 * time.Second, 20 * time.Second}, cfg.AMQP.RetryDelays)
	assert.Equal(t, map[string]int64{"SKU-RED": 7, "SKU-BLUE": 50, "SKU-GREEN": 5, "SKU-NEW": 4}, cfg.Inventory.Seed, "a block gains and replaces keys, as a file's does")
	assert.True(t, cfg.Dedup.FailOpen)
	assert.Equal(t, 0.25, cfg.Payment.TransientFailureRate)
	assert.Equal(t, "amqp://u:p@mq:5672/vh?heartbeat=10#x", cfg.AMQP.URL, "a string is taken as it is, # and all")
}

func TestLoadEnv_lists_and_blocks_without_brackets(t *testing.T) {
	t.Parallel()
	cfg, err := configs.LoadEnv("", []string{
		"ORDERFLOW_AMQP_RETRY_DELAYS=500ms, 5s",
		"ORDERFLOW_INVENTORY_SEED=SKU-X: 1",
		"ORDERFLOW_HANDLERS_FRAUD_SCREEN_SETTINGS=max_orders: 2",
	})
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{500 * time.Millisecond, 5 * time.Second}, cfg.AMQP.RetryDelays)
	assert.Equal(t, int64(1), cfg.Inventory.Seed["SKU-X"])
	var s struct {
		MaxOrders int `yaml:"max_orders"`
		Window    string
	}
	require.NoError(t, configs.DecodeSettings("x", cfg.Handlers["fraud-screen"].Settings, &s))
	assert.Equal(t, 2, s.MaxOrders)
}

func TestLoadEnv_settings_variable_replaces_the_keys_it_names(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "handlers:\n  fraud_screen:\n    settings:\n      max_orders: 2\n      window: 10m\n")
	cfg, err := configs.LoadEnv(path, []string{"ORDERFLOW_HANDLERS_FRAUD_SCREEN_SETTINGS={max_orders: 5}"})
	require.NoError(t, err)
	var s struct {
		MaxOrders int    `yaml:"max_orders"`
		Window    string `yaml:"window"`
	}
	require.NoError(t, configs.DecodeSettings("x", cfg.Handlers["fraud_screen"].Settings, &s), "the key the file writes with _ is the one the variable finds")
	assert.Equal(t, 5, s.MaxOrders)
	assert.Equal(t, "10m", s.Window)
	assert.NotContains(t, cfg.Handlers, "fraud-screen")
}

func TestLoadEnv_aliases(t *testing.T) {
	t.Parallel()
	cfg, err := configs.LoadEnv("", []string{
		"ORDERFLOW_ADMIN_ADDR=127.0.0.1:9091",
		"ORDERFLOW_ADMIN_TOKEN_FILE=/run/admin",
		"ORDERFLOW_HTTP_API_TOKENS_FILE=/run/api",
		"ORDERFLOW_API_TOKENS_FILE=/run/api",
	})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9091", cfg.HTTP.AdminAddr)
	assert.Equal(t, "/run/admin", cfg.HTTP.AdminTokenFile)
	assert.Equal(t, "/run/api", cfg.HTTP.APITokensFile, "the name and its alias may agree")

	_, err = configs.LoadEnv("", []string{"ORDERFLOW_ADMIN_ADDR=127.0.0.1:9091", "ORDERFLOW_HTTP_ADMIN_ADDR=127.0.0.1:9092"})
	assert.EqualError(t, err, "ORDERFLOW_ADMIN_ADDR and ORDERFLOW_HTTP_ADMIN_ADDR are both set, to different values: give one (they are the same setting, http.admin_addr)")
}

func TestLoadEnv_unknown_variables(t *testing.T) {
	t.Parallel()
	_, err := configs.LoadEnv("", []string{
		"ORDERFLOW_AMQP_PREFECH=3",
		"ORDERFLOW_NOTHING_LIKE_IT=1",
		"ORDERFLOW_HANDLERS_PAYMENT_CAPTURE_THROTTLE_BURT=1",
	})
	require.Error(t, err)
	assert.Equal(t, []string{
		"ORDERFLOW_AMQP_PREFECH: names no setting; did you mean ORDERFLOW_AMQP_PREFETCH? (`orderflow help` lists the variables)",
		"ORDERFLOW_HANDLERS_PAYMENT_CAPTURE_THROTTLE_BURT: names no setting (`orderflow help` lists the variables)",
		"ORDERFLOW_NOTHING_LIKE_IT: names no setting (`orderflow help` lists the variables)",
	}, strings.Split(err.Error(), "\n"))

	_, err = configs.LoadEnv("", []string{
		"ORDERFLOW_CONFIG=/etc/orderflow.yaml", "ORDERFLOW_TEST_AMQP_URL=amqp://x/", "ORDERFLOW_TEST_LOG=1",
		"ORDERFLOW_BENCH=quick", "ORDERFLOW_BENCH_OUT=/tmp/x", "PATH=/bin", "ORDERFLOW_BROKER=",
	})
	assert.NoError(t, err, "the config file's variable and the tools' are no settings, and not reported")
}

func TestLoadEnv_values_that_do_not_decode(t *testing.T) {
	t.Parallel()
	_, err := configs.LoadEnv("", []string{
		"ORDERFLOW_SHUTDOWN_TIMEOUT=15",
		"ORDERFLOW_AMQP_PREFETCH=ten",
		"ORDERFLOW_AMQP_RETRY_DELAYS=1s, 10",
		"ORDERFLOW_HANDLERS_ORDER_CONFIRM_RETRY_MAX_ELAPSED=soon",
		"ORDERFLOW_SIGNING_ALLOW_UNSIGNED=maybe",
		"ORDERFLOW_INVENTORY_SEED=[1, 2",
	})
	require.Error(t, err)
	assert.Equal(t, []string{
		`amqp.prefetch (ORDERFLOW_AMQP_PREFETCH): "ten" is not a whole number`,
		`amqp.retry_delays[1] (ORDERFLOW_AMQP_RETRY_DELAYS): "10" is not a duration; write it with a unit, such as 15s or 500ms`,
		`shutdown_timeout (ORDERFLOW_SHUTDOWN_TIMEOUT): "15" is not a duration; write it with a unit, such as 15s or 500ms`,
		`inventory.seed (ORDERFLOW_INVENTORY_SEED): "[1, 2" is not a block of key: value pairs, such as {KEY: 1}`,
		`signing.allow_unsigned (ORDERFLOW_SIGNING_ALLOW_UNSIGNED): "maybe" is not true or false`,
		`handlers.order-confirm.retry.max_elapsed (ORDERFLOW_HANDLERS_ORDER_CONFIRM_RETRY_MAX_ELAPSED): "soon" is not a duration; write it with a unit, such as 15s or 500ms`,
	}, strings.Split(err.Error(), "\n"), "in the order of the settings")
}

// TestLoadEnv_every_problem_at_once: an unknown key in the file hides nothing: the
// file's other problems, the environment's and what validation finds come with it.
func TestLoadEnv_every_problem_at_once(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "brokr: amqp\nshutdown_timeout: 15\nlog_level: loud\namqp:\n  prefetch: 0\n  prefech: 3\n")
	_, err := configs.LoadEnv(path, []string{"ORDERFLOW_STORE=disk", "ORDERFLOW_DEDUP_TTL=1", "ORDERFLOW_REDIS_ULR=redis://x/"})
	require.Error(t, err)
	assert.Equal(t, []string{
		`brokr: no such setting; did you mean broker? (` + path + `:1)`,
		`shutdown_timeout: "15" is not a duration; write it with a unit, such as 15s or 500ms (` + path + `:2)`,
		`amqp.prefech: no such setting; did you mean amqp.prefetch? (` + path + `:6)`,
		"ORDERFLOW_REDIS_ULR: names no setting; did you mean ORDERFLOW_REDIS_URL? (`orderflow help` lists the variables)",
		`dedup.ttl (ORDERFLOW_DEDUP_TTL): "1" is not a duration; write it with a unit, such as 15s or 500ms`,
		`store (ORDERFLOW_STORE): must be "memory" or "redis", got "disk"`,
		`amqp.prefetch: must be >= 1, got 0`,
		`log_level: must be debug, info, warn or error, got "loud"`,
	}, strings.Split(err.Error(), "\n"))
}

func TestLoad_getenv_sees_the_fixed_names(t *testing.T) {
	t.Parallel()
	cfg, err := configs.Load("", env(map[string]string{"ORDERFLOW_AMQP_PREFETCH": "3", "ORDERFLOW_ADMIN_ADDR": "127.0.0.1:9999"}))
	require.NoError(t, err)
	assert.Equal(t, 3, cfg.AMQP.Prefetch)
	assert.Equal(t, "127.0.0.1:9999", cfg.HTTP.AdminAddr)
}

func TestVariables_name_meaning_and_default(t *testing.T) {
	t.Parallel()
	byName := map[string]configs.Variable{}
	for _, v := range configs.Variables() {
		byName[v.Name] = v
	}
	for _, name := range []string{
		configs.EnvConfig, configs.EnvBroker, configs.EnvAMQPURL, configs.EnvStore, configs.EnvRedisURL, configs.EnvHTTPAddr,
		configs.EnvAdminAddr, configs.EnvAdminTokenFile, configs.EnvAPITokensFile, configs.EnvSigningKeysFile,
		"ORDERFLOW_AMQP_URL_FILE", "ORDERFLOW_REDIS_URL_FILE",
	} {
		assert.Contains(t, byName, name, "the variables of before are kept")
	}
	assert.Equal(t, configs.Variable{Name: "ORDERFLOW_AMQP_PREFETCH", Setting: "amqp.prefetch", Default: "10", Meaning: "unacked deliveries per consumer"}, byName["ORDERFLOW_AMQP_PREFETCH"])
	assert.Equal(t, "[1s, 10s, 60s]", byName["ORDERFLOW_AMQP_RETRY_DELAYS"].Default)
	assert.Equal(t, "alias of ORDERFLOW_HTTP_ADMIN_ADDR", byName[configs.EnvAdminAddr].Meaning)
	assert.Equal(t, "as ORDERFLOW_HANDLER_DEFAULTS_THROTTLE_PER_SECOND, for <NAME> alone", byName["ORDERFLOW_HANDLERS_<NAME>_THROTTLE_PER_SECOND"].Meaning)
	assert.Empty(t, byName[configs.EnvSigningKeysFile].Default, "an empty default is none")
}
