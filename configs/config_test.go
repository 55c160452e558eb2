package configs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/configs"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLoad_default(t *testing.T) {
	t.Parallel()
	cfg, err := configs.Load("", env(nil))
	require.NoError(t, err)
	assert.Equal(t, "gochannel", cfg.Broker)
	assert.Equal(t, "memory", cfg.Store)
	assert.Equal(t, "127.0.0.1:8080", cfg.HTTP.Addr)
	assert.Equal(t, "amqp://guest:guest@127.0.0.1:5672/", cfg.AMQP.URL)
	assert.Equal(t, "redis://127.0.0.1:6379/0", cfg.Redis.URL)
	assert.Equal(t, 15*time.Second, cfg.ShutdownTimeout)
	assert.Equal(t, int64(100000), cfg.Payment.DeclineAboveCents)
	assert.NotEmpty(t, cfg.Inventory.Seed)
}

func TestLoad_env_wins_over_file(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(path, []byte("broker: amqp\nstore: redis\nhttp:\n  addr: 127.0.0.1:9000\nshutdown_timeout: 3s\n"), 0o600))
	cfg, err := configs.Load(path, env(map[string]string{
		"ORDERFLOW_BROKER":    "gochannel",
		"ORDERFLOW_HTTP_ADDR": "127.0.0.1:9001",
		"ORDERFLOW_REDIS_URL": "rediss://:pw@cache:6380/2",
		"ORDERFLOW_AMQP_URL":  "amqps://u:p@mq/vh",
		"ORDERFLOW_STORE":     "memory",
	}))
	require.NoError(t, err)
	assert.Equal(t, "gochannel", cfg.Broker)
	assert.Equal(t, "memory", cfg.Store)
	assert.Equal(t, "127.0.0.1:9001", cfg.HTTP.Addr)
	assert.Equal(t, "rediss://:pw@cache:6380/2", cfg.Redis.URL)
	assert.Equal(t, "amqps://u:p@mq/vh", cfg.AMQP.URL)
	assert.Equal(t, 3*time.Second, cfg.ShutdownTimeout, "the file overrides the default")
	assert.Equal(t, int64(100000), cfg.Payment.DeclineAboveCents, "what the file leaves out keeps its default")
}

func TestLoad_staging_selects_amqp_and_redis(t *testing.T) {
	t.Parallel()
	cfg, err := configs.Load("staging.yaml", env(map[string]string{"ORDERFLOW_SIGNING_KEYS_FILE": "/run/secrets/signing-keys"}))
	require.NoError(t, err)
	assert.Equal(t, "amqp", cfg.Broker)
	assert.Equal(t, "redis", cfg.Store)
}

func TestLoad_file_errors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	require.NoError(t, os.WriteFile(typo, []byte("brokr: amqp\n"), 0o600))
	_, err := configs.Load(typo, env(nil))
	assert.EqualError(t, err, "brokr: no such setting; did you mean broker? ("+typo+":1)")

	notYAML := filepath.Join(dir, "not.yaml")
	require.NoError(t, os.WriteFile(notYAML, []byte("broker: [amqp\n"), 0o600))
	_, err = configs.Load(notYAML, env(nil))
	assert.ErrorContains(t, err, "config file "+notYAML+": yaml: line 1:")

	_, err = configs.Load(filepath.Join(dir, "missing.yaml"), env(nil))
	assert.ErrorContains(t, err, "config file: open")

	empty := filepath.Join(dir, "empty.yaml")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	_, err = configs.Load(empty, env(nil))
	assert.NoError(t, err, "an empty file changes nothing")
}

