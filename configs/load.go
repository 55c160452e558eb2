// Package configs loads and validates Orderflow's configuration: the embedded default
// (default.yaml), then a file named by --config or ORDERFLOW_CONFIG, then environment
// variables, which win.
package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

//go:embed default.yaml
var defaultYAML []byte

// The environment variables, listed in the README's "Configuration" section.
const (
	EnvConfig   = "ORDERFLOW_CONFIG"
	EnvBroker   = "ORDERFLOW_BROKER"
	EnvAMQPURL  = "ORDERFLOW_AMQP_URL"
	EnvStore    = "ORDERFLOW_STORE"
	EnvRedisURL = "ORDERFLOW_REDIS_URL"
	EnvHTTPAddr = "ORDERFLOW_HTTP_ADDR"

	EnvAdminAddr       = "ORDERFLOW_ADMIN_ADDR"
	EnvAdminTokenFile  = "ORDERFLOW_ADMIN_TOKEN_FILE"
	EnvAPITokensFile   = "ORDERFLOW_API_TOKENS_FILE"
	EnvSigningKeysFile = "ORDERFLOW_SIGNING_KEYS_FILE"
)

// Load reads the embedded default, then the file at path (when not ""), then the
// variables that getenv returns, and validates the result.
func Load(path string, getenv func(string) string) (*Config, error) {
	cfg := &Config{}
	if err := decode(defaultYAML, cfg); err != nil {
		return nil, fmt.Errorf("embedded default config: %w", err)
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		if err := decode(data, cfg); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	cfg.applyEnv(getenv)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Default returns the embedded default configuration.
func Default() *Config {
	cfg := &Config{}
	if err := decode(defaultYAML, cfg); err != nil {
		panic(fmt.Sprintf("embedded default config: %v", err))
	}
	return cfg
}

// decode overlays the YAML in data on cfg; unknown keys are errors, so a typo is caught.
func decode(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file decodes to io.EOF: it changes nothing.
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func (c *Config) applyEnv(getenv func(string) string) {
	set := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set(&c.Broker, EnvBroker)
	set(&c.AMQP.URL, EnvAMQPURL)
	set(&c.Store, EnvStore)
	set(&c.Redis.URL, EnvRedisURL)
	set(&c.HTTP.Addr, EnvHTTPAddr)
	set(&c.HTTP.AdminAddr, EnvAdminAddr)
	set(&c.HTTP.AdminTokenFile, EnvAdminTokenFile)
	set(&c.HTTP.APITokensFile, EnvAPITokensFile)
	set(&c.Signing.KeysFile, EnvSigningKeysFile)
}
