// Package cli holds the command line of the orderflow binary: its parsing, its help, and
// the operator commands besides `run` (poison list, replay and purge).
package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/termsafe"
	"github.com/orderflow/orderflow/configs"
)

// PoisonOptions are the subcommand and flags of `orderflow poison`.
type PoisonOptions struct {
	// Sub is list, replay or purge.
	Sub    string
	Filter Filter
	// JSON lists as a JSON array (list).
	JSON bool
	// All replays every message the filter matches (replay).
	All bool
	// DryRun prints what replay or purge would do, and changes nothing.
	DryRun bool
	// Yes purges without asking.
	Yes bool
}

// CheckStdin refuses, as a usage error, a purge that would have to ask for confirmation
// when stdin is no terminal to ask on: a script must say --yes.
func (o PoisonOptions) CheckStdin(terminal bool) error {
	if o.Sub == PoisonPurge && !o.DryRun && !o.Yes && !terminal {
		return usagef(CmdPoison, "poison purge: stdin is not a terminal to confirm on: add --yes to purge without asking, or --dry-run to see what would go")
	}
	return nil
}

// Filter selects poisoned messages; every condition set must hold.
type Filter struct {
	// IDs: the message id is one of them.
	IDs []string
	// Handlers: the handler that poisoned it is one of them.
	Handlers []string
	// Reason: the reason holds it, as written.
	Reason string
	// Since and Before bound when it was poisoned (Since included); a message without a
	// time of poisoning matches neither.
	Since, Before time.Time
	// Limit is how many matching messages to take at most, oldest first; 0 is all.
	Limit int
}

// Match reports whether p meets every condition of f but Limit.
func (f Filter) Match(p amqpbroker.Poisoned) bool {
	switch {
	case len(f.IDs) > 0 && !slices.Contains(f.IDs, p.ID):
		return false
	case len(f.Handlers) > 0 && !slices.Contains(f.Handlers, p.Handler):
		return false
	case !strings.Contains(p.Reason, f.Reason):
		return false
	case !f.Since.IsZero() && (p.PoisonedAt.IsZero() || p.PoisonedAt.Before(f.Since)):
		return false
	case !f.Before.IsZero() && (p.PoisonedAt.IsZero() || !p.PoisonedAt.Before(f.Before)):
		return false
	}
	return true
}

// IO is where a command reads and writes.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Terminal says whether Stdin is a terminal, where someone can type a confirmation.
	Terminal bool
}

// queue is the poison queue as the commands use it: amqpbroker.PoisonQueue, or a fake.
type queue interface {
	Begin() (pass, error)
}

// pass is amqpbroker.Pass: one read of the queue, which puts back what it does not
// remove when it closes.
type pass interface {
	Next() (amqpbroker.Poisoned, bool, error)
	Remove(amqpbroker.Poisoned) error
	Replay(context.Context, amqpbroker.Poisoned) error
	Close() error
}

type brokerQueue struct{ *amqpbroker.PoisonQueue }

func (q brokerQueue) Begin() (pass, error) {
	p, err := q.PoisonQueue.Begin()
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Poison runs `orderflow poison SUBCOMMAND` on the broker of cfg.
func Poison(ctx context.Context, opts PoisonOptions, cfg *configs.Config, stdio IO) error {
	if cfg.Broker != configs.BrokerAMQP {
		return fmt.Errorf("poison: the broker is %q; the poison queue is a RabbitMQ queue (ORDERFLOW_BROKER=amqp): on gochannel it lives in the worker's memory", cfg.Broker)
	}
	tlsConfig, err := cfg.AMQP.ClientTLS()
	if err != nil {
		return fmt.Errorf("poison: amqp.tls: %w", err)
	}
	q, err := amqpbroker.DialPoisonQueue(cfg.AMQP.URLs(), tlsConfig)
	if err != nil {
		return fmt.Errorf("poison: %s: %w", configs.Redact(cfg.AMQP.URL), err)
	}
	defer q.Close()
	return runPoison(ctx, opts, brokerQueue{q}, stdio, time.Now())
}

func runPoison(ctx context.Context, opts PoisonOptions, q queue, stdio IO, now time.Time) error {
	p, err := q.Begin()
	if err != nil {
		return fmt.Errorf("poison %s: %w", opts.Sub, err)
	}
	switch opts.Sub {
	case PoisonList:
		err = list(opts, p, stdio.Stdout, now)
	case PoisonReplay:
		err = replay(ctx, opts, p, stdio.Stdout)
	case PoisonPurge:
		err = purge(opts, p, stdio, now)
	default:
		err = fmt.Errorf("poison: unknown subcommand %q", opts.Sub)
	}
	// Whatever happened, what was read and not removed goes back to the queue.
	if closeErr := p.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("poison %s: %w", opts.Sub, err)
	}
	return nil
}

// each calls fn with every message of the pass that f matches, up to f.Limit, oldest
// first, as it is read.
func each(p pass, f Filter, fn func(amqpbroker.Poisoned) error) error {
	for n := 0; f.Limit == 0 || n < f.Limit; {
		msg, ok, err := p.Next()
		if err != nil || !ok {
			return err
		}
		if !f.Match(msg) {
			continue
		}
		n++
		if err := fn(msg); err != nil {
			return err
		}
	}
	return nil
}

// list prints each matching message as it is read: the table header (or the opening of
// the JSON array) first, so that a long queue shows at once and a pipe sees rows as they
// come. On an error the JSON array stays open: what was printed is not a whole list.
func list(opts PoisonOptions, p pass, w io.Writer, now time.Time) error {
	var out rows = &table{w: w, now: now}
	if opts.JSON {
		out = &jsonArray{w: termsafe.JSONWriter(w)}
	}
	if err := out.begin(); err != nil {
		return err
	}
	if err := each(p, opts.Filter, out.row); err != nil {
		return err
	}
	return out.end()
}

