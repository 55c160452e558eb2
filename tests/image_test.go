package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestImage_runs_orderflow_as_nonroot_and_exits_0_on_sigterm: `make image` builds the
// image FROM scratch, without pulling anything; a container of it runs `orderflow run`
// as uid 65532 on the embedded default, answers /readyz 200 on both listeners, and
// exits 0 on SIGTERM (`podman stop`), well before podman would kill it.
func TestImage_runs_orderflow_as_nonroot_and_exits_0_on_sigterm(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a container image")
	}
	p := newPodman(t)
	const version = "image-test"
	image := p.buildImage(t, version)

	var inspected []struct {
		Size   int64
		Config struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			Env          []string
			ExposedPorts map[string]struct{}
		}
	}
	require.NoError(t, json.Unmarshal([]byte(p.run(t, "image", "inspect", image)), &inspected))
	require.Len(t, inspected, 1)
	cfg := inspected[0].Config
	assert.Equal(t, "65532:65532", cfg.User, "a numeric non-root user")
	assert.Equal(t, []string{"/orderflow"}, cfg.Entrypoint)
	assert.Equal(t, []string{"run"}, cfg.Cmd, "`orderflow run` by default")
	assert.Subset(t, cfg.Env, []string{"ORDERFLOW_HTTP_ADDR=0.0.0.0:8080", "ORDERFLOW_ADMIN_ADDR=0.0.0.0:8081"})
	assert.Contains(t, cfg.ExposedPorts, "8080/tcp")
	assert.Contains(t, cfg.ExposedPorts, "8081/tcp")
	// The binary and the CA bundle, nothing else: a base image slipping in shows here.
	assert.Less(t, inspected[0].Size, int64(64<<20), "image size")
	t.Logf("image %s: %.1f MB", image, float64(inspected[0].Size)/1e6)

	assert.Equal(t, "orderflow "+version, strings.TrimSpace(p.run(t, "run", "--rm", "--network", "host", image, "version")),
		"the version stamped by make")

	ports := freePorts(t, 2)
	addr, admin := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	const name = "orderflow-test" // in the test's own store, so it clashes with nothing
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := p.command("logs", name).CombinedOutput()
			t.Logf("container %s logged:\n%s", name, out)
		}
		_, _ = p.command("rm", "--force", name).CombinedOutput()
	})
	// --network host, as services.md says; the listeners are moved to free loopback
	// ports, so that the container listens on 127.0.0.1 only and clashes with nothing.
	p.run(t, "run", "--detach", "--name", name, "--network", "host",
		"--env", "ORDERFLOW_HTTP_ADDR="+addr, "--env", "ORDERFLOW_ADMIN_ADDR="+admin, image)

	client := &http.Client{Timeout: 2 * time.Second}
	for _, a := range []string{addr, admin} {
		require.Eventually(t, func() bool {
			resp, err := client.Get("http://" + a + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, 30*time.Second, 100*time.Millisecond, "GET http://%s/readyz answers 200", a)
	}

	// podman stop sends the image's STOPSIGNAL (SIGTERM) and SIGKILLs only after --time.
	start := time.Now()
	p.run(t, "stop", "--time", "60", name)
	stoppedIn := time.Since(start)
	assert.Equal(t, "0", strings.TrimSpace(p.run(t, "inspect", "--format", "{{.State.ExitCode}}", name)), "exit code after SIGTERM")
	assert.Less(t, stoppedIn, 30*time.Second, "stopped by itself, not killed")
	logs, err := p.command("logs", name).CombinedOutput()
	require.NoError(t, err)
	assert.Contains(t, string(logs), `"msg":"orderflow stopping"`)
	t.Logf("stopped in %s", stoppedIn.Round(time.Millisecond))
}

// podman runs podman with a configuration and an image store of the test's own, under
// a temp dir, so that the test neither sees nor touches the images of the machine.
type podman struct {
	dir string
	env []string
}

var (
	podmanOnce sync.Once
	podmanErr  error
)

func newPodman(t *testing.T) *podman {
	t.Helper()
	podmanOnce.Do(func() { podmanErr = ensurePodman() })
	if podmanErr != nil {
		requireServer(t, "podman ("+podmanErr.Error()+")")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed to build the image: %v", err)
	}
	// Not t.TempDir: its path, with the test's long name, makes conmon's attach socket
	// under runroot longer than a unix socket path may be, and `podman run` then waits
	// 20 s for a container that exited long before.
	dir, err := os.MkdirTemp("", "orderflow-podman-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// As services.md says: runc, since crun cannot set rlimits in this sandbox, no
	// default ulimits, cgroupfs (no systemd). vfs needs no mounts, so the store is
	// removed with the temp dir whatever happened.
	containersConf := filepath.Join(dir, "containers.conf")
	require.NoError(t, os.WriteFile(containersConf, []byte(`[containers]
default_ulimits = []
pids_limit = 0
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "`+filepath.Join(dir, "events.log")+`"
`), 0o644))
	storageConf := filepath.Join(dir, "storage.conf")
	require.NoError(t, os.WriteFile(storageConf, []byte(fmt.Sprintf(`[storage]
driver = "vfs"
graphroot = %q
runroot = %q
`, filepath.Join(dir, "graph"), filepath.Join(dir, "run"))), 0o644))
	return &podman{dir: dir, env: []string{"CONTAINERS_CONF=" + containersConf, "CONTAINERS_STORAGE_CONF=" + storageConf}}
}

// ensurePodman installs podman and runc with apt-get when they are missing and we are
// root, as tests/services.sh does for the servers.
func ensurePodman() error {
	if havePodman() {
		return nil
	}
	if os.Geteuid() != 0 {
		return errors.New("podman or runc is not installed and we are not root")
	}
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "podman", "runc"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if !havePodman() {
		return errors.New("apt-get installed podman and runc, but they are not on PATH")
	}
	return nil
}

func havePodman() bool {
	if _, err := exec.LookPath("podman"); err != nil {
		return false
	}
	// podman finds runc in /usr/sbin whatever PATH says.
	for _, path := range []string{"/usr/sbin/runc", "/usr/bin/runc"} {
		if _, err := os.Stat(path); err == nil {
			return true
		}
	}
	_, err := exec.LookPath("runc")
	return err == nil
}

// buildImage runs `make image` into the test's store and returns the image's name; the
// image goes with the store at cleanup.
func (p *podman) buildImage(t *testing.T, version string) string {
	t.Helper()
	const image = "localhost/orderflow-test:latest"
	cmd := exec.Command("make", "--no-print-directory", "image", "CONTAINER_TOOL=podman", "IMAGE="+image,
		"VERSION="+version, "IMAGE_CONTEXT="+filepath.Join(p.dir, "context"))
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), p.env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "make image:\n%s", out)
	t.Logf("make image took %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { _, _ = p.command("rmi", "--force", image).CombinedOutput() })
	return image
}

func (p *podman) command(args ...string) *exec.Cmd {
	cmd := exec.Command("podman", args...)
	cmd.Env = append(os.Environ(), p.env...)
	return cmd
}

// run runs podman with args and returns its standard output; an error fails the test.
func (p *podman) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := p.command(args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "podman %s: %s", strings.Join(args, " "), stderr.String())
	return string(out)
}
