package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/app/termsafe"
)

// The commands of the orderflow binary.
const (
	CmdRun      = "run"
	CmdPoison   = "poison"
	CmdTopology = "topology"
	CmdVersion  = "version"
	CmdHelp     = "help"
)

// The subcommands of `orderflow poison`.
const (
	PoisonList   = "list"
	PoisonReplay = "replay"
	PoisonPurge  = "purge"
)

// Command is what the arguments of the orderflow binary ask for.
type Command struct {
	// Name is one of the Cmd constants.
	Name string
	// Topic is the command whose help to print, with CmdHelp; "" for the whole usage.
	Topic string
	// Config is --config, a YAML file over the embedded default; "" for
	// ORDERFLOW_CONFIG.
	Config string
	// Poison holds the subcommand and flags of CmdPoison.
	Poison PoisonOptions
}

// UsageError is a command line that asks for nothing the binary does. It is found
// before any config is loaded or connection made, and exits with status 2.
type UsageError struct {
	Msg string
	// Topic is the command whose help the hint names; "" for the whole usage.
	Topic string
}

func (e *UsageError) Error() string { return e.Msg }

// Hint is the line printed after the message.
func (e *UsageError) Hint() string {
	if e.Topic == "" {
		return "Run 'orderflow help' for usage."
	}
	return "Run 'orderflow help " + e.Topic + "' for usage."
}

func usagef(topic, format string, args ...any) *UsageError {
	return &UsageError{Msg: fmt.Sprintf(format, args...), Topic: topic}
}

// Parse reads the command line of the binary, without its name. now is when --since and
// --before durations count back from. Every error is a *UsageError.
func Parse(args []string, now time.Time) (Command, error) {
	if len(args) == 0 {
		return Command{Name: CmdRun}, nil
	}
	switch first := args[0]; {
	case first == CmdHelp || isHelpFlag(first):
		return parseHelp(args[1:])
	case first == "--version" || first == "-version":
		if len(args) > 1 {
			return Command{}, usagef(CmdVersion, "version: unexpected argument %q", args[1])
		}
		return Command{Name: CmdVersion}, nil
	case strings.HasPrefix(first, "-"):
		// Flags with no command before them are run's: `orderflow --config FILE`.
		return parseConfigOnly(CmdRun, args)
	}
	name, rest := args[0], args[1:]
	switch name {
	case CmdRun, CmdTopology:
		return parseConfigOnly(name, rest)
	case CmdVersion:
		fs := newFlagSet(name)
		if cmd, err := fs.parse(rest, name); err != nil || cmd.Name == CmdHelp {
			return cmd, err
		}
		if fs.NArg() > 0 {
			return Command{}, usagef(CmdVersion, "version: unexpected argument %q", fs.Arg(0))
		}
		return Command{Name: CmdVersion}, nil
	case CmdPoison:
		return parsePoison(rest, now)
	}
	return Command{}, usagef("", "unknown command %q (the commands are run, poison, topology, version and help)", name)
}

func isHelpFlag(s string) bool { return s == "-h" || s == "--help" || s == "-help" }

func parseHelp(args []string) (Command, error) {
	switch {
	case len(args) == 0:
		return Command{Name: CmdHelp}, nil
	case args[0] == CmdPoison && len(args) <= 2:
		// `help poison list` is the help of poison, which covers each subcommand.
		if len(args) == 2 && !isPoisonSub(args[1]) {
			return Command{}, usagef(CmdPoison, "help: poison has no subcommand %q (list, replay or purge)", args[1])
		}
		return Command{Name: CmdHelp, Topic: CmdPoison}, nil
	case len(args) > 1:
		return Command{}, usagef("", "help: unexpected argument %q", args[1])
	}
	switch args[0] {
	case CmdRun, CmdTopology, CmdVersion, CmdHelp:
		return Command{Name: CmdHelp, Topic: args[0]}, nil
	}
	return Command{}, usagef("", "help: unknown command %q (the commands are run, poison, topology, version and help)", args[0])
}

// parseConfigOnly parses the flags of run and topology, which take --config alone.
func parseConfigOnly(name string, args []string) (Command, error) {
	fs := newFlagSet(name)
	config := fs.single("config")
	if cmd, err := fs.parse(args, name); err != nil || cmd.Name == CmdHelp {
		return cmd, err
	}
	switch arg := fs.Arg(0); {
	case fs.NArg() == 0:
	case arg == CmdRun || arg == CmdPoison || arg == CmdTopology || arg == CmdVersion || arg == CmdHelp:
		return Command{}, usagef(arg, "unexpected argument %q after the flags: the command comes first, then its flags", arg)
	default:
		// A positional path is refused rather than taken as the config: there is one way
		// to name the file, and a stray argument is never silently ignored.
		return Command{}, usagef(name, "%s: unexpected argument %q: a config file is given as --config %s", name, arg, arg)
	}
	return Command{Name: name, Config: *config}, nil
}

