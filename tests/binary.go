package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/configs"
	"github.com/stretchr/testify/require"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the orderflow binary once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "orderflow-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "orderflow")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/orderflow/orderflow").CombinedOutput()
		if err != nil {
			buildErr = &buildError{out: string(out), err: err}
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// Process is a running orderflow binary.
type Process struct {
	Cmd *exec.Cmd
	// Addr and AdminAddr are where its public and admin listeners listen.
	Addr, AdminAddr string

	mu     sync.Mutex
	logs   []string
	exited bool
	done   chan error
}

// StartBinary runs `orderflow run` with env added to this process's environment and
// waits until it logs that it runs.
func StartBinary(t testing.TB, env ...string) *Process {
	t.Helper()
	p, err := LaunchBinary(t, env...)
	require.NoError(t, err)
	return p
}

// LaunchBinary is StartBinary that returns an error when the process does not start.
func LaunchBinary(t testing.TB, env ...string) (*Process, error) {
	t.Helper()
	p, running, err := spawnBinary(t, env...)
	if err != nil {
		return nil, err
	}
	select {
	case addrs := <-running:
		p.Addr, p.AdminAddr = addrs[0], addrs[1]
		return p, nil
	case err := <-p.done:
		p.done <- err
		return nil, fmt.Errorf("orderflow exited at start: %v\n%s", err, p.Logs())
	case <-time.After(20 * time.Second):
		return nil, fmt.Errorf("orderflow did not start within 20s\n%s", p.Logs())
	}
}

// spawnBinary starts `orderflow run` and returns at once, with a channel that gets its
// public and admin addresses once it logs that it runs. It is killed when the test ends.
func spawnBinary(t testing.TB, env ...string) (*Process, <-chan [2]string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t), "run")
	// Each binary an admin port of its own; env, later, wins.
	cmd.Env = append(os.Environ(), configs.EnvAdminAddr+"=127.0.0.1:0")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	p := &Process{Cmd: cmd, done: make(chan error, 1)}
	running := make(chan [2]string, 1)
	go p.readLogs(stderr, running)
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exited = true
		p.mu.Unlock()
		p.done <- err
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("orderflow (pid %d) logged:\n%s", cmd.Process.Pid, p.Logs())
		}
		if p.Exited() {
			return
		}
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p, running, nil
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

func (p *Process) readLogs(r io.Reader, running chan<- [2]string) {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		p.mu.Lock()
		p.logs = append(p.logs, line)
		p.mu.Unlock()
		var entry struct {
			Msg       string `json:"msg"`
			Addr      string `json:"http_addr"`
			AdminAddr string `json:"admin_addr"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "orderflow running" {
			running <- [2]string{entry.Addr, entry.AdminAddr}
		}
	}
}

// Logs returns what the process logged so far.
func (p *Process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

// Wait returns the exit error, or fails the test when the process is still running
// after timeout.
func (p *Process) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(timeout):
		t.Fatalf("orderflow still running %s later\n%s", timeout, p.Logs())
		return nil
	}
}
