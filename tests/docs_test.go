package tests

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/handlers"
)

// consumed returns what every handler of the table consumes, by name.
func consumed(t *testing.T) map[string][]string {
	t.Helper()
	built, err := worker.BuildHandlers(TestConfig(), Logger(), worker.NewMemoryStorage(), &app.Application{}, handlers.Table(), time.Now)
	require.NoError(t, err)
	out := map[string][]string{}
	for _, b := range built {
		out[b.Name] = b.Handler.Events()
	}
	return out
}

// TestDefinitions_file_is_the_topology_output: deploy/rabbitmq/definitions.json is what
// `orderflow topology` prints for the table on the embedded default, byte for byte, so
// a new row cannot leave it behind. Regenerate it with
// `bin/orderflow topology > deploy/rabbitmq/definitions.json`.
func TestDefinitions_file_is_the_topology_output(t *testing.T) {
	t.Parallel()
	want, err := worker.Definitions(configs.Default(), Logger(), handlers.Table())
	require.NoError(t, err)
	got, err := os.ReadFile("../deploy/rabbitmq/definitions.json")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "deploy/rabbitmq/definitions.json drifted from the table: run bin/orderflow topology > deploy/rabbitmq/definitions.json")
}

// TestREADME_handler_table_matches_the_table: the README's table of handlers names every
// handler of the table, with the events it consumes, and no other.
func TestREADME_handler_table_matches_the_table(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	row := regexp.MustCompile("^\\| `([a-z-]+)` \\| ((?:`[a-z.]+`(?:, )?)+) \\|")
	tick := regexp.MustCompile("`([a-z.]+)`")
	got := map[string][]string{}
	_, section, _ := strings.Cut(string(raw), "| handler | consumes | does |")
	section, _, _ = strings.Cut(section, "\n\n")
	for _, line := range strings.Split(section, "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			var events []string
			for _, e := range tick.FindAllStringSubmatch(m[2], -1) {
				events = append(events, e[1])
			}
			sort.Strings(events)
			got[m[1]] = events
		}
	}
	assert.Equal(t, consumed(t), got, "README.md's handler table (under \"The flow\") drifted from handlers.Table()")
}

// TestTopologyDoc_names_every_handler_queue: docs/topology.md draws each handler's queue
// with the events bound to it, and no queue that does not exist.
func TestTopologyDoc_names_every_handler_queue(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../docs/topology.md")
	require.NoError(t, err)
	edge := regexp.MustCompile(`X -->\|([a-z., ]+)\| Q\w*\[orderflow\.([a-z-]+)\]`)
	got := map[string][]string{}
	for _, m := range edge.FindAllStringSubmatch(string(raw), -1) {
		if m[2] == "poison" {
			continue
		}
		events := strings.Split(m[1], ", ")
		sort.Strings(events)
		got[m[2]] = events
	}
	assert.Equal(t, consumed(t), got, "docs/topology.md's diagram drifted from handlers.Table()")
}
