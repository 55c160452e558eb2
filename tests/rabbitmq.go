package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const rabbitBin = "/usr/lib/rabbitmq/bin/"

// RabbitServer is a RabbitMQ node of the test's own, for tests that stop and start the
// broker; the shared one serves every other test.
type RabbitServer struct {
	URL string
	// Node is the Erlang node name, e.g. rabbit-15672@localhost.
	Node string
	dir  string
	env  []string
	port int
	cmd  *exec.Cmd
}

// StartRabbitMQ starts a node with its data under a temp dir, on free loopback ports.
func StartRabbitMQ(t testing.TB) *RabbitServer {
	t.Helper()
	return startRabbitMQ(t, freePorts(t, 3), "")
}

// startRabbitMQ starts a node on ports (AMQP, distribution, epmd) whose rabbitmq.conf
// adds moreConf to the plain listener, e.g. a TLS listener.
func startRabbitMQ(t testing.TB, ports []int, moreConf string) *RabbitServer {
	t.Helper()
	epmd := startEPMD(t, ports[2])
	s := newRabbitNode(t, ports[0], ports[1], epmd, erlangCookie(), moreConf)
	t.Cleanup(func() { s.Stop(t) })
	s.Start(t)
	return s
}

// erlangCookie is a secret the nodes of one cluster, and its CLI tools, share.
func erlangCookie() []byte {
	cookie := make([]byte, 20)
	for i := range cookie {
		cookie[i] = byte('A' + rand.IntN(26))
	}
	return cookie
}

// startEPMD runs the Erlang port mapper on port until the test ends; the nodes that
// find each other through it form one cluster.
func startEPMD(t testing.TB, port int) int {
	t.Helper()
	if _, err := os.Stat(rabbitBin + "rabbitmq-server"); err != nil {
		requireServer(t, "rabbitmq-server")
	}
	epmd := exec.Command("epmd", "-address", "127.0.0.1", "-port", strconv.Itoa(port))
	epmd.Env = append(os.Environ(), "ERL_EPMD_ADDRESS=127.0.0.1")
	require.NoError(t, epmd.Start())
	t.Cleanup(func() {
		_ = epmd.Process.Kill()
		_ = epmd.Wait()
	})
	return port
}

// newRabbitNode lays out a node's data dir, listening for AMQP on amqpPort, registered
// with the epmd on epmdPort; it is not started.
func newRabbitNode(t testing.TB, amqpPort, distPort, epmdPort int, cookie []byte, moreConf string) *RabbitServer {
	t.Helper()
	dir := t.TempDir()
	s := &RabbitServer{
		dir: dir, port: amqpPort, URL: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", amqpPort),
		Node: "rabbit-" + strconv.Itoa(amqpPort) + "@localhost",
	}
	for _, sub := range []string{"home", "mnesia", "log"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "home", ".erlang.cookie"), cookie, 0o400))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rabbitmq-env.conf"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rabbitmq.conf"),
		fmt.Appendf(nil, "listeners.tcp.default = 127.0.0.1:%d\nloopback_users.guest = true\n%s", amqpPort, moreConf), 0o644))
	s.env = append(os.Environ(),
		"HOME="+filepath.Join(dir, "home"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "rabbitmq.pid"),
		"RABBITMQ_NODENAME="+s.Node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(amqpPort),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(distPort),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_EPMD_PORT="+strconv.Itoa(epmdPort),
	)
	return s
}

// freePorts returns n ports nothing listens on, below the range the kernel hands out to
// outgoing connections (from 32768 on Linux), so none is taken before the broker binds it.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var listeners []net.Listener
	for len(ports) < n {
		port := 10000 + rand.IntN(22000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		listeners = append(listeners, l)
		ports = append(ports, port)
	}
	for _, l := range listeners {
		_ = l.Close()
	}
	return ports
}

// Start starts the node (again) and waits until it runs. Durable queues and persistent
// messages of an earlier run are still there.
func (s *RabbitServer) Start(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command(rabbitBin + "rabbitmq-server")
	s.cmd.Env = s.env
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	log, err := os.OpenFile(filepath.Join(s.dir, "log", "server.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer log.Close()
	s.cmd.Stdout, s.cmd.Stderr = log, log
	require.NoError(t, s.cmd.Start())
	Eventually(t, 90*time.Second, func() string {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err != nil {
			return "rabbitmq not listening yet"
		}
		_ = conn.Close()
		return ""
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		check := exec.CommandContext(ctx, rabbitBin+"rabbitmq-diagnostics", "-q", "check_running")
		check.Env = s.env
		out, err := check.CombinedOutput()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("rabbitmq did not boot: %s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Stop stops the node gracefully (SIGTERM to the Erlang VM) and waits for it to exit.
func (s *RabbitServer) Stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	s.signalVM(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	s.cmd = nil
}

// Kill SIGKILLs the node, as a crash or a lost machine would end it.
func (s *RabbitServer) Kill(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	s.signalVM(syscall.SIGKILL)
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Ctl runs rabbitmqctl on the node and returns its output.
func (s *RabbitServer) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rabbitBin+"rabbitmqctl", args...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "rabbitmqctl %s on %s: %s", strings.Join(args, " "), s.Node, out)
	return string(out)
}

// signalVM sends sig to the node's Erlang VM, whose PID the node wrote to its pid file.
func (s *RabbitServer) signalVM(sig syscall.Signal) {
	if pid, err := os.ReadFile(filepath.Join(s.dir, "rabbitmq.pid")); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(pid))); err == nil {
			_ = syscall.Kill(n, sig)
		}
	}
}
