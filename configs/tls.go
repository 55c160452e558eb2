package configs

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
)

// tlsSchemes are the URL schemes that connect over TLS, and so the only ones a TLS
// block applies to.
var tlsSchemes = map[string]bool{"amqps": true, "rediss": true}

// ClientConfig returns the TLS configuration of a client of the server at rawURL as t
// says, or nil when rawURL is a plain amqp:// or redis:// URL. The server is verified
// against the system roots, or ca_file when set, under the name server_name (default
// the URL's host), unless skip_verify is set; cert_file and key_file, when set, are
// presented to the server (mutual TLS). Both the AMQP connections and the Redis client
// take their configuration from here, so they cannot drift apart.
func (t TLS) ClientConfig(rawURL string) (*tls.Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("url: %s", redactedParseError(err))
	}
	if !tlsSchemes[u.Scheme] {
		return nil, nil
	}
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Set explicitly, also where the client libraries would default to the host:
		// amqp091 writes it into a shared *tls.Config otherwise.
		ServerName: cmp.Or(t.ServerName, u.Hostname()),
		// Only a setting named skip_verify turns verification off (CONTRACT 7); the
		// caller logs a warning.
		InsecureSkipVerify: t.SkipVerify,
	}
	if t.CAFile != "" {
		pool, err := loadCAs(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file and key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// set reports whether t holds any setting, which only a TLS URL can use.
func (t TLS) set() bool { return t != TLS{} }

// loadCAs reads the PEM certificates of path into a pool.
func loadCAs(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// validate returns the problems of the TLS block prefix (amqp.tls, redis.tls) for the
// URL of the setting urlSetting, whose scheme without TLS is plain; one each, so that a
// start-up lists them all.
func (t TLS) validate(prefix, urlSetting, rawURL, plain string) []error {
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, setting, fmt.Sprintf(format, args...)))
	}
	if u, err := url.Parse(rawURL); err == nil && u.Scheme == plain && t.set() {
		// A TLS block that a plain URL ignores would leave the connection unencrypted
		// while the file reads as if it were not.
		for _, s := range []struct {
			name string
			set  bool
		}{{"ca_file", t.CAFile != ""}, {"cert_file", t.CertFile != ""}, {"key_file", t.KeyFile != ""},
			{"server_name", t.ServerName != ""}, {"skip_verify", t.SkipVerify}} {
			if s.set {
				bad(s.name, "applies to %ss:// URLs only, but %s is %s://", plain, urlSetting, plain)
			}
		}
		return errs
	}
	if t.CAFile != "" {
		if _, err := loadCAs(t.CAFile); err != nil {
			bad("ca_file", "%v", err)
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		bad("key_file", "is required with %s.cert_file: a client certificate needs its key", prefix)
	case t.CertFile == "" && t.KeyFile != "":
		bad("cert_file", "is required with %s.key_file: a client key needs its certificate", prefix)
	case t.CertFile != "":
		certErr, keyErr := checkReadable(t.CertFile), checkReadable(t.KeyFile)
		if certErr != nil {
			bad("cert_file", "%v", certErr)
		}
		if keyErr != nil {
			bad("key_file", "%v", keyErr)
		}
		if certErr == nil && keyErr == nil {
			if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
				bad("cert_file", "with %s.key_file: %v", prefix, err)
			}
		}
	}
	return errs
}

// checkReadable reports whether path can be read and holds PEM data.
func checkReadable(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read: %w", err)
	}
	if block, _ := pem.Decode(data); block == nil {
		return fmt.Errorf("%s holds no PEM data", path)
	}
	return nil
}

// ClientTLS is TLS.ClientConfig for the nodes of URL: nil for amqp:// URLs, and an empty
// ServerName unless server_name is set, so that each node is verified under its own
// host.
func (a AMQP) ClientTLS() (*tls.Config, error) {
	c, err := a.TLS.ClientConfig(a.URLs()[0])
	if c != nil {
		c.ServerName = a.TLS.ServerName
	}
	return c, err
}
