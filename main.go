// Command orderflow runs the order pipeline worker.
package main

//go:generate go tool wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/orderflow/orderflow/app/cli"
	"github.com/orderflow/orderflow/app/termsafe"
	"github.com/orderflow/orderflow/app/tracing"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/handlers"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// The exit statuses (CONTRACT 8).
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
}

// run runs the command that args ask for, with environ as its environment, and returns
// the exit status: a usage error is reported, and 2 returned, before any config is
// loaded or connection made; any other failure is 1.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	cmd, err := cli.Parse(args, time.Now())
	if err == nil && cmd.Name == cli.CmdPoison {
		err = cmd.Poison.CheckStdin(isTerminal(stdin))
	}
	if err != nil {
		var usage *cli.UsageError
		if errors.As(err, &usage) {
			fmt.Fprintln(stderr, "orderflow:", usage.Msg) // quoted or escaped where it repeats the arguments
			fmt.Fprintln(stderr, usage.Hint())
			return exitUsage
		}
		report(stderr, err)
		return exitFailed
	}
	if err := execute(cmd, stdin, stdout, stderr, environ); err != nil {
		report(stderr, err)
		return exitFailed
	}
	return exitOK
}

// report prints err. An error may quote a message (a poisoned id): escaped line by line,
// so that it cannot act on the terminal and a list of problems keeps its lines.
func report(stderr io.Writer, err error) {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = termsafe.Escape(l)
	}
	fmt.Fprintln(stderr, "orderflow:", strings.Join(lines, "\n"))
}

func execute(cmd cli.Command, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	switch cmd.Name {
	case cli.CmdHelp:
		return cli.WriteHelp(stdout, cmd.Topic)
	case cli.CmdVersion:
		_, err := fmt.Fprintln(stdout, "orderflow", version)
		return err
	}
	cfg, err := loadConfig(cmd.Config, environ)
	if err != nil {
		return err
	}
	switch cmd.Name {
	case cli.CmdRun:
		return runWorker(cfg, stderr)
	case cli.CmdTopology:
		return printTopology(cfg, stdout, stderr)
	case cli.CmdPoison:
		return cli.Poison(context.Background(), cmd.Poison, cfg, cli.IO{
			Stdin: stdin, Stdout: stdout, Stderr: stderr, Terminal: isTerminal(stdin),
		})
	}
	return fmt.Errorf("no command %q", cmd.Name)
}

// loadConfig reads the configuration from path, else the file ORDERFLOW_CONFIG names,
// and the environment.
func loadConfig(path string, environ []string) (*configs.Config, error) {
	if path == "" {
		for _, kv := range environ {
			if v, ok := strings.CutPrefix(kv, configs.EnvConfig+"="); ok {
				path = v
				break
			}
		}
	}
	return configs.LoadEnv(path, environ)
}

// isTerminal reports whether r is a terminal, where someone can answer a question.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func runWorker(cfg *configs.Config, stderr io.Writer) error {
	logger := newLogger(cfg.LogLevel, stderr)
	logger.Info("config loaded", append([]any{"version", version}, cfg.LogValue()...)...)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	build := func() (*worker.Worker, func(), error) { return initializeWorker(cfg, logger) }
	if err := worker.Serve(ctx, cfg, logger, build); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// printTopology prints the RabbitMQ definitions of every handler of the table, as
// deploy/rabbitmq/definitions.json holds them.
func printTopology(cfg *configs.Config, stdout, stderr io.Writer) error {
	defs, err := worker.Definitions(cfg, newLogger("error", stderr), handlers.Table())
	if err != nil {
		return err
	}
	_, err = stdout.Write(defs)
	return err
}

func newLogger(level string, out io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	// Log lines carry message data (ids, reasons): JSONWriter escapes what slog's JSON
	// handler leaves raw and a terminal could act on (DEL, C1 controls).
	return slog.New(tracing.LogHandler(slog.NewJSONHandler(termsafe.JSONWriter(out), &slog.HandlerOptions{Level: l})))
}