func replay(ctx context.Context, opts PoisonOptions, p pass, w io.Writer) error {
	var failed []error
	seen := map[string]bool{}
	n := 0
	err := each(p, opts.Filter, func(msg amqpbroker.Poisoned) error {
		seen[msg.ID] = true
		id, key := termsafe.Escape(msg.ID), termsafe.Escape(msg.RoutingKey)
		if !amqpbroker.IsEventName(msg.RoutingKey) {
			failed = append(failed, fmt.Errorf("%q: no original routing key to replay to (it stays poisoned)", msg.ID))
			return nil
		}
		if opts.DryRun {
			fmt.Fprintf(w, "would replay %s to %s (poisoned by %s)\n", id, key, termsafe.Escape(msg.Handler))
			n++
			return nil
		}
		// A failed publish leaves the channel in doubt: stop, and leave the rest poisoned.
		if err := p.Replay(ctx, msg); err != nil {
			return err
		}
		fmt.Fprintf(w, "replayed %s to %s\n", id, key)
		n++
		return nil
	})
	if err == nil {
		for _, id := range opts.Filter.IDs {
			if !seen[id] {
				failed = append(failed, fmt.Errorf("no message %q in the poison queue matches", id))
			}
		}
	}
	if opts.DryRun {
		fmt.Fprintf(w, "%d would be replayed (dry run: nothing changed)\n", n)
	} else {
		fmt.Fprintf(w, "%d replayed\n", n)
	}
	return errors.Join(append(failed, err)...)
}

// purge removes the matching messages. It reads them all first, printing each, and asks
// (unless --yes) before it removes any; until then they are held unacknowledged, so
// that a "no", an error or a crash puts every one back.
func purge(opts PoisonOptions, p pass, stdio IO, now time.Time) error {
	out := &table{w: stdio.Stdout, now: now}
	if err := out.begin(); err != nil {
		return err
	}
	var picked []amqpbroker.Poisoned
	if err := each(p, opts.Filter, func(msg amqpbroker.Poisoned) error {
		picked = append(picked, msg)
		return out.row(msg)
	}); err != nil {
		return err
	}
	switch {
	case len(picked) == 0:
		fmt.Fprintln(stdio.Stdout, "0 purged")
		return nil
	case opts.DryRun:
		fmt.Fprintf(stdio.Stdout, "%d would be purged (dry run: nothing changed)\n", len(picked))
		return nil
	case !opts.Yes:
		if !stdio.Terminal {
			return errors.New("stdin is not a terminal to confirm on: add --yes") // CheckStdin says so first
		}
		what := "these " + strconv.Itoa(len(picked)) + " messages"
		if len(picked) == 1 {
			what = "this message"
		}
		fmt.Fprintf(stdio.Stderr, "Purge %s from %s for good? Type yes to confirm: ", what, amqpbroker.PoisonQueueName)
		answer, err := bufio.NewReader(stdio.Stdin).ReadString('\n')
		if strings.TrimSpace(answer) != "yes" {
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read the confirmation: %w", err)
			}
			return errors.New("not confirmed: nothing purged")
		}
	}
	for i, msg := range picked {
		if err := p.Remove(msg); err != nil {
			fmt.Fprintf(stdio.Stdout, "%d purged\n", i)
			return err
		}
	}
	fmt.Fprintf(stdio.Stdout, "%d purged\n", len(picked))
	return nil
}

// rows prints poisoned messages one at a time.
type rows interface {
	begin() error
	row(amqpbroker.Poisoned) error
	end() error
}

// tableFormat lays out the table in columns of fixed width, since rows are printed as
// they are read (tabwriter would wait for the last): wide enough for a UUID, the
// handler names and the event names; a longer value pushes the rest of its row along.
const tableFormat = "%-36s  %-18s  %-19s  %8s  %-8s  %s\n"

// table writes rows of the table. Every field from the message is escaped
// (termsafe.Escape): a control character in it could rewrite the operator's screen, and
// a tab or newline would break the table.
type table struct {
	w   io.Writer
	now time.Time
}

func (t *table) begin() error {
	_, err := fmt.Fprintf(t.w, tableFormat, "ID", "HANDLER", "ROUTING KEY", "ATTEMPTS", "AGE", "REASON")
	return err
}

func (t *table) row(p amqpbroker.Poisoned) error {
	age := "?"
	if !p.PoisonedAt.IsZero() {
		age = t.now.Sub(p.PoisonedAt).Round(time.Second).String()
	}
	_, err := fmt.Fprintf(t.w, tableFormat, termsafe.Escape(p.ID), termsafe.Escape(p.Handler),
		termsafe.Escape(p.RoutingKey), strconv.Itoa(p.Attempts), age, termsafe.Escape(p.Reason))
	return err
}

func (t *table) end() error { return nil }

// jsonArray writes a JSON array one element a line, each as it comes, through
// termsafe.JSONWriter: whoever published a poisoned message chose its fields, so
// characters a terminal could act on are \u escapes even where JSON allows them raw.
type jsonArray struct {
	w io.Writer
	n int
}

func (j *jsonArray) begin() error {
	_, err := io.WriteString(j.w, "[")
	return err
}

func (j *jsonArray) row(p amqpbroker.Poisoned) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	sep := ",\n  "
	if j.n == 0 {
		sep = "\n  "
	}
	j.n++
	// One Write for the whole element: JSONWriter needs whole characters.
	_, err = j.w.Write(append([]byte(sep), b...))
	return err
}

func (j *jsonArray) end() error {
	end := "\n]\n"
	if j.n == 0 {
		end = "]\n"
	}
	_, err := io.WriteString(j.w, end)
	return err
}
