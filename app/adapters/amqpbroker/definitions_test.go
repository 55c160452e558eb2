package amqpbroker_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
)

// TestDefinitions_users_have_no_password_and_a_connection_limit: the file that is
// committed and handed to operators holds no password that works anywhere, and every
// user is capped.
func TestDefinitions_users_have_no_password_and_a_connection_limit(t *testing.T) {
	t.Parallel()
	topology := &amqpbroker.Topology{QueueType: "classic", RetryDelays: []time.Duration{time.Second}}
	raw, err := topology.Definitions([]amqpbroker.HandlerQueue{{Queue: "orderflow.a", Events: []string{"order.placed"}}}, []string{"order.placed"})
	require.NoError(t, err)
	var defs struct {
		Users []map[string]any `json:"users"`
	}
	require.NoError(t, json.Unmarshal(raw, &defs))
	var names []string
	for _, u := range defs.Users {
		names = append(names, u["name"].(string))
		assert.NotContains(t, u, "password_hash", "%s", u["name"])
		assert.NotContains(t, u, "password", "%s", u["name"])
		limits, _ := u["limits"].(map[string]any)
		assert.Positive(t, limits["max-connections"], "%s", u["name"])
	}
	assert.ElementsMatch(t, []string{amqpbroker.WorkerUser, amqpbroker.ProducerUser, amqpbroker.MonitorUser}, names)
}

// TestDefinitions_producers_publish_only_the_entry_events: the producer's topic
// permission matches the entry events exactly, not a longer key that starts with one.
func TestDefinitions_producers_publish_only_the_entry_events(t *testing.T) {
	t.Parallel()
	topology := &amqpbroker.Topology{QueueType: "classic"}
	queues := []amqpbroker.HandlerQueue{{Queue: "orderflow.a", Events: []string{"order.placed"}}}
	for _, tc := range []struct {
		Name   string
		Events []string
		Want   string
	}{
		{Name: "one", Events: []string{"order.placed"}, Want: `^order\.placed$`},
		{Name: "two", Events: []string{"order.placed", "order.imported"}, Want: `^(order\.placed|order\.imported)$`},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			raw, err := topology.Definitions(queues, tc.Events)
			require.NoError(t, err)
			var defs struct {
				TopicPermissions []map[string]string `json:"topic_permissions"`
			}
			require.NoError(t, json.Unmarshal(raw, &defs))
			require.Len(t, defs.TopicPermissions, 1)
			p := defs.TopicPermissions[0]
			assert.Equal(t, amqpbroker.ProducerUser, p["user"])
			assert.Equal(t, amqpbroker.Exchange, p["exchange"])
			assert.Equal(t, tc.Want, p["write"])
			assert.Equal(t, "^$", p["read"])
		})
	}
	for _, events := range [][]string{nil, {"orderflow.poison"}, {""}} {
		_, err := topology.Definitions(queues, events)
		assert.Error(t, err, "entry events %q", events)
	}
}
