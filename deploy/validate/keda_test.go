package validate

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/handlers"
)

// connectionsPerWorker is how many AMQP connections one worker process holds: it
// publishes and consumes on connections apart (deploy/rabbitmq/README.md).
const connectionsPerWorker = 2

// TestKEDA_scales_the_workers_on_every_handler_queue: keda.yaml's ScaledObject scales
// the Deployment with one rabbitmq trigger per queue of handlers.Table(), no more and no
// fewer, so a new handler row without its trigger fails here. Each trigger reads its
// queue on the vhost of definitions.json through the TriggerAuthentication, whose
// Secret has a template; the most replicas fit the worker user's connection limit.
func TestKEDA_scales_the_workers_on_every_handler_queue(t *testing.T) {
	t.Parallel()
	objs := loadKube(t)
	defs := loadDefinitions(t)
	require.Len(t, defs.Vhosts, 1)
	vhost := defs.Vhosts[0].Name
	declared := map[string]bool{}
	for _, q := range defs.Queues {
		declared[q.Name] = q.Vhost == vhost
	}

	require.Len(t, objs.ScaledObjects, 1, "one ScaledObject: KEDA allows one per workload, and every worker runs every handler")
	so := objs.ScaledObjects[0]
	d := objs.deployment(t)
	require.NotNil(t, so.Spec.ScaleTargetRef)
	assert.Equal(t, ScaleTarget{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name}, *so.Spec.ScaleTargetRef)

	auths := map[string]TriggerAuthentication{}
	for _, a := range objs.TriggerAuths {
		auths[a.Name] = a
	}
	want := map[string]bool{}
	for _, def := range handlers.Table() {
		want[envelope.QueueName(def.Name)] = true
	}
	got := map[string]bool{}
	names := map[string]bool{}
	for _, tr := range so.Spec.Triggers {
		queue := tr.Metadata["queueName"]
		assert.False(t, got[queue], "queue %s has two triggers", queue)
		got[queue] = true
		assert.False(t, names[tr.Name], "trigger name %s twice (KEDA refuses it)", tr.Name)
		names[tr.Name] = true

		assert.Equal(t, "rabbitmq", tr.Type, "trigger %s", tr.Name)
		assert.Equal(t, envelope.QueueName(tr.Name), queue, "trigger %s is named after its handler", tr.Name)
		assert.True(t, declared[queue], "queue %s is in definitions.json, on vhost %s", queue, vhost)
		assert.Equal(t, vhost, tr.Metadata["vhostName"], "trigger %s", tr.Name)
		assert.Equal(t, "http", tr.Metadata["protocol"], "trigger %s: the management API, as the read-only monitor", tr.Name)
		assert.Equal(t, "QueueLength", tr.Metadata["mode"], "trigger %s", tr.Name)
		value, err := strconv.ParseFloat(tr.Metadata["value"], 64)
		assert.NoError(t, err, "trigger %s: value", tr.Name)
		assert.Positive(t, value, "trigger %s: value", tr.Name)
		for key := range tr.Metadata {
			assert.Contains(t, []string{"protocol", "vhostName", "queueName", "mode", "value"}, key,
				"trigger %s: the host (with its password) comes from the TriggerAuthentication, never from here", tr.Name)
		}

		require.NotNil(t, tr.AuthenticationRef, "trigger %s", tr.Name)
		auth, ok := auths[tr.AuthenticationRef.Name]
		require.True(t, ok, "trigger %s names TriggerAuthentication %s, which keda.yaml lacks", tr.Name, tr.AuthenticationRef.Name)
		require.Len(t, auth.Spec.SecretTargetRef, 1)
		ref := auth.Spec.SecretTargetRef[0]
		assert.Equal(t, "host", ref.Parameter)
		secret, ok := objs.secret(ref.Name)
		require.True(t, ok, "TriggerAuthentication %s names Secret %s, which secrets/ has no template of", auth.Name, ref.Name)
		assert.Contains(t, secret.StringData, ref.Key)
	}
	assert.Equal(t, want, got, "one trigger per queue of handlers.Table(): add a trigger to deploy/kubernetes/keda.yaml for a new handler")

	require.NotNil(t, so.Spec.MinReplicaCount)
	require.NotNil(t, so.Spec.MaxReplicaCount)
	assert.GreaterOrEqual(t, *so.Spec.MinReplicaCount, int32(2), "two workers at least, for availability")
	assert.Greater(t, *so.Spec.MaxReplicaCount, *so.Spec.MinReplicaCount)
	limit := defs.userLimit(t, "orderflow-worker")
	// +1 pod for a rolling update's surge, and room for `orderflow poison`.
	assert.Less(t, int(*so.Spec.MaxReplicaCount+1)*connectionsPerWorker, limit,
		"maxReplicaCount workers fit orderflow-worker's max-connections in definitions.json")
}
