// Package cli holds the operator commands of the orderflow binary besides `run`.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/termsafe"
	"github.com/orderflow/orderflow/configs"
)

// PoisonUsage is the help of `orderflow poison`.
const PoisonUsage = `usage:
  orderflow poison list [--json]          the poisoned messages, oldest first
  orderflow poison replay --all | --id ID  back to their original routing key
  orderflow poison purge                  drop them all
each takes --config FILE (or ORDERFLOW_CONFIG); the broker is amqp.url`

// Poison runs `orderflow poison SUBCOMMAND`; cfg comes from the flags in args.
func Poison(ctx context.Context, args []string, load func(path string) (*configs.Config, error), stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(PoisonUsage)
	}
	sub, args := args[0], args[1:]
	flags := flag.NewFlagSet("poison "+sub, flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	configPath := flags.String("config", "", "YAML config file")
	asJSON := flags.Bool("json", false, "list as a JSON array")
	all := flags.Bool("all", false, "replay every message")
	id := flags.String("id", "", "replay the message with this id")
	if err := flags.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, PoisonUsage)
	}
	cfg, err := load(*configPath)
	if err != nil {
		return err
	}
	if cfg.Broker != configs.BrokerAMQP {
		return fmt.Errorf("poison: the broker is %q; the poison queue is a RabbitMQ queue (ORDERFLOW_BROKER=amqp): on gochannel it lives in the worker's memory", cfg.Broker)
	}
	tlsConfig, err := cfg.AMQP.TLS.ClientConfig(cfg.AMQP.URL)
	if err != nil {
		return fmt.Errorf("poison: amqp.tls: %w", err)
	}
	q, err := amqpbroker.DialPoisonQueue(cfg.AMQP.URL, tlsConfig)
	if err != nil {
		return fmt.Errorf("poison: %s: %w", configs.Redact(cfg.AMQP.URL), err)
	}
	defer q.Close()

	switch sub {
	case "list":
		list, err := q.List()
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, list)
		}
		return writeTable(stdout, list, time.Now())
	case "replay":
		if *all == (*id != "") {
			return errors.New("poison replay: give --all or --id ID")
		}
		replayed, err := q.Replay(ctx, func(p amqpbroker.Poisoned) bool { return *all || p.ID == *id })
		for _, r := range replayed {
			fmt.Fprintln(stdout, "replayed", termsafe.Escape(r))
		}
		if err != nil {
			return err
		}
		if *id != "" && len(replayed) == 0 {
			return fmt.Errorf("poison replay: no message %q in the poison queue", *id)
		}
		fmt.Fprintf(stdout, "%d replayed\n", len(replayed))
		return nil
	case "purge":
		n, err := q.Purge()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d purged\n", n)
		return nil
	}
	return fmt.Errorf("poison: unknown subcommand %q\n%s", sub, PoisonUsage)
}

// writeJSON writes list as a JSON array. Whoever published a poisoned message chose its
// fields, so characters a terminal could act on are \u escapes even where JSON allows
// them raw (termsafe.JSONWriter).
func writeJSON(w io.Writer, list []amqpbroker.Poisoned) error {
	if list == nil {
		list = []amqpbroker.Poisoned{}
	}
	enc := json.NewEncoder(termsafe.JSONWriter(w))
	enc.SetIndent("", "  ")
	return enc.Encode(list)
}

// writeTable writes list as a table. Every field from the message is escaped
// (termsafe.Escape): a control character in it could rewrite the operator's screen, and a
// tab or newline would break the table.
func writeTable(w io.Writer, list []amqpbroker.Poisoned, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHANDLER\tROUTING KEY\tATTEMPTS\tAGE\tREASON")
	for _, p := range list {
		age := "?"
		if !p.PoisonedAt.IsZero() {
			age = now.Sub(p.PoisonedAt).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", termsafe.Escape(p.ID), termsafe.Escape(p.Handler),
			termsafe.Escape(p.RoutingKey), p.Attempts, age, termsafe.Escape(p.Reason))
	}
	return tw.Flush()
}