// TestValidate_messages pins every message a person may see at start-up.
func TestValidate_messages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		Name    string
		Change  func(*configs.Config)
		Message string
	}{
		{"broker", func(c *configs.Config) { c.Broker = "kafka" }, `broker (ORDERFLOW_BROKER): must be "gochannel" or "amqp", got "kafka"`},
		{"store", func(c *configs.Config) { c.Store = "disk" }, `store (ORDERFLOW_STORE): must be "memory" or "redis", got "disk"`},
		{"amqp scheme", func(c *configs.Config) { c.AMQP.URL = "http://u:secret@h/" }, `amqp.url (ORDERFLOW_AMQP_URL): must start with amqp:// or amqps://, got http://u:xxxxx@h/`},
		{"amqp no host", func(c *configs.Config) { c.AMQP.URL = "amqp://" }, `amqp.url (ORDERFLOW_AMQP_URL): amqp: has no host`},
		{"amqp unparseable", func(c *configs.Config) { c.AMQP.URL = "amqp://u:secret@h:port/" }, `amqp.url (ORDERFLOW_AMQP_URL): not a URL (invalid port after host (a password with / or # in it must be percent-encoded))`},
		{"amqp password with a slash", func(c *configs.Config) { c.AMQP.URL = "amqp://u:sec/ret@h/" }, `amqp.url (ORDERFLOW_AMQP_URL): not a URL (invalid port after host (a password with / or # in it must be percent-encoded))`},
		{"amqp list", func(c *configs.Config) {
			c.AMQP.URL = "amqp://u:p@mq-1/vh,amqps://u:p@mq-2/vh,amqp://u:secret@mq-3/vh,amqp://u:p@mq-4/other?heartbeat=5,"
		}, "amqp.url (ORDERFLOW_AMQP_URL), URL 2 of 5: differs from URL 1 in its scheme: the URLs of a cluster differ in host and port only\n" +
			"amqp.url (ORDERFLOW_AMQP_URL), URL 3 of 5: differs from URL 1 in its user and password: the URLs of a cluster differ in host and port only\n" +
			"amqp.url (ORDERFLOW_AMQP_URL), URL 4 of 5: differs from URL 1 in its virtual host: the URLs of a cluster differ in host and port only\n" +
			"amqp.url (ORDERFLOW_AMQP_URL), URL 4 of 5: differs from URL 1 in its parameters: the URLs of a cluster differ in host and port only\n" +
			"amqp.url (ORDERFLOW_AMQP_URL), URL 5 of 5: is empty (several URLs are separated by single commas)"},
		{"amqp comma in a password", func(c *configs.Config) { c.AMQP.URL = "amqp://u:sec,ret@mq/" },
			"amqp.url (ORDERFLOW_AMQP_URL), URL 1 of 2: is not a URL; a comma in a password must be percent-encoded (%2C), as commas separate the URLs of a cluster\n" +
				"amqp.url (ORDERFLOW_AMQP_URL), URL 2 of 2: is not a URL; a comma in a password must be percent-encoded (%2C), as commas separate the URLs of a cluster"},
		{"amqp list with a bad url", func(c *configs.Config) { c.AMQP.URL = "amqp://u:p@mq-1/,http://u:secret@mq-2/" },
			`amqp.url (ORDERFLOW_AMQP_URL), URL 2 of 2: must start with amqp:// or amqps://, got http://u:xxxxx@mq-2/`},
		{"amqp opaque", func(c *configs.Config) { c.AMQP.URL = "amqp:u:secret@h" }, `amqp.url (ORDERFLOW_AMQP_URL): amqp:xxxxx has no host`},
		{"redis skip_verify parameter", func(c *configs.Config) { c.Redis.URL = "rediss://cache:6380/0?skip_verify=true" }, `redis.url (ORDERFLOW_REDIS_URL): the skip_verify parameter is refused, so that verification is never off unnoticed: set redis.tls.skip_verify: true instead (a warning is logged at start)`},
		{"amqp cacertfile parameter", func(c *configs.Config) { c.AMQP.URL = "amqps://mq/?cacertfile=/ca.pem" }, `amqp.url (ORDERFLOW_AMQP_URL): the cacertfile parameter is refused: set amqp.tls.ca_file instead`},
		{"amqp tls on a plain url", func(c *configs.Config) { c.AMQP.TLS.ServerName = "mq" }, `amqp.tls.server_name: applies to amqps:// URLs only, but amqp.url (ORDERFLOW_AMQP_URL) is amqp://`},
		{"redis skip_verify on a plain url", func(c *configs.Config) { c.Redis.TLS.SkipVerify = true }, `redis.tls.skip_verify: applies to rediss:// URLs only, but redis.url (ORDERFLOW_REDIS_URL) is redis://`},
		{"cert without key", func(c *configs.Config) {
			c.AMQP.URL, c.AMQP.TLS.CertFile = "amqps://mq/", "client.pem"
		}, `amqp.tls.key_file: is required with amqp.tls.cert_file: a client certificate needs its key`},
		{"key without cert", func(c *configs.Config) {
			c.Redis.URL, c.Redis.TLS.KeyFile = "rediss://cache/0", "client.key"
		}, `redis.tls.cert_file: is required with redis.tls.key_file: a client key needs its certificate`},
		{"redis scheme", func(c *configs.Config) { c.Redis.URL = "tcp://h:6379" }, `redis.url (ORDERFLOW_REDIS_URL): must start with redis:// or rediss://, got tcp://h:6379`},
		{"management scheme", func(c *configs.Config) { c.AMQP.ManagementURL = "amqp://monitor:secret@mq:15672" }, `amqp.management_url: must start with http:// or https://, got amqp://monitor:xxxxx@mq:15672`},
		{"management no host", func(c *configs.Config) { c.AMQP.ManagementURL = "http://" }, `amqp.management_url: http: has no host`},
		{"http addr", func(c *configs.Config) { c.HTTP.Addr = "8080" }, `http.addr (ORDERFLOW_HTTP_ADDR): must be host:port, got "8080"`},
		{"http port", func(c *configs.Config) { c.HTTP.Addr = "127.0.0.1:99999" }, `http.addr (ORDERFLOW_HTTP_ADDR): port must be 0..65535, got "99999"`},
		{"shutdown", func(c *configs.Config) { c.ShutdownTimeout = 0 }, `shutdown_timeout: must be a positive duration such as 15s, got 0s`},
		{"log level", func(c *configs.Config) { c.LogLevel = "loud" }, `log_level: must be debug, info, warn or error, got "loud"`},
		{"decline", func(c *configs.Config) { c.Payment.DeclineAboveCents = -1 }, `payment.decline_above_cents: must be >= 0, got -1`},
		{"latency", func(c *configs.Config) { c.Payment.Latency = -time.Second }, `payment.latency: must be >= 0, got -1s`},
		{"failure rate", func(c *configs.Config) { c.Payment.TransientFailureRate = 1 }, `payment.transient_failure_rate: must be in [0, 1), got 1`},
		{"seed sku", func(c *configs.Config) { c.Inventory.Seed = map[string]int64{"bad sku": 1} }, `inventory.seed: SKU "bad sku" must be 1-64 characters of A-Za-z0-9._:-`},
		{"seed quantity", func(c *configs.Config) { c.Inventory.Seed = map[string]int64{"SKU-X": -1} }, `inventory.seed.SKU-X: must be 0..1000000000, got -1`},
		{"retry attempts", func(c *configs.Config) { c.HandlerDefaults.Retry.MaxAttempts = 0 }, `handler_defaults.retry.max_attempts: must be >= 1, got 0`},
		{"retry initial", func(c *configs.Config) {
			c.HandlerDefaults.Retry.InitialInterval = 0
			c.HandlerDefaults.Retry.MaxInterval = time.Second
		}, `handler_defaults.retry.initial_interval: must be a positive duration, got 0s`},
		{"retry max interval", func(c *configs.Config) { c.HandlerDefaults.Retry.MaxInterval = time.Millisecond }, `handler_defaults.retry.max_interval: must be >= initial_interval (50ms), got 1ms`},
		{"retry elapsed", func(c *configs.Config) { c.HandlerDefaults.Retry.MaxElapsed = 0 }, `handler_defaults.retry.max_elapsed: must be a positive duration, got 0s`},
		{"retry jitter", func(c *configs.Config) { c.HandlerDefaults.Retry.Jitter = 2 }, `handler_defaults.retry.jitter: must be in [0, 1], got 2`},
		{"timeout", func(c *configs.Config) { c.HandlerDefaults.Timeout = 0 }, `handler_defaults.timeout: must be a positive duration, got 0s`},
		{"lease shorter than a timeout", func(c *configs.Config) {
			c.Handlers["payment-capture"] = configs.HandlerOverride{Timeout: ptr(time.Minute)}
		}, `dedup.lease: must be longer than handlers.payment-capture.timeout (1m0s), got 30s`},
		{"throttle rate", func(c *configs.Config) {
			c.Handlers["payment-capture"] = configs.HandlerOverride{Throttle: &configs.Throttle{PerSecond: -1, Burst: 1}}
		}, `handlers.payment-capture.throttle.per_second: must be >= 0, got -1`},
		{"throttle burst", func(c *configs.Config) { c.HandlerDefaults.Throttle.Burst = 0 }, `handler_defaults.throttle.burst: must be >= 1, got 0`},
		{"dedup ttl", func(c *configs.Config) { c.Dedup.TTL = 0 }, `dedup.ttl: must be a positive duration, got 0s`},
		{"queue type", func(c *configs.Config) { c.AMQP.QueueType = "stream" }, `amqp.queue_type: must be "classic" or "quorum", got "stream"`},
		{"prefetch", func(c *configs.Config) { c.AMQP.Prefetch = 0 }, `amqp.prefetch: must be >= 1, got 0`},
		{"replica acks", func(c *configs.Config) { c.Redis.ReplicaAcks = -1 }, `redis.replica_acks: must be >= 0, got -1`},
		{"publish channels", func(c *configs.Config) { c.AMQP.PublishChannels = 0 }, `amqp.publish_channels: must be >= 1, got 0`},
		{"no retry delays", func(c *configs.Config) { c.AMQP.RetryDelays = nil }, `amqp.retry_delays: must list at least one delay, e.g. [1s, 10s, 60s]`},
		{"retry delays order", func(c *configs.Config) { c.AMQP.RetryDelays = []time.Duration{time.Second, time.Second} }, `amqp.retry_delays: must be increasing durations of 1ms or more, got [1s 1s]`},
		{"consumers", func(c *configs.Config) { c.HandlerDefaults.Consumers = 0 }, `handler_defaults.consumers: must be >= 1, got 0`},
		{"breaker failures", func(c *configs.Config) { c.Payment.Breaker.Failures = 0 }, `payment.breaker.failures: must be >= 1, got 0`},
		{"breaker open_for", func(c *configs.Config) { c.Payment.Breaker.OpenFor = 0 }, `payment.breaker.open_for: must be a positive duration, got 0s`},
		{"breaker half-open", func(c *configs.Config) { c.Payment.Breaker.HalfOpenCharges = 0 }, `payment.breaker.half_open_charges: must be >= 1, got 0`},
		{"admin addr", func(c *configs.Config) { c.HTTP.AdminAddr = c.HTTP.Addr }, `http.admin_addr (ORDERFLOW_ADMIN_ADDR): must differ from http.addr (127.0.0.1:8080): the admin API is never public`},
		{"read timeout", func(c *configs.Config) { c.HTTP.ReadTimeout = 0 }, `http.read_timeout: must be a positive duration such as 10s, got 0s`},
		{"amqp body", func(c *configs.Config) { c.AMQP.MaxBodyBytes = 10 }, `amqp.max_body_bytes: must be >= 1024, got 10`},
		{"amqp without keys", func(c *configs.Config) { c.Broker = configs.BrokerAMQP }, `signing.keys_file (ORDERFLOW_SIGNING_KEYS_FILE): is required with broker amqp, so that no neighbour on the broker can forge an event; write lines of key_id:key (keys of 32 bytes or more) to a file, or set signing.allow_unsigned: true to run without signatures`},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			cfg := configs.Default()
			tt.Change(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Equal(t, tt.Message, err.Error())
			assert.NotContains(t, err.Error(), "secret", "passwords never appear in messages")
		})
	}
}

