package tests

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// EnvRedisURL names the Redis that `make test` starts for the tests.
const EnvRedisURL = "ORDERFLOW_TEST_REDIS_URL"

// requireServer fails the test under CI=true, where every server must be there, and
// skips it elsewhere.
func requireServer(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true; run the tests with `make test`", what)
	}
	t.Skipf("%s not available; `make test` starts one", what)
}

// testDBCounter is the key, in database 0, that hands out a database to each test.
const testDBCounter = "orderflow-test:next-db"

// testDatabases is how many databases tests/services.sh gives Redis.
const testDatabases = 10000

// RedisURL returns the URL of an empty Redis database of the test's own, on the server
// `make test` started. Database numbers come from a counter in that server, so tests in
// parallel processes never share one.
func RedisURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvRedisURL)
	if base == "" {
		requireServer(t, "Redis ("+EnvRedisURL+")")
	}
	opts, err := redis.ParseURL(base)
	require.NoError(t, err)
	admin := redis.NewClient(opts)
	defer admin.Close()
	n, err := admin.Incr(context.Background(), testDBCounter).Result()
	require.NoError(t, err)
	db := 1 + int(n)%(testDatabases-1)
	opts.DB = db
	client := redis.NewClient(opts)
	defer client.Close()
	require.NoError(t, client.FlushDB(context.Background()).Err())
	return fmt.Sprintf("redis://%s/%d", opts.Addr, db)
}

// RedisClient returns a client on RedisURL, closed when the test ends.
func RedisClient(t testing.TB) redis.UniversalClient {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL(t))
	require.NoError(t, err)
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// RedisServer is a redis-server of the test's own, which it may stop and start again.
type RedisServer struct {
	Addr string
	dir  string
	// args are added to the command line, e.g. to enable cluster mode.
	args []string
	cmd  *exec.Cmd
}

// StartRedis runs a redis-server on a free loopback port until the test ends.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		requireServer(t, "redis-server")
	}
	s := &RedisServer{Addr: fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0]), dir: t.TempDir()}
	s.Start(t)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// URL returns the server's URL.
func (s *RedisServer) URL() string { return "redis://" + s.Addr + "/0" }

// Start starts the server (again) and waits until it answers.
func (s *RedisServer) Start(t testing.TB) {
	t.Helper()
	require.NoError(t, s.tryStart())
}

// tryStart starts the server and waits until it answers. When it does not, it stops the
// process and returns why, with the end of the server's log: a port taken by some other
// process between freePorts and the bind is one reason a caller may retry elsewhere.
func (s *RedisServer) tryStart() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	logFile := filepath.Join(s.dir, "redis.log")
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--dir", s.dir,
		"--daemonize", "no", "--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--logfile", logFile)
	s.cmd.Args = append(s.cmd.Args, s.args...)
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return fmt.Errorf("start redis-server on %s: %w", s.Addr, err)
	}
	client := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer client.Close()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = client.Ping(context.Background()).Err(); err == nil {
			return nil
		}
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
	return fmt.Errorf("redis-server on %s did not answer in 10 s (%w); its log ends:\n%s", s.Addr, err, logTail(logFile, 20))
}

// logTail returns the last n lines of the file at path, or why it cannot.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop stops the server with SIGTERM and waits for it to exit. Its data stays (the
// append-only file), as after a real restart.
func (s *RedisServer) Stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Kill SIGKILLs the server, as a crash would end it.
func (s *RedisServer) Kill(t testing.TB) {
	t.Helper()
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