func isPoisonSub(s string) bool { return s == PoisonList || s == PoisonReplay || s == PoisonPurge }

func parsePoison(args []string, now time.Time) (Command, error) {
	if len(args) == 0 {
		return Command{}, usagef(CmdPoison, "poison: missing subcommand: list, replay or purge")
	}
	sub := args[0]
	if sub == CmdHelp || isHelpFlag(sub) {
		return Command{Name: CmdHelp, Topic: CmdPoison}, nil
	}
	if !isPoisonSub(sub) {
		return Command{}, usagef(CmdPoison, "poison: unknown subcommand %q (list, replay or purge)", sub)
	}
	name := CmdPoison + " " + sub
	fs := newFlagSet(name)
	opts := PoisonOptions{Sub: sub}
	config := fs.single("config")
	fs.repeated("id", &opts.Filter.IDs)
	fs.repeated("handler", &opts.Filter.Handlers)
	reason := fs.single("reason")
	since := fs.single("since")
	before := fs.single("before")
	limit := fs.single("limit")
	switch sub {
	case PoisonList:
		fs.BoolVar(&opts.JSON, "json", false, "")
	case PoisonReplay:
		fs.BoolVar(&opts.All, "all", false, "")
		fs.BoolVar(&opts.DryRun, "dry-run", false, "")
	case PoisonPurge:
		fs.BoolVar(&opts.DryRun, "dry-run", false, "")
		fs.BoolVar(&opts.Yes, "yes", false, "")
	}
	if cmd, err := fs.parse(args[1:], CmdPoison); err != nil || cmd.Name == CmdHelp {
		return cmd, err
	}
	bad := func(format string, args ...any) (Command, error) {
		return Command{}, usagef(CmdPoison, "%s: %s", name, fmt.Sprintf(format, args...))
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	opts.Filter.Reason = *reason
	var err error
	if opts.Filter.Since, err = parseWhen(*since, now); err != nil {
		return bad("--since %v", err)
	}
	if opts.Filter.Before, err = parseWhen(*before, now); err != nil {
		return bad("--before %v", err)
	}
	if f := opts.Filter; !f.Since.IsZero() && !f.Before.IsZero() && !f.Since.Before(f.Before) {
		return bad("--since %s is not before --before %s: no message can match", *since, *before)
	}
	if *limit != "" {
		n, err := strconv.Atoi(*limit)
		if err != nil || n < 1 {
			return bad("--limit %q is not a whole number of 1 or more", *limit)
		}
		opts.Filter.Limit = n
	}
	if sub == PoisonReplay {
		switch {
		case opts.All && len(opts.Filter.IDs) > 0:
			return bad("--all and --id exclude each other: --id names messages, --all takes every message the filters match")
		case !opts.All && len(opts.Filter.IDs) == 0:
			return bad("give --id ID, or --all for every message the filters match")
		}
	}
	return Command{Name: CmdPoison, Config: *config, Poison: opts}, nil
}

// parseWhen reads --since and --before: a duration back from now (90m, 24h) or an
// RFC 3339 time; "" is no bound.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q must be a positive duration, such as 90m or 24h", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (90m, 24h) nor a time (2026-11-22T10:00:00Z)", s)
}

// flagSet is a flag.FlagSet that reports a flag of one value given twice, where the flag
// package would let the last one win without a word.
type flagSet struct {
	*flag.FlagSet
	twice []string
}

func newFlagSet(name string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the caller prints one line and a hint, not flag's usage
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs}
}

// single defines a string flag that may be given once.
func (f *flagSet) single(name string) *string {
	v, set := new(string), false
	f.Func(name, "", func(s string) error {
		if set {
			f.twice = append(f.twice, name)
		}
		*v, set = s, true
		return nil
	})
	return v
}

// repeated defines a string flag that may be given several times, each value kept.
func (f *flagSet) repeated(name string, dst *[]string) {
	f.Func(name, "", func(s string) error {
		*dst = append(*dst, s)
		return nil
	})
}

// parse parses args; -h and --help ask for the help of topic.
func (f *flagSet) parse(args []string, topic string) (Command, error) {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Command{Name: CmdHelp, Topic: topic}, nil
		}
		// The flag package quotes no flag name: escaped, as the command line may hold
		// anything. Every other message quotes what it repeats (%q).
		return Command{}, usagef(topic, "%s: %s", f.Name(), termsafe.Escape(err.Error()))
	}
	if len(f.twice) > 0 {
		return Command{}, usagef(topic, "%s: --%s is given twice: give it once", f.Name(), f.twice[0])
	}
	return Command{}, nil
}