func TestValidate_collects_every_problem(t *testing.T) {
	t.Parallel()
	cfg := configs.Default()
	cfg.Broker = "kafka"
	cfg.Store = "disk"
	cfg.ShutdownTimeout = -1
	err := cfg.Validate()
	require.Error(t, err)
	assert.Len(t, strings.Split(err.Error(), "\n"), 3, "one line per problem")
}

func TestLogValue_masks_secrets(t *testing.T) {
	t.Parallel()
	cfg := configs.Default()
	cfg.AMQP.URL = "amqp://user:hunter2@mq:5672/"
	cfg.Redis.URL = "redis://:hunter2@cache:6379/0"
	cfg.AMQP.ManagementURL = "http://monitor:hunter2@mq:15672"
	for _, v := range cfg.LogValue() {
		assert.NotContains(t, v, "hunter2")
	}
}

func ptr[T any](v T) *T { return &v }

func TestHandler_overrides_replace_blocks(t *testing.T) {
	t.Parallel()
	cfg := configs.Default()
	capture := cfg.Handler("payment-capture")
	assert.Equal(t, configs.Throttle{PerSecond: 500, Burst: 50}, capture.Throttle, "payment-capture is throttled by default")
	assert.Equal(t, cfg.HandlerDefaults.Retry, capture.Retry, "blocks not overridden keep the defaults")
	assert.Equal(t, configs.Throttle{PerSecond: 0, Burst: 1}, cfg.Handler("order-confirm").Throttle)

	path := filepath.Join(t.TempDir(), "h.yaml")
	require.NoError(t, os.WriteFile(path, []byte("handlers:\n  order-confirm:\n    timeout: 2s\n    retry: {max_attempts: 9, initial_interval: 1ms, max_interval: 1s, max_elapsed: 3s, jitter: 0}\n"), 0o600))
	cfg, err := configs.Load(path, env(nil))
	require.NoError(t, err)
	confirm := cfg.Handler("order-confirm")
	assert.Equal(t, 2*time.Second, confirm.Timeout)
	assert.Equal(t, 9, confirm.Retry.MaxAttempts)
	assert.Equal(t, 500.0, cfg.Handler("payment-capture").Throttle.PerSecond, "the file adds to the default's handlers")
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		Name, URL, Want string
	}{
		{"password", "amqp://user:hunter2@mq:5672/vh", "amqp://user:xxxxx@mq:5672/vh"},
		{"password only", "redis://:hunter2@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"user alone", "amqp://hunter2@mq/", "amqp://xxxxx@mq/"},
		{"no credentials", "redis://cache:6379/0", "redis://cache:6379/0"},
		{"password parameter", "rediss://cache/0?dial_timeout=3s&password=hunter2", "rediss://cache/0?dial_timeout=3s&password=xxxxx"},
		{"token parameters", "amqps://mq/?token=hunter2&heartbeat=10&Access-Token=hunter2&api_key=hunter2", "amqps://mq/?token=xxxxx&heartbeat=10&Access-Token=xxxxx&api_key=xxxxx"},
		{"more parameters", "amqps://mq/?passwd=hunter2&client_secret=hunter2&auth=hunter2&sig=hunter2&key=hunter2", "amqps://mq/?passwd=xxxxx&client_secret=xxxxx&auth=xxxxx&sig=xxxxx&key=xxxxx"},
		{"escaped parameter name", "amqps://mq/?pass%77ord=hunter2", "amqps://mq/?password=xxxxx"},
		{"everything", "amqp://u:hunter2@mq/?secret=hunter2#hunter2", "amqp://u:xxxxx@mq/?secret=xxxxx#xxxxx"},
		{"opaque", "amqp:u:hunter2@mq", "amqp:xxxxx"},
		{"unparseable", "amqp://u:hunter2@mq:port/", "(unparseable URL)"},
		{"list", "amqp://u:hunter2@mq-1/vh, amqp://u:hunter2@mq-2:5673/vh", "amqp://u:xxxxx@mq-1/vh,amqp://u:xxxxx@mq-2:5673/vh"},
		{"comma in a password", "amqp://u:hun,hunter2@mq/", "amqp://u:xxxxx@mq/"},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			got := configs.Redact(tt.URL)
			assert.Equal(t, tt.Want, got)
			assert.NotContains(t, got, "hunter2")
		})
	}
}

