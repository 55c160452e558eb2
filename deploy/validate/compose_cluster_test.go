package validate

import (
	"bufio"
	"cmp"
	"encoding/json"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/handlers"
)

// The checks of deploy/compose.cluster.yaml that the single-node file has no part in;
// compose_test.go runs the others on both files.

// rabbitNodes are the project's RabbitMQ nodes: the services of the RabbitMQ image that
// run on (the one-shot steps run once).
func rabbitNodes(project *types.Project) []types.ServiceConfig {
	return servicesOf(project, "rabbitmq:")
}

// redisServers are the project's Redis nodes, as rabbitNodes.
func redisServers(project *types.Project) []types.ServiceConfig {
	return servicesOf(project, "redis:")
}

func servicesOf(project *types.Project, imagePrefix string) []types.ServiceConfig {
	var out []types.ServiceConfig
	for _, name := range project.ServiceNames() {
		svc := project.Services[name]
		if strings.HasPrefix(svc.Image, imagePrefix) && svc.Restart != "no" {
			out = append(out, svc)
		}
	}
	return out
}

// rabbitConf reads a rabbitmq.conf (sysctl format: key = value, # comments) into its
// keys and values.
func rabbitConf(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	conf := map[string]string{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: %q is not key = value", file, line)
		key = strings.TrimSpace(key)
		require.NotContains(t, conf, key, "%s: %s given twice", file, key)
		conf[key] = strings.TrimSpace(value)
	}
	require.NoError(t, scanner.Err())
	return conf
}

