package main

import (
	"bytes"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/configs"
)

// listener counts the connections made to it: a usage error must make none.
func listener(t *testing.T) (addr string, accepted *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	accepted = &atomic.Int64{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	return l.Addr().String(), accepted
}

func runArgs(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errOut, environ)
	return code, out.String(), errOut.String()
}

func TestRun_exit_statuses(t *testing.T) {
	t.Parallel()
	addr, accepted := listener(t)
	// A broker that would be dialled, and a config that would not load: a usage error
	// must come first, before either is looked at.
	environ := []string{
		"ORDERFLOW_BROKER=amqp", "ORDERFLOW_SIGNING_ALLOW_UNSIGNED=true",
		"ORDERFLOW_AMQP_URL=amqp://guest:guest@" + addr + "/",
		"ORDERFLOW_CONFIG=" + filepath.Join(t.TempDir(), "missing.yaml"),
	}
	tests := []struct {
		Name   string
		Args   []string
		Code   int
		Stderr string
	}{
		{"unknown command", []string{"frob"}, 2, "orderflow: unknown command \"frob\" (the commands are run, poison, topology, version and help)\nRun 'orderflow help' for usage.\n"},
		{"unknown flag", []string{"poison", "list", "--verbose"}, 2, "orderflow: poison list: flag provided but not defined: -verbose\nRun 'orderflow help poison' for usage.\n"},
		{"missing argument", []string{"poison", "list", "--handler"}, 2, "orderflow: poison list: flag needs an argument: -handler\nRun 'orderflow help poison' for usage.\n"},
		{"replay without --id or --all", []string{"poison", "replay"}, 2, "orderflow: poison replay: give --id ID, or --all for every message the filters match\nRun 'orderflow help poison' for usage.\n"},
		{"conflicting flags", []string{"poison", "replay", "--id", "x", "--all"}, 2, "orderflow: poison replay: --all and --id exclude each other: --id names messages, --all takes every message the filters match\nRun 'orderflow help poison' for usage.\n"},
		{"positional config", []string{"run", "configs/staging.yaml"}, 2, "orderflow: run: unexpected argument \"configs/staging.yaml\": a config file is given as --config configs/staging.yaml\nRun 'orderflow help run' for usage.\n"},
		{"purge that cannot ask", []string{"poison", "purge"}, 2, "orderflow: poison purge: stdin is not a terminal to confirm on: add --yes to purge without asking, or --dry-run to see what would go\nRun 'orderflow help poison' for usage.\n"},
		{"escaped", []string{"frob\x1b[2J"}, 2, "orderflow: unknown command \"frob\\x1b[2J\" (the commands are run, poison, topology, version and help)\nRun 'orderflow help' for usage.\n"},
		{"a config that does not load is a failure", []string{"poison", "list"}, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			code, stdout, stderr := runArgs(t, environ, tt.Args...)
			assert.Equal(t, tt.Code, code, "stderr: %s", stderr)
			assert.Empty(t, stdout)
			if tt.Stderr != "" {
				assert.Equal(t, tt.Stderr, stderr)
			} else {
				assert.Contains(t, stderr, "orderflow: config file: open ")
			}
		})
	}
	assert.Zero(t, accepted.Load(), "nothing connected to the broker")
}

func TestRun_help(t *testing.T) {
	t.Parallel()
	// Help needs no valid config.
	bad := []string{"ORDERFLOW_BROKER=kafka", "ORDERFLOW_NO_SUCH_SETTING=1"}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, stdout, stderr := runArgs(t, bad, args...)
		assert.Equal(t, 0, code, "%v", args)
		assert.Empty(t, stderr)
		for _, want := range []string{"orderflow [run] [--config FILE]", "orderflow poison list", "orderflow poison replay", "orderflow poison purge",
			"orderflow topology", "orderflow version", "orderflow help", "Exit status: 0", "Environment"} {
			assert.Contains(t, stdout, want, "%v", args)
		}
		for _, v := range configs.Variables() {
			assert.Contains(t, stdout, "\n  "+v.Name+" ", "%v lists %s", args, v.Name)
		}
		assert.NotContains(t, stdout, "guest:guest", "a default URL is masked as in logs")
	}
	for _, args := range [][]string{{"help", "poison"}, {"poison", "--help"}, {"poison", "replay", "-h"}} {
		code, stdout, _ := runArgs(t, bad, args...)
		assert.Equal(t, 0, code, "%v", args)
		assert.True(t, strings.HasPrefix(stdout, "Usage:\n  orderflow poison list"), "%v: %s", args, stdout)
		assert.Contains(t, stdout, "--dry-run")
	}
	code, stdout, _ := runArgs(t, bad, "run", "--help")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(stdout, "Usage: orderflow run [--config FILE]"), stdout)
}

func TestRun_commands_that_load_the_config(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runArgs(t, nil, "version")
	assert.Equal(t, 0, code)
	assert.Equal(t, "orderflow dev\n", stdout)
	assert.Empty(t, stderr)

	code, stdout, stderr = runArgs(t, nil, "topology")
	assert.Equal(t, 0, code, stderr)
	assert.True(t, json.Valid([]byte(stdout)), "topology prints JSON")

	code, _, stderr = runArgs(t, []string{"ORDERFLOW_BROKER=kafka", "ORDERFLOW_AMQP_PREFECH=3"}, "topology")
	assert.Equal(t, 1, code)
	assert.Equal(t, "orderflow: ORDERFLOW_AMQP_PREFECH: names no setting; did you mean ORDERFLOW_AMQP_PREFETCH? (`orderflow help` lists the variables)\n"+
		"broker (ORDERFLOW_BROKER): must be \"gochannel\" or \"amqp\", got \"kafka\"\n", stderr, "every problem, one a line")

	code, _, stderr = runArgs(t, nil, "poison", "list")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `orderflow: poison: the broker is "gochannel"`)

	code, _, stderr = runArgs(t, nil, "run", "--config", filepath.Join(t.TempDir(), "none.yaml"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "orderflow: config file: open ")
}
