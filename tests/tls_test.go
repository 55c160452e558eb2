package tests

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain/inventory"
)

// tlsCase is one client configuration against a server that verifies client
// certificates; Refused, when not "", is a pattern the connection's error must match.
type tlsCase struct {
	Name    string
	TLS     configs.TLS
	Refused string
	// Warns is whether the start-up must log that verification is off.
	Warns bool
}

// tlsCases are the same for RabbitMQ and Redis: both take their *tls.Config from
// configs.TLS.ClientConfig.
func tlsCases(p TestPKI) []tlsCase {
	return []tlsCase{
		{Name: "right CA and client certificate", TLS: configs.TLS{CAFile: p.CAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey}},
		{Name: "server_name in the certificate", TLS: configs.TLS{CAFile: p.CAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey, ServerName: "localhost"}},
		{Name: "server_name not in the certificate", TLS: configs.TLS{CAFile: p.CAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey, ServerName: "mq.example"},
			Refused: "certificate is valid for localhost, not mq.example"},
		{Name: "wrong CA", TLS: configs.TLS{CAFile: p.WrongCAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey},
			Refused: "certificate signed by unknown authority"},
		{Name: "system roots", TLS: configs.TLS{CertFile: p.ClientCert, KeyFile: p.ClientKey},
			Refused: "certificate signed by unknown authority"},
		{Name: "no client certificate", TLS: configs.TLS{CAFile: p.CAFile},
			// With TLS 1.3 the server refuses after the client has sent its first
			// record, so the client may see the alert or only the reset connection.
			Refused: "certificate required|connection reset by peer|broken pipe"},
		{Name: "skip_verify", TLS: configs.TLS{CAFile: p.WrongCAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey, SkipVerify: true}, Warns: true},
	}
}

// logBuffer is a slog logger's output, safe to read while the logger writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// checkWarning asserts that logs hold the skip_verify warning of setting exactly when
// tt says so.
func checkWarning(t *testing.T, tt tlsCase, logs *logBuffer, setting string) {
	t.Helper()
	if tt.Warns {
		assert.Contains(t, logs.String(), "level=WARN msg=\"TLS does not verify the server")
		assert.Contains(t, logs.String(), "setting="+setting)
	} else {
		assert.NotContains(t, logs.String(), "TLS does not verify")
	}
}

// TestTLS_redis connects the worker's Redis store to a redis-server that speaks only
// TLS and requires a client certificate.
func TestTLS_redis(t *testing.T) {
	t.Parallel()
	p := NewTestPKI(t)
	url := StartTLSRedis(t, p)
	for _, tt := range tlsCases(p) {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			cfg := TestConfig()
			cfg.Store, cfg.Redis.URL, cfg.Redis.TLS = configs.StoreRedis, url, tt.TLS
			require.NoError(t, cfg.Validate(), "start-up validation lets it through")
			logs := &logBuffer{}
			storage, closeStorage, err := worker.NewRedisStorage(cfg, slog.New(slog.NewTextHandler(logs, nil)))
			checkWarning(t, tt, logs, "redis.tls.skip_verify")
			if tt.Refused != "" {
				require.Error(t, err)
				t.Logf("refused: %v", err)
				assert.Regexp(t, tt.Refused, err.Error())
				return
			}
			require.NoError(t, err)
			defer closeStorage()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, storage.Check(ctx))
			require.NoError(t, storage.Stores.Inventory.Seed(ctx, map[inventory.SKU]int64{"SKU-TLS": 1}), "the stores work over TLS")
		})
	}
}

// TestTLS_amqp connects the worker's AMQP transport, and the poison CLI's connection, to
// a RabbitMQ TLS listener that requires a client certificate. One node serves every
// case: it takes seconds to boot.
func TestTLS_amqp(t *testing.T) {
	t.Parallel()
	p := NewTestPKI(t)
	url := StartTLSRabbitMQ(t, p)
	for _, tt := range tlsCases(p) {
		t.Run(tt.Name, func(t *testing.T) {
			cfg := TestConfig()
			cfg.Broker, cfg.AMQP.URL, cfg.AMQP.TLS = configs.BrokerAMQP, url, tt.TLS
			cfg.Signing.AllowUnsigned = true
			require.NoError(t, cfg.Validate(), "start-up validation lets it through")
			logs := &logBuffer{}
			transport, closeTransport, err := worker.NewAMQPTransport(cfg, slog.New(slog.NewTextHandler(logs, nil)))
			checkWarning(t, tt, logs, "amqp.tls.skip_verify")
			if tt.Refused != "" {
				require.Error(t, err)
				t.Logf("refused: %v", err)
				assert.Regexp(t, tt.Refused, err.Error())
				assert.NotContains(t, err.Error(), "guest:guest", "the URL in the error is masked")
				return
			}
			require.NoError(t, err)
			defer closeTransport()
			require.NoError(t, transport.Check(context.Background()))

			tlsConfig, err := cfg.AMQP.ClientTLS()
			require.NoError(t, err)
			q, err := amqpbroker.DialPoisonQueue(cfg.AMQP.URLs(), tlsConfig)
			require.NoError(t, err, "the poison CLI connects as the worker does")
			require.NoError(t, q.Close())
		})
	}
}
