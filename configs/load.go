// Package configs loads and validates Orderflow's configuration: the embedded default
// (default.yaml), then a file named by --config or ORDERFLOW_CONFIG, then environment
// variables, which win; a secret variable may name a file instead (NAME_FILE).
package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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

// FileSuffix turns a secret variable into the one naming a file that holds its value:
// ORDERFLOW_AMQP_URL_FILE=/run/secrets/amqp-url instead of ORDERFLOW_AMQP_URL, so the
// secret is in neither the environment of the process nor `docker inspect`.
const FileSuffix = "_FILE"

// secretEnv are the variables that may be given as a file (FileSuffix). The token and key
// variables are not: they name files already.
var secretEnv = map[string]bool{EnvAMQPURL: true, EnvRedisURL: true}

// Load reads the embedded default, then the file at path (when not ""), then the
// variables that getenv returns (and the files their _FILE variables name), and
// validates the result.
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
	if err := cfg.applyEnv(getenv); err != nil {
		return nil, err
	}
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

// applyEnv overlays the variables that getenv returns; a secret variable's value may
// come from the file its _FILE variable names instead. It returns every problem, one
// line each.
func (c *Config) applyEnv(getenv func(string) string) error {
	var errs []error
	set := func(dst *string, name string) {
		v, err := lookupEnv(getenv, name)
		if err != nil {
			errs = append(errs, err)
			return
		}
		if v != "" {
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
	return errors.Join(errs...)
}

// lookupEnv returns the value of the variable name, "" when unset; for a secret
// variable, the content of the file that name_FILE names, its trailing newline trimmed.
// Errors name the variable and the file, never the content.
func lookupEnv(getenv func(string) string, name string) (string, error) {
	v := getenv(name)
	if !secretEnv[name] {
		return v, nil
	}
	fileVar := name + FileSuffix
	path := getenv(fileVar)
	switch {
	case path == "":
		return v, nil
	case v != "":
		return "", fmt.Errorf("%s and %s are both set: give the value or the file, not both", name, fileVar)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", fileVar, err)
	}
	// Editors and `echo` end a file with a newline, which is never part of the secret.
	v = strings.TrimRight(string(data), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", fileVar, path)
	}
	return v, nil
}
