package cli

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		Name string
		Args []string
		Want Command
	}{
		{"nothing runs", nil, Command{Name: CmdRun}},
		{"run", []string{"run"}, Command{Name: CmdRun}},
		{"run --config", []string{"run", "--config", "c.yaml"}, Command{Name: CmdRun, Config: "c.yaml"}},
		{"run -config=", []string{"run", "-config=c.yaml"}, Command{Name: CmdRun, Config: "c.yaml"}},
		{"flags alone are run's", []string{"--config", "c.yaml"}, Command{Name: CmdRun, Config: "c.yaml"}},
		{"help", []string{"help"}, Command{Name: CmdHelp}},
		{"--help", []string{"--help"}, Command{Name: CmdHelp}},
		{"-h", []string{"-h"}, Command{Name: CmdHelp}},
		{"-help", []string{"-help"}, Command{Name: CmdHelp}},
		{"help poison", []string{"help", "poison"}, Command{Name: CmdHelp, Topic: CmdPoison}},
		{"help poison list", []string{"help", "poison", "list"}, Command{Name: CmdHelp, Topic: CmdPoison}},
		{"help run", []string{"help", "run"}, Command{Name: CmdHelp, Topic: CmdRun}},
		{"run --help", []string{"run", "--help"}, Command{Name: CmdHelp, Topic: CmdRun}},
		{"topology -h", []string{"topology", "-h"}, Command{Name: CmdHelp, Topic: CmdTopology}},
		{"poison --help", []string{"poison", "--help"}, Command{Name: CmdHelp, Topic: CmdPoison}},
		{"poison help", []string{"poison", "help"}, Command{Name: CmdHelp, Topic: CmdPoison}},
		{"poison list --help", []string{"poison", "list", "--json", "--help"}, Command{Name: CmdHelp, Topic: CmdPoison}},
		{"version", []string{"version"}, Command{Name: CmdVersion}},
		{"--version", []string{"--version"}, Command{Name: CmdVersion}},
		{"topology", []string{"topology", "--config", "c.yaml"}, Command{Name: CmdTopology, Config: "c.yaml"}},
		{"poison list", []string{"poison", "list"}, Command{Name: CmdPoison, Poison: PoisonOptions{Sub: PoisonList}}},
		{"poison list with filters", []string{"poison", "list", "--json", "--handler", "a", "--handler", "b", "--reason", "x y", "--since", "90m", "--before", "2026-11-22T11:59:00Z", "--limit", "3", "--config", "c.yaml"},
			Command{Name: CmdPoison, Config: "c.yaml", Poison: PoisonOptions{Sub: PoisonList, JSON: true, Filter: Filter{
				Handlers: []string{"a", "b"}, Reason: "x y", Since: now.Add(-90 * time.Minute), Before: now.Add(-time.Minute), Limit: 3,
			}}}},
		{"replay --id", []string{"poison", "replay", "--id", "m1", "--id", "m2"}, Command{Name: CmdPoison, Poison: PoisonOptions{Sub: PoisonReplay, Filter: Filter{IDs: []string{"m1", "m2"}}}}},
		{"replay --all --dry-run", []string{"poison", "replay", "--all", "--dry-run", "--handler", "h"}, Command{Name: CmdPoison, Poison: PoisonOptions{Sub: PoisonReplay, All: true, DryRun: true, Filter: Filter{Handlers: []string{"h"}}}}},
		{"purge", []string{"poison", "purge"}, Command{Name: CmdPoison, Poison: PoisonOptions{Sub: PoisonPurge}}},
		{"purge --yes --id", []string{"poison", "purge", "--yes", "--id", "m1"}, Command{Name: CmdPoison, Poison: PoisonOptions{Sub: PoisonPurge, Yes: true, Filter: Filter{IDs: []string{"m1"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.Args, now)
			require.NoError(t, err)
			assert.Equal(t, tt.Want, got)
		})
	}
}

func TestParse_usage_errors(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		Name  string
		Args  []string
		Msg   string
		Topic string
	}{
		{"unknown command", []string{"frob"}, `unknown command "frob" (the commands are run, poison, topology, version and help)`, ""},
		{"unknown flag", []string{"run", "--verbose"}, `run: flag provided but not defined: -verbose`, CmdRun},
		{"unknown flag without a command", []string{"--verbose"}, `run: flag provided but not defined: -verbose`, CmdRun},
		{"positional config", []string{"run", "configs/staging.yaml"}, `run: unexpected argument "configs/staging.yaml": a config file is given as --config configs/staging.yaml`, CmdRun},
		{"command after the flags", []string{"--config", "c.yaml", "poison", "list"}, `unexpected argument "poison" after the flags: the command comes first, then its flags`, CmdPoison},
		{"missing flag value", []string{"run", "--config"}, `run: flag needs an argument: -config`, CmdRun},
		{"config twice", []string{"topology", "--config", "a", "--config", "b"}, `topology: --config is given twice: give it once`, CmdTopology},
		{"version argument", []string{"version", "2"}, `version: unexpected argument "2"`, CmdVersion},
		{"--version argument", []string{"--version", "2"}, `version: unexpected argument "2"`, CmdVersion},
		{"help unknown", []string{"help", "frob"}, `help: unknown command "frob" (the commands are run, poison, topology, version and help)`, ""},
		{"help too much", []string{"help", "run", "now"}, `help: unexpected argument "now"`, ""},
		{"help poison unknown", []string{"help", "poison", "frob"}, `help: poison has no subcommand "frob" (list, replay or purge)`, CmdPoison},
		{"poison alone", []string{"poison"}, `poison: missing subcommand: list, replay or purge`, CmdPoison},
		{"poison unknown", []string{"poison", "frob"}, `poison: unknown subcommand "frob" (list, replay or purge)`, CmdPoison},
		{"replay neither", []string{"poison", "replay"}, `poison replay: give --id ID, or --all for every message the filters match`, CmdPoison},
		{"replay filters alone", []string{"poison", "replay", "--handler", "h"}, `poison replay: give --id ID, or --all for every message the filters match`, CmdPoison},
		{"replay both", []string{"poison", "replay", "--all", "--id", "x"}, `poison replay: --all and --id exclude each other: --id names messages, --all takes every message the filters match`, CmdPoison},
		{"flag of another subcommand", []string{"poison", "list", "--dry-run"}, `poison list: flag provided but not defined: -dry-run`, CmdPoison},
		{"yes on replay", []string{"poison", "replay", "--all", "--yes"}, `poison replay: flag provided but not defined: -yes`, CmdPoison},
		{"json on purge", []string{"poison", "purge", "--json"}, `poison purge: flag provided but not defined: -json`, CmdPoison},
		{"stray argument", []string{"poison", "list", "extra", "--json"}, `poison list: unexpected argument "extra"`, CmdPoison},
		{"bad since", []string{"poison", "list", "--since", "2d"}, `poison list: --since "2d" is neither a duration (90m, 24h) nor a time (2026-11-22T10:00:00Z)`, CmdPoison},
		{"negative since", []string{"poison", "list", "--since", "-1h"}, `poison list: --since "-1h" must be a positive duration, such as 90m or 24h`, CmdPoison},
		{"empty window", []string{"poison", "purge", "--since", "1h", "--before", "2h"}, `poison purge: --since 1h is not before --before 2h: no message can match`, CmdPoison},
		{"bad limit", []string{"poison", "list", "--limit", "0"}, `poison list: --limit "0" is not a whole number of 1 or more`, CmdPoison},
		{"reason twice", []string{"poison", "list", "--reason", "a", "--reason", "b"}, `poison list: --reason is given twice: give it once`, CmdPoison},
		{"controls in a flag name", []string{"poison", "list", "--\x1b[2Jx"}, `poison list: flag provided but not defined: -\x1b[2Jx`, CmdPoison},
		{"limit without value", []string{"poison", "list", "--limit"}, `poison list: flag needs an argument: -limit`, CmdPoison},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.Args, now)
			var usage *UsageError
			require.ErrorAs(t, err, &usage)
			assert.Equal(t, tt.Msg, usage.Msg)
			assert.Equal(t, tt.Topic, usage.Topic)
		})
	}
}

func TestCheckStdin_purge_asks_on_a_terminal_only(t *testing.T) {
	t.Parallel()
	var usage *UsageError
	require.ErrorAs(t, PoisonOptions{Sub: PoisonPurge}.CheckStdin(false), &usage)
	assert.Equal(t, "poison purge: stdin is not a terminal to confirm on: add --yes to purge without asking, or --dry-run to see what would go", usage.Msg)
	assert.NoError(t, PoisonOptions{Sub: PoisonPurge}.CheckStdin(true))
	assert.NoError(t, PoisonOptions{Sub: PoisonPurge, Yes: true}.CheckStdin(false))
	assert.NoError(t, PoisonOptions{Sub: PoisonPurge, DryRun: true}.CheckStdin(false))
	assert.NoError(t, PoisonOptions{Sub: PoisonList}.CheckStdin(false))
}
