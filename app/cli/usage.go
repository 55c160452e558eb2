package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/orderflow/orderflow/configs"
)

const usage = `Orderflow runs the order pipeline worker, and the operator commands around it.

Usage:
  orderflow [run] [--config FILE]     run the worker (what the binary does with no command)
  orderflow poison list [FILTERS] [--json]
  orderflow poison replay (--id ID | --all) [FILTERS] [--dry-run]
  orderflow poison purge [FILTERS] [--dry-run] [--yes]
                                      inspect, replay and drop the poison queue
  orderflow topology [--config FILE]  print the RabbitMQ definitions of the handlers
  orderflow version                   print the version
  orderflow help [COMMAND]            print this, or the help of a command (also -h, --help)

Flags:
  --config FILE  a YAML config file over the embedded default, instead of
                 ORDERFLOW_CONFIG (run, topology, poison); a command takes no other
                 argument, so a path without --config is a usage error
  -h, --help     print the help of the command

Exit status: 0 done; 1 failed (a bad config, a broker that does not answer, ...);
2 a usage error, reported before any config is loaded or connection made.

Configuration: the embedded default (configs/default.yaml), then the --config file,
then the environment, which wins. Every setting has a variable: ORDERFLOW_ and its
path in upper case, with . and - as _ (amqp.prefetch is ORDERFLOW_AMQP_PREFETCH,
handlers.payment-capture.timeout is ORDERFLOW_HANDLERS_PAYMENT_CAPTURE_TIMEOUT). A
value is written as in the file: a duration with its unit (15s, 500ms), a list as
[1s, 10s] and a block as {SKU-RED: 100}, brackets and braces optional; text as it is;
an empty variable counts as unset. A variable that names no setting stops start-up,
as an unknown key in the file does (ORDERFLOW_TEST_* and ORDERFLOW_BENCH* are the
tools' own). Every problem of the file and the environment is reported at once.

Environment (<NAME> is a handler's name in upper case, - as _: PAYMENT_CAPTURE):
`

const runUsage = `Usage: orderflow run [--config FILE]

Runs the worker, the handlers and the HTTP APIs (http.addr, http.admin_addr), until
SIGTERM or SIGINT; then it drains, finishes what is in flight and exits 0. It is what
the binary does with no command.

The configuration is the embedded default, the --config file (or ORDERFLOW_CONFIG) and
the environment; 'orderflow help' lists the variables. A path given without --config
is a usage error: it is never taken for something it is not, nor ignored.
`

const poisonUsage = `Usage:
  orderflow poison list [FILTERS] [--json]
  orderflow poison replay (--id ID | --all) [FILTERS] [--dry-run]
  orderflow poison purge [FILTERS] [--dry-run] [--yes]

The poison queue, orderflow.poison on amqp.url, holds what no handler could process.

  list    prints the matching messages, oldest first, each as it is read: a table
          (ID HANDLER ROUTING KEY ATTEMPTS AGE REASON) under its header, or with
          --json a JSON array of {"id", "handler", "routing_key", "reason",
          "attempts", "poisoned_at"}, one element a line
  replay  sends each matching message back to its original routing key and removes
          it from the poison queue once the broker has confirmed the publish; it
          takes --id ID, or --all for every message the filters match
  purge   drops the matching messages (every message, without filters): it prints
          them, then asks you to type yes; --yes does not ask, and is required when
          stdin is not a terminal. The messages left keep their order.

Filters (each one given must hold; all three subcommands take them):
  --id ID          the message id; repeat it for several
  --handler NAME   the handler that poisoned it; repeat it for several
  --reason TEXT    the reason holds TEXT, as written
  --since WHEN     poisoned at WHEN or later: a duration back from now (90m, 24h)
                   or a time (2026-11-22T10:00:00Z)
  --before WHEN    poisoned before WHEN
  --limit N        the first N matching messages, oldest first

Flags:
  --dry-run        (replay, purge) print what would be done, and change nothing
  --yes            (purge) do not ask
  --json           (list) a JSON array instead of the table
  --config FILE    the config file; the broker must be amqp

Nothing is lost on the way: the messages are read without acknowledgement, and each
is removed only once it is replayed (confirmed by the broker) or purged; the rest, or
what a crash leaves, goes back to the queue at its place. Every field that comes from a
message is printed escaped (\x1b, \u009b), so that no message can act on your terminal.
`

const topologyUsage = `Usage: orderflow topology [--config FILE]

Prints the RabbitMQ definitions (JSON) of the exchanges, each handler's queue, the
poison queue and the retry tiers, with the vhost and users of
deploy/rabbitmq/definitions.json, for amqp.queue_type and amqp.retry_delays of the
configuration. It connects to nothing.
`

const versionUsage = `Usage: orderflow version

Prints the version the binary was built with (make build sets it from git describe);
--version does the same.
`

const helpUsage = `Usage: orderflow help [COMMAND]

Prints the usage, with every environment variable, or the help of COMMAND (run,
poison, topology, version). -h and --help do the same, alone or after a command.
`

// WriteHelp writes the help of topic, a command, or the whole usage for "".
func WriteHelp(w io.Writer, topic string) error {
	var text string
	switch topic {
	case "":
		if _, err := io.WriteString(w, usage); err != nil {
			return err
		}
		return writeVariables(w)
	case CmdRun:
		text = runUsage
	case CmdPoison:
		text = poisonUsage
	case CmdTopology:
		text = topologyUsage
	case CmdVersion:
		text = versionUsage
	case CmdHelp:
		text = helpUsage
	default:
		return fmt.Errorf("no help for %q", topic)
	}
	_, err := io.WriteString(w, text)
	return err
}

// writeVariables lists every variable of the configuration, from the same reflection
// over configs.Config that reads them, with what default.yaml says of each.
func writeVariables(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, v := range configs.Variables() {
		line := v.Meaning
		if v.Default != "" {
			def := v.Default
			if strings.Contains(def, "://") {
				def = configs.Redact(def)
			}
			line += " (default " + def + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", v.Name, line)
	}
	return tw.Flush()
}