// writeCert writes a self-signed certificate and its key as PEM files in dir, named
// name.pem and name.key, and returns their paths.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

// TestValidate_tls_files pins the messages about the files of a TLS block, which the
// table above cannot name before the test's temp dir exists.
func TestValidate_tls_files(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, _ := writeCert(t, dir, "ca")
	cert, key := writeCert(t, dir, "client")
	_, otherKey := writeCert(t, dir, "other")
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600))
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		Name    string
		TLS     configs.TLS
		Message string
	}{
		{"unreadable ca", configs.TLS{CAFile: missing}, `amqp.tls.ca_file: cannot read: open ` + missing + `: no such file or directory`},
		{"ca without pem", configs.TLS{CAFile: notPEM}, `amqp.tls.ca_file: ` + notPEM + ` holds no PEM certificate`},
		{"unreadable cert and key", configs.TLS{CertFile: missing, KeyFile: notPEM},
			`amqp.tls.cert_file: cannot read: open ` + missing + `: no such file or directory` + "\n" +
				`amqp.tls.key_file: ` + notPEM + ` holds no PEM data`},
		{"key of another cert", configs.TLS{CertFile: cert, KeyFile: otherKey}, `amqp.tls.cert_file: with amqp.tls.key_file: tls: private key does not match public key`},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			cfg := configs.Default()
			cfg.AMQP.URL, cfg.AMQP.TLS = "amqps://mq/", tt.TLS
			err := cfg.Validate()
			require.Error(t, err)
			assert.Equal(t, tt.Message, err.Error())
		})
	}

	t.Run("valid", func(t *testing.T) {
		t.Parallel()
		cfg := configs.Default()
		cfg.AMQP.URL, cfg.AMQP.TLS = "amqps://u:p@mq/", configs.TLS{CAFile: ca, CertFile: cert, KeyFile: key, ServerName: "rabbit.internal"}
		cfg.Redis.URL, cfg.Redis.TLS = "rediss://cache:6380/0", configs.TLS{CAFile: ca, SkipVerify: true}
		assert.NoError(t, cfg.Validate())
	})
	t.Run("both blocks, every problem", func(t *testing.T) {
		t.Parallel()
		cfg := configs.Default()
		cfg.AMQP.TLS = configs.TLS{CAFile: ca}
		cfg.Redis.URL, cfg.Redis.TLS = "rediss://cache/0", configs.TLS{CAFile: notPEM, KeyFile: key}
		err := cfg.Validate()
		require.Error(t, err)
		assert.Equal(t, strings.Join([]string{
			`amqp.tls.ca_file: applies to amqps:// URLs only, but amqp.url (ORDERFLOW_AMQP_URL) is amqp://`,
			`redis.tls.ca_file: ` + notPEM + ` holds no PEM certificate`,
			`redis.tls.cert_file: is required with redis.tls.key_file: a client key needs its certificate`,
		}, "\n"), err.Error())
	})
}

