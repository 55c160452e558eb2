package tests

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// TestPKI is the certificates of a TLS test, PEM files in a temp dir: a CA, the
// server certificate it signed for 127.0.0.1 and localhost, the client certificate it
// signed, and a wrong CA that signed neither.
type TestPKI struct {
	CAFile      string
	ServerCert  string
	ServerKey   string
	ClientCert  string
	ClientKey   string
	WrongCAFile string
}

// NewTestPKI generates the certificates, valid for an hour, so no test depends on
// files that expire in the repository.
func NewTestPKI(t testing.TB) TestPKI {
	t.Helper()
	dir := t.TempDir()
	p := TestPKI{
		CAFile:      filepath.Join(dir, "ca.pem"),
		ServerCert:  filepath.Join(dir, "server.pem"),
		ServerKey:   filepath.Join(dir, "server.key"),
		ClientCert:  filepath.Join(dir, "client.pem"),
		ClientKey:   filepath.Join(dir, "client.key"),
		WrongCAFile: filepath.Join(dir, "wrong-ca.pem"),
	}
	ca, caKey := newCA(t, "orderflow test CA", p.CAFile)
	newCA(t, "orderflow wrong CA", p.WrongCAFile)
	issue(t, ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, p.ServerCert, p.ServerKey)
	issue(t, ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "orderflow-worker"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, p.ClientCert, p.ClientKey)
	return p
}

// ClientTLS returns a client configuration that the servers of p accept.
func (p TestPKI) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.ClientCert, p.ClientKey)
	require.NoError(t, err)
	data, err := os.ReadFile(p.CAFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(data))
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

func newCA(t testing.TB, name, certFile string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	writePEM(t, certFile, "CERTIFICATE", der)
	ca, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return ca, key
}

// issue signs tmpl with the CA and writes the certificate and its key. The key is in
// SEC 1 form ("EC PRIVATE KEY"), which OpenSSL (Redis) and Erlang (RabbitMQ) both read.
func issue(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl.SerialNumber = serial(t)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	require.NoError(t, err)
	return n
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	// 0o644, not 0o600: the servers may run as another user than the test.
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o644))
}

// StartTLSRedis runs a redis-server of the test's own that speaks only TLS, with p's
// server certificate, and requires a client certificate signed by p's CA
// (--tls-auth-clients yes). It returns the server's rediss:// URL.
func StartTLSRedis(t testing.TB, p TestPKI) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		requireServer(t, "redis-server")
	}
	port := freePorts(t, 1)[0]
	s := &RedisServer{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: t.TempDir()}
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", "0", "--tls-port", strconv.Itoa(port),
		"--tls-cert-file", p.ServerCert, "--tls-key-file", p.ServerKey, "--tls-ca-cert-file", p.CAFile,
		"--tls-auth-clients", "yes", "--dir", s.dir, "--daemonize", "no", "--save", "", "--appendonly", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"))
	require.NoError(t, s.cmd.Start())
	t.Cleanup(func() { s.Stop(t) })
	client := redis.NewClient(&redis.Options{Addr: s.Addr, TLSConfig: p.ClientTLS(t)})
	defer client.Close()
	Eventually(t, 10*time.Second, func() string {
		if err := client.Ping(context.Background()).Err(); err != nil {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return "redis-server (TLS) on " + s.Addr + ": " + err.Error() + "\n" + string(log)
		}
		return ""
	})
	return "rediss://" + s.Addr + "/0"
}

// StartTLSRabbitMQ starts a RabbitMQ node of the test's own with a TLS listener that
// presents p's server certificate and requires a client certificate signed by p's CA
// (ssl_options.verify = verify_peer, fail_if_no_peer_cert = true). It returns the
// listener's amqps:// URL (user guest, allowed from loopback).
func StartTLSRabbitMQ(t testing.TB, p TestPKI) string {
	t.Helper()
	ports := freePorts(t, 4)
	tlsPort := ports[3]
	startRabbitMQ(t, ports[:3], fmt.Sprintf(`listeners.ssl.default = 127.0.0.1:%d
ssl_options.cacertfile = %s
ssl_options.certfile = %s
ssl_options.keyfile = %s
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
`, tlsPort, p.CAFile, p.ServerCert, p.ServerKey))
	// The node runs once its plain listener and the CLI answer; the TLS listener
	// starts with the plain one, but poll it rather than assume.
	Eventually(t, 30*time.Second, func() string {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", tlsPort), p.ClientTLS(t))
		if err != nil {
			return "rabbitmq TLS listener on " + strconv.Itoa(tlsPort) + ": " + err.Error()
		}
		_ = conn.Close()
		return ""
	})
	return fmt.Sprintf("amqps://guest:guest@127.0.0.1:%d/", tlsPort)
}
