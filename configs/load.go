// Package configs loads and validates Orderflow's configuration: the embedded default
// (default.yaml), then a file named by --config or ORDERFLOW_CONFIG, then environment
// variables, which win. Every setting has a variable, ORDERFLOW_ and its path (see
// EnvPrefix); a secret's variable may name a file instead (NAME_FILE).
package configs

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed default.yaml
var defaultYAML []byte

// The variables of the settings that start-up messages name, and ORDERFLOW_CONFIG, which
// names the config file. Every other setting has its variable too (EnvPrefix).
const (
	EnvConfig   = "ORDERFLOW_CONFIG"
	EnvBroker   = "ORDERFLOW_BROKER"
	EnvAMQPURL  = "ORDERFLOW_AMQP_URL"
	EnvStore    = "ORDERFLOW_STORE"
	EnvRedisURL = "ORDERFLOW_REDIS_URL"
	EnvHTTPAddr = "ORDERFLOW_HTTP_ADDR"

	// Aliases, kept from before every setting had a variable: the derived names are
	// ORDERFLOW_HTTP_ADMIN_ADDR, ORDERFLOW_HTTP_ADMIN_TOKEN_FILE and
	// ORDERFLOW_HTTP_API_TOKENS_FILE (see the env tags of HTTP).
	EnvAdminAddr      = "ORDERFLOW_ADMIN_ADDR"
	EnvAdminTokenFile = "ORDERFLOW_ADMIN_TOKEN_FILE"
	EnvAPITokensFile  = "ORDERFLOW_API_TOKENS_FILE"

	EnvSigningKeysFile = "ORDERFLOW_SIGNING_KEYS_FILE"
)

// FileSuffix turns a secret variable into the one naming a file that holds its value:
// ORDERFLOW_AMQP_URL_FILE=/run/secrets/amqp-url instead of ORDERFLOW_AMQP_URL, so the
// secret is in neither the environment of the process nor `docker inspect`. The
// settings tagged env:"file" have one.
const FileSuffix = "_FILE"

// LoadEnv reads the embedded default, then the file at path (when not ""), then the
// variables of environ (os.Environ's form, NAME=value), and validates the result. It
// reports every problem at once, one line each: unknown keys and values that do not
// decode in the file, variables that name no setting or hold a bad value, and what
// Validate finds in the rest. A file that cannot be read or is not YAML is not
// validated further, since the settings it would hold are missing.
func LoadEnv(path string, environ []string) (*Config, error) {
	env := map[string]string{}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if _, ok := env[name]; !ok { // the first wins, as with os.Getenv
			env[name] = value
		}
	}
	return load(path, env)
}

// Load is LoadEnv for a caller that has a lookup function rather than the list of the
// environment: it asks getenv for every variable of a fixed name, so it cannot see the
// variables of a handler's block (ORDERFLOW_HANDLERS_<NAME>_...) nor report unknown
// ones.
func Load(path string, getenv func(string) string) (*Config, error) {
	env := map[string]string{}
	for _, v := range Variables() {
		if strings.Contains(v.Name, "<") {
			continue
		}
		if value := getenv(v.Name); value != "" {
			env[v.Name] = value
		}
	}
	return load(path, env)
}

func load(path string, env map[string]string) (*Config, error) {
	cfg := Default()
	var errs []error
	validate := true
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("config file: %w", err))
			validate = false
		} else {
			parsed, err := decode(data, path, cfg)
			if err != nil {
				errs = append(errs, err)
			}
			validate = parsed
		}
	}
	if err := cfg.applyEnv(env); err != nil {
		errs = append(errs, err)
	}
	if validate {
		if err := cfg.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Default returns the embedded default configuration.
func Default() *Config {
	cfg := &Config{}
	if _, err := decode(defaultYAML, "default.yaml (embedded)", cfg); err != nil {
		panic(fmt.Sprintf("embedded default config: %v", err))
	}
	return cfg
}

// decode overlays the YAML document data, from src, on cfg. It returns every problem,
// one line each naming the setting and where src holds it (`shutdown_timeout: "15" is
// not a duration; ... (c.yaml:3)`), and leaves the values it reports as they were, so
// that Validate still checks the rest. parsed is false when data is not YAML at all.
func decode(data []byte, src string, cfg *Config) (parsed bool, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return false, fmt.Errorf("config file %s: %w", src, err)
	}
	if len(doc.Content) == 0 {
		return true, nil // an empty file changes nothing
	}
	root := doc.Content[0]
	var probs []problem
	check(root, configType, "", &probs)
	// yaml.v3 decodes what it can and skips what it cannot, which check has reported:
	// unknown keys (KnownFields is off) and values of the wrong type.
	decodeErr := root.Decode(cfg)
	if len(probs) == 0 {
		if decodeErr != nil {
			// Something check does not look for; yaml.v3's own words, then.
			return true, fmt.Errorf("config file %s: %w", src, decodeErr)
		}
		return true, nil
	}
	errs := make([]error, len(probs))
	for i, p := range probs {
		errs[i] = fmt.Errorf("%s: %s (%s:%d)", p.path, p.msg, src, p.line)
	}
	return true, errors.Join(errs...)
}