// TestComposeCluster_rabbitmq_nodes_form_one_cluster_of_quorum_queues: three nodes of
// the same image, each named for its hostname, sharing one Erlang cookie from one
// secret, which the passwords step uses too; each lists all three in its peer
// discovery config and grows quorum queues to all three; the definitions they load are
// what the cluster's workers declare (quorum queues), with the users of
// definitions.json; the workers run quorum queues and hold one URL per node.
func TestComposeCluster_rabbitmq_nodes_form_one_cluster_of_quorum_queues(t *testing.T) {
	t.Parallel()
	project, _ := clusterCompose.load(t)
	nodes := rabbitNodes(project)
	require.Len(t, nodes, 3, "three RabbitMQ nodes")

	var names []string
	for _, node := range nodes {
		assert.Equal(t, "rabbitmq:3.13-management", node.Image, node.Name)
		// The service name is what other containers resolve; the hostname is what the
		// node is named after: they must be one.
		assert.Equal(t, node.Name, node.Hostname, "%s: hostname", node.Name)
		names = append(names, "rabbit@"+node.Hostname)
	}

	cookie := func(svc types.ServiceConfig) string {
		t.Helper()
		i := slices.IndexFunc(svc.Secrets, func(s types.ServiceSecretConfig) bool { return s.Source == "rabbitmq-erlang-cookie" })
		require.GreaterOrEqual(t, i, 0, "%s mounts the Erlang cookie", svc.Name)
		target := cmp.Or(svc.Secrets[i].Target, svc.Secrets[i].Source)
		if !path.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		assert.Contains(t, strings.Join(svc.Command, " "), "< "+target+" > \"$HOME/.erlang.cookie\"",
			"%s copies the cookie where Erlang reads it", svc.Name)
		return project.Secrets[svc.Secrets[i].Source].File
	}
	passwords, err := project.GetService("rabbitmq-passwords")
	require.NoError(t, err)
	shared := cookie(passwords)
	data, err := os.ReadFile(shared)
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9a-f]{20,255}\n$`, string(data), "a cookie of printable characters, one line")
	for _, node := range nodes {
		assert.Equal(t, shared, cookie(node), "%s shares the cookie", node.Name)

		var confs []string
		for _, c := range node.Configs {
			if strings.HasPrefix(c.Target, "/etc/rabbitmq/conf.d/") {
				confs = append(confs, project.Configs[c.Source].File)
			}
		}
		merged := map[string]string{}
		for _, file := range confs {
			for k, v := range rabbitConf(t, file) {
				require.NotContains(t, merged, k, "%s: %s is set in two conf.d files", node.Name, k)
				merged[k] = v
			}
		}
		assert.Equal(t, "classic_config", merged["cluster_formation.peer_discovery_backend"], node.Name)
		var listed []string
		for k, v := range merged {
			if strings.HasPrefix(k, "cluster_formation.classic_config.nodes.") {
				listed = append(listed, v)
			}
		}
		assert.ElementsMatch(t, names, listed, "%s lists every node of the cluster", node.Name)
		assert.Equal(t, "true", merged["quorum_queue.continuous_membership_reconciliation.enabled"], node.Name)
		assert.Equal(t, "3", merged["quorum_queue.continuous_membership_reconciliation.target_group_size"], node.Name)
		assert.Equal(t, "/etc/rabbitmq/definitions.json", merged["definitions.local.path"], node.Name)
		assert.Equal(t, mountedConfig(t, project, nodes[0], "/etc/rabbitmq/definitions.json"),
			mountedConfig(t, project, node, "/etc/rabbitmq/definitions.json"), "%s loads the definitions the others load", node.Name)
	}
	assert.Contains(t, strings.Join(passwords.Command, " "), "await_online_nodes 3 ",
		"the passwords step waits until the three nodes run as one cluster")

	workers := workerServices(project)
	require.Len(t, workers, 3, "three workers")
	for _, svc := range workers {
		cfg := workerConfig(t, project, svc)
		assert.Equal(t, "quorum", cfg.AMQP.QueueType, "%s: amqp.queue_type", svc.Name)
		var hosts []string
		for _, raw := range cfg.AMQP.URLs() {
			u, err := url.Parse(raw)
			require.NoError(t, err)
			hosts = append(hosts, u.Host)
		}
		var want []string
		for _, node := range nodes {
			want = append(want, node.Hostname+":5672")
		}
		assert.ElementsMatch(t, want, hosts, "%s: one URL per RabbitMQ node", svc.Name)
	}

	// What the nodes load is what `orderflow topology` prints for the workers' config,
	// byte for byte: a worker re-declaring a queue with other arguments is refused.
	cfg := workerConfig(t, project, workers[0])
	want, err := worker.Definitions(cfg, slog.New(slog.DiscardHandler), handlers.Table())
	require.NoError(t, err)
	file := mountedConfig(t, project, nodes[0], "/etc/rabbitmq/definitions.json")
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got),
		"%s drifted from the topology: ORDERFLOW_AMQP_QUEUE_TYPE=quorum bin/orderflow topology > deploy/rabbitmq/definitions.quorum.json", file)
	single, err := os.ReadFile(deployPath("rabbitmq", "definitions.json"))
	require.NoError(t, err)
	var a, b map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(got, &a))
	require.NoError(t, json.Unmarshal(single, &b))
	for _, key := range []string{"users", "vhosts", "permissions", "topic_permissions"} {
		assert.JSONEq(t, string(b[key]), string(a[key]), "the cluster's %s are those of definitions.json", key)
	}
}

// TestComposeCluster_redis_is_a_cluster_of_six_nodes: six cluster-enabled nodes with
// the same ACL file and replication credentials that a user of that file holds; the
// create step waits for all six, names all six and gives each master a replica, as a
// user of the ACL file whose password it mounts; the workers run in mode cluster with
// a URL that names every node.
func TestComposeCluster_redis_is_a_cluster_of_six_nodes(t *testing.T) {
	t.Parallel()
	project, _ := clusterCompose.load(t)
	nodes := redisServers(project)
	require.Len(t, nodes, 6, "six Redis nodes")
	acl, loaders := redisACL(t, project)
	assert.Len(t, loaders, len(nodes), "every node loads the ACL file")
	users := aclUsers(acl)

	var addrs []string
	for _, node := range nodes {
		addrs = append(addrs, node.Name+":6379")
		assert.Equal(t, "redis:7.2", node.Image, node.Name)
		i := slices.Index(node.Command, "--cluster-enabled")
		require.GreaterOrEqual(t, i, 0, "%s: --cluster-enabled", node.Name)
		assert.Equal(t, "yes", node.Command[i+1], "%s: --cluster-enabled", node.Name)

		// redis-server CONFIGFILE --options: the replication credentials from a file, so
		// that the password is in no command line.
		require.GreaterOrEqual(t, len(node.Command), 2)
		assert.Equal(t, "redis-server", node.Command[0])
		conf, ok := mountedSecrets(t, project, node)[node.Command[1]]
		require.True(t, ok, "%s: the config file %s is a secret it mounts", node.Name, node.Command[1])
		settings := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(conf), "\n") {
			k, v, _ := strings.Cut(line, " ")
			settings[k] = v
		}
		user, ok := users[settings["masteruser"]]
		require.True(t, ok, "%s: masteruser %q is a user of the ACL file", node.Name, settings["masteruser"])
		assert.Contains(t, user, ">"+settings["masterauth"], "%s: masterauth is the password of %s", node.Name, settings["masteruser"])
		for _, perm := range []string{"+psync", "+replconf", "+ping"} {
			assert.Contains(t, user, perm, "%s may replicate", settings["masteruser"])
		}
	}

	create, err := project.GetService("redis-cluster-create")
	require.NoError(t, err)
	script := strings.Join(create.Command, " ")
	for _, node := range nodes {
		assert.Equal(t, types.ServiceConditionHealthy, create.DependsOn[node.Name].Condition, "the create step waits for %s", node.Name)
		assert.Regexp(t, `nodes="[^"]*\b`+node.Name+`\b`, script, "the create step names %s", node.Name)
	}
	assert.Contains(t, script, "--cluster create ")
	assert.Contains(t, script, "--cluster-replicas 1 ", "a replica for each master")
	assert.Contains(t, script, "--cluster-yes", "no prompt: nobody answers it")
	assert.Contains(t, script, "cluster_known_nodes", "a cluster that exists is not created again")
	fields := strings.Fields(script)
	i := slices.Index(fields, "--user")
	require.GreaterOrEqual(t, i, 0, "the create step names its user")
	admin, ok := users[fields[i+1]]
	require.True(t, ok, "the create step's user %s is in the ACL file", fields[i+1])
	assert.Contains(t, admin, "+@all", "%s may create a cluster (CLUSTER ADDSLOTS, MEET, REPLICATE are @dangerous)", fields[i+1])
	var passwords []string
	for _, content := range mountedSecrets(t, project, create) {
		passwords = append(passwords, strings.TrimSpace(content))
	}
	assert.True(t, slices.ContainsFunc(passwords, func(p string) bool { return strings.Contains(admin, ">"+p) }),
		"the create step mounts the password of %s", fields[i+1])

	for _, svc := range workerServices(project) {
		cfg := workerConfig(t, project, svc)
		assert.Equal(t, "cluster", cfg.Redis.Mode, svc.Name)
		_, _, named := redisNodes(t, cfg)
		assert.ElementsMatch(t, addrs, named, "%s: the Redis URL names every node", svc.Name)
		for _, addr := range named {
			_, port, err := net.SplitHostPort(addr)
			require.NoError(t, err)
			assert.Equal(t, "6379", port)
		}
	}
}

// aclUsers returns the rules of each user of a Redis ACL file, by user name.
func aclUsers(acl string) map[string]string {
	users := map[string]string{}
	for _, line := range strings.Split(acl, "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "user" {
			users[fields[1]] = strings.Join(fields[2:], " ") + " "
		}
	}
	return users
}
