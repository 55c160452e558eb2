// Command orderflow runs the order pipeline worker.
package main

//go:generate go tool wire

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/orderflow/orderflow/app/cli"
	"github.com/orderflow/orderflow/app/termsafe"
	"github.com/orderflow/orderflow/app/tracing"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/handlers"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		// An error may quote a message (a poisoned id): escaped line by line, so that it
		// cannot act on the terminal and a usage text keeps its lines.
		lines := strings.Split(err.Error(), "\n")
		for i, l := range lines {
			lines[i] = termsafe.Escape(l)
		}
		fmt.Fprintln(os.Stderr, "orderflow:", strings.Join(lines, "\n"))
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	command := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		command, args = args[0], args[1:]
	}
	switch command {
	case "run":
		return runWorker(args, stderr)
	case "version":
		fmt.Fprintln(stdout, "orderflow", version)
		return nil
	case "poison":
		return cli.Poison(context.Background(), args, loadConfig, stdout)
	case "topology":
		return printTopology(args, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q (commands: run, poison, topology, version)", command)
}

// loadConfig reads the configuration from path, else ORDERFLOW_CONFIG, and the
// environment.
func loadConfig(path string) (*configs.Config, error) {
	if path == "" {
		path = os.Getenv(configs.EnvConfig)
	}
	return configs.Load(path, os.Getenv)
}

func runWorker(args []string, stderr io.Writer) error {
	flags := flag.NewFlagSet("run", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "", "YAML config file (env "+configs.EnvConfig+")")
	if err := flags.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.LogLevel, stderr)
	logger.Info("config loaded", cfg.LogValue()...)

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
func printTopology(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("topology", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "", "YAML config file (env "+configs.EnvConfig+"): amqp.queue_type and amqp.retry_delays")
	if err := flags.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
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