func TestTLS_ClientConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, _ := writeCert(t, dir, "ca")
	cert, key := writeCert(t, dir, "client")

	for _, plain := range []string{"amqp://u:p@mq/", "redis://cache:6379/0"} {
		c, err := configs.TLS{CAFile: ca}.ClientConfig(plain)
		require.NoError(t, err)
		assert.Nil(t, c, "%s: no TLS on a plain URL", plain)
	}

	c, err := configs.TLS{}.ClientConfig("amqps://u:p@mq.internal:5671/vh")
	require.NoError(t, err)
	assert.Equal(t, "mq.internal", c.ServerName, "the URL's host by default")
	assert.Nil(t, c.RootCAs, "the system roots")
	assert.Empty(t, c.Certificates)
	assert.False(t, c.InsecureSkipVerify)
	assert.Equal(t, uint16(tls.VersionTLS12), c.MinVersion)

	c, err = configs.TLS{CAFile: ca, CertFile: cert, KeyFile: key, ServerName: "redis.internal"}.ClientConfig("rediss://10.0.0.7:6380/0")
	require.NoError(t, err)
	assert.Equal(t, "redis.internal", c.ServerName)
	require.NotNil(t, c.RootCAs)
	assert.Len(t, c.Certificates, 1, "the client certificate, for mutual TLS")
	assert.False(t, c.InsecureSkipVerify)

	c, err = configs.TLS{SkipVerify: true}.ClientConfig("rediss://cache/0")
	require.NoError(t, err)
	assert.True(t, c.InsecureSkipVerify, "only skip_verify turns verification off")

	_, err = configs.TLS{CAFile: filepath.Join(dir, "missing.pem")}.ClientConfig("amqps://mq/")
	assert.ErrorContains(t, err, "ca_file: cannot read")
	_, err = configs.TLS{CertFile: cert}.ClientConfig("amqps://mq/")
	assert.ErrorContains(t, err, "cert_file and key_file")
}

