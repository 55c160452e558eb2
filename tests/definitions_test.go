package tests

import (
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/handlers"
)

// TestDefinitions_match_the_topology loads deploy/rabbitmq/definitions.json into a fresh
// virtual host, creates a user there with the worker user's permissions, and runs a
// worker as that user: the worker's own declarations must match the file's (RabbitMQ
// refuses a queue re-declared with other arguments), and the permissions must be enough.
func TestDefinitions_match_the_topology(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../deploy/rabbitmq/definitions.json")
	require.NoError(t, err)
	var defs map[string]any
	require.NoError(t, json.Unmarshal(raw, &defs))

	vhostURL := AMQPURL(t)
	u, err := url.Parse(vhostURL)
	require.NoError(t, err)
	vhost := strings.TrimPrefix(u.Path, "/")
	api := os.Getenv(EnvRabbitAPI)
	for _, section := range []string{"exchanges", "queues", "bindings"} {
		for _, item := range defs[section].([]any) {
			item.(map[string]any)["vhost"] = vhost
		}
	}
	scoped, err := json.Marshal(map[string]any{"exchanges": defs["exchanges"], "queues": defs["queues"], "bindings": defs["bindings"]})
	require.NoError(t, err)
	rabbitAPI(t, "POST", api, "/api/definitions/"+vhost, string(scoped))

	user := "of-" + vhost
	rabbitAPI(t, "PUT", api, "/api/users/"+user, `{"password": "secret", "tags": ""}`)
	t.Cleanup(func() { rabbitAPI(t, "DELETE", api, "/api/users/"+user, "") })
	var perm map[string]any
	for _, p := range defs["permissions"].([]any) {
		if p := p.(map[string]any); p["user"] == amqpbroker.WorkerUser {
			perm = p
		}
	}
	require.NotNil(t, perm, "no permission for %s in the definitions", amqpbroker.WorkerUser)
	body, err := json.Marshal(map[string]any{"configure": perm["configure"], "write": perm["write"], "read": perm["read"]})
	require.NoError(t, err)
	rabbitAPI(t, "PUT", api, "/api/permissions/"+vhost+"/"+user, string(body))

	cfg := AMQPConfig(t, nil)
	u.User = url.UserPassword(user, "secret")
	cfg.AMQP.URL = u.String()
	cfg.AMQP.RetryDelays = nil
	for _, d := range []string{"1s", "10s", "60s"} {
		cfg.AMQP.RetryDelays = append(cfg.AMQP.RetryDelays, mustDuration(t, d))
	}
	w := StartAMQP(t, cfg, handlers.Table())
	placeAndConfirm(t, NewClient(w.URL()))
}