func TestLoad_secret_from_file(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	amqpFile, redisFile := filepath.Join(dir, "amqp-url"), filepath.Join(dir, "redis-url")
	require.NoError(t, os.WriteFile(amqpFile, []byte("amqps://worker:s3cret@mq:5671/orderflow\n"), 0o600))
	require.NoError(t, os.WriteFile(redisFile, []byte("rediss://:s3cret@cache:6380/0\r\n"), 0o600))
	cfg, err := configs.Load("", env(map[string]string{
		"ORDERFLOW_AMQP_URL_FILE":  amqpFile,
		"ORDERFLOW_REDIS_URL_FILE": redisFile,
	}))
	require.NoError(t, err)
	assert.Equal(t, "amqps://worker:s3cret@mq:5671/orderflow", cfg.AMQP.URL, "the trailing newline is not part of the value")
	assert.Equal(t, "rediss://:s3cret@cache:6380/0", cfg.Redis.URL)

	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	missing := filepath.Join(dir, "missing")
	_, err = configs.Load("", env(map[string]string{
		"ORDERFLOW_AMQP_URL":       "amqp://u:s3cret@mq/",
		"ORDERFLOW_AMQP_URL_FILE":  amqpFile,
		"ORDERFLOW_REDIS_URL_FILE": missing,
	}))
	require.Error(t, err)
	assert.Equal(t, "ORDERFLOW_AMQP_URL and ORDERFLOW_AMQP_URL_FILE are both set: give the value or the file, not both\n"+
		"ORDERFLOW_REDIS_URL_FILE: open "+missing+": no such file or directory", err.Error())

	_, err = configs.Load("", env(map[string]string{"ORDERFLOW_REDIS_URL_FILE": empty}))
	require.Error(t, err)
	assert.Equal(t, "ORDERFLOW_REDIS_URL_FILE: "+empty+" is empty", err.Error())
	assert.NotContains(t, err.Error(), "s3cret")
}

// TestLoad_redis_mode_from_the_environment: ORDERFLOW_REDIS_MODE (CONTRACT 6) picks how
// the URL is read; anything but single, cluster or sentinel is refused by name.
func TestLoad_redis_mode_from_the_environment(t *testing.T) {
	t.Parallel()
	cfg, err := configs.Load("", env(map[string]string{"ORDERFLOW_REDIS_MODE": "cluster"}))
	require.NoError(t, err)
	assert.Equal(t, "cluster", cfg.Redis.Mode)
	assert.Equal(t, "single", configs.Default().Redis.Mode)
	_, err = configs.Load("", env(map[string]string{"ORDERFLOW_REDIS_MODE": "ring"}))
	assert.EqualError(t, err, `redis.mode (ORDERFLOW_REDIS_MODE): must be "single", "cluster" or "sentinel", got "ring"`)
}
