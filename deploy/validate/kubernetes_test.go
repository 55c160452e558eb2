package validate

import (
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/orderflow/orderflow/app/signing"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
)

const namespace = "orderflow"

// TestKubernetes_manifests_decode_strictly: every object of deploy/kubernetes/ decodes
// into its API type with no field that the type lacks, lives in the namespace that
// namespace.yaml creates, and carries the app label.
func TestKubernetes_manifests_decode_strictly(t *testing.T) {
	t.Parallel()
	objs := loadKube(t)
	require.Len(t, objs.Namespaces, 1)
	assert.Equal(t, namespace, objs.Namespaces[0].Name)
	for _, o := range objs.Objects {
		if o.Kind != "Namespace" {
			assert.Equal(t, namespace, o.Namespace, "%s: namespace", o)
		}
		assert.Equal(t, "orderflow", o.Labels["app.kubernetes.io/name"], "%s: label app.kubernetes.io/name", o)
	}
	for _, kinds := range []int{len(objs.ConfigMaps), len(objs.Secrets), len(objs.Services), len(objs.Deployments),
		len(objs.PDBs), len(objs.ScaledObjects), len(objs.TriggerAuths)} {
		assert.NotZero(t, kinds)
	}
}

// TestKubernetes_deployment_runs_the_image_as_it_was_built: the image's user, ports and
// command; probes where they belong; a grace period the worker's drain fits in; no root,
// no writable root file system; resources.
func TestKubernetes_deployment_runs_the_image_as_it_was_built(t *testing.T) {
	t.Parallel()
	objs := loadKube(t)
	d := objs.deployment(t)
	pod := d.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]

	assert.True(t, selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels), "the selector selects the pods")

	assert.Equal(t, "orderflow:latest", c.Image, "the image `make image` builds")
	assert.Equal(t, []string{"run"}, c.Args)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	assert.Equal(t, map[string]int32{"http": 8080, "admin": 8081}, ports)
	env := envOf(c)
	assert.Equal(t, "0.0.0.0:8080", env["ORDERFLOW_HTTP_ADDR"], "the public listener on the http port")
	assert.Equal(t, "0.0.0.0:8081", env["ORDERFLOW_ADMIN_ADDR"], "the admin listener on the admin port")

	require.NotNil(t, c.LivenessProbe)
	require.NotNil(t, c.LivenessProbe.HTTPGet)
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "admin", c.LivenessProbe.HTTPGet.Port.String(), "liveness away from public traffic")
	require.NotNil(t, c.ReadinessProbe)
	require.NotNil(t, c.ReadinessProbe.HTTPGet)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, "http", c.ReadinessProbe.HTTPGet.Port.String(), "readiness on the port the Service sends callers to")
	assert.Nil(t, c.Lifecycle, "no preStop: the worker drains by itself on SIGTERM")

	// The config the pods start with, from the ConfigMap and the Secrets as mounted.
	cfg, err := loadWorkerConfig(t, configFileOf(t, objs, c, env), env, secretFilesOf(t, objs, pod, c))
	require.NoError(t, err, "the config of the ConfigMap, with the Secrets' files")
	assert.Equal(t, "amqp", cfg.Broker)
	assert.Equal(t, "redis", cfg.Store)
	require.NotNil(t, pod.TerminationGracePeriodSeconds)
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	assert.Greater(t, grace, cfg.DrainWindow+cfg.ShutdownTimeout, "terminationGracePeriodSeconds > drain_window + shutdown_timeout")

	psc := pod.SecurityContext
	require.NotNil(t, psc)
	assert.Equal(t, ptr(true), psc.RunAsNonRoot)
	assert.Equal(t, ptr(int64(65532)), psc.RunAsUser, "the image's USER")
	require.NotNil(t, psc.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type)
	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, ptr(true), sc.ReadOnlyRootFilesystem)
	assert.Equal(t, ptr(false), sc.AllowPrivilegeEscalation)
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Equal(t, ptr(false), pod.AutomountServiceAccountToken)

	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		assert.Contains(t, c.Resources.Requests, r, "requests")
	}
	assert.Contains(t, c.Resources.Limits, corev1.ResourceMemory, "limits")
}

// TestKubernetes_services_and_pdb_select_the_workers: the public Service on the http
// port, the admin one on the admin port and ClusterIP only, the budget over the same
// pods, leaving at least one of the fewest KEDA keeps.
func TestKubernetes_services_and_pdb_select_the_workers(t *testing.T) {
	t.Parallel()
	objs := loadKube(t)
	d := objs.deployment(t)
	podLabels := d.Spec.Template.Labels
	require.Len(t, objs.Services, 2)
	targets := map[string]string{}
	for _, s := range objs.Services {
		assert.True(t, selects(s.Spec.Selector, podLabels), "Service %s selects the workers", s.Name)
		require.Len(t, s.Spec.Ports, 1, "Service %s", s.Name)
		targets[s.Name] = s.Spec.Ports[0].TargetPort.String()
		if s.Name == "orderflow-admin" {
			assert.Equal(t, corev1.ServiceTypeClusterIP, s.Spec.Type, "the admin Service is ClusterIP only")
		}
	}
	assert.Equal(t, map[string]string{"orderflow": "http", "orderflow-admin": "admin"}, targets)

	require.Len(t, objs.PDBs, 1)
	pdb := objs.PDBs[0]
	assert.True(t, selects(pdb.Spec.Selector.MatchLabels, podLabels), "the budget covers the workers")
	require.NotNil(t, pdb.Spec.MaxUnavailable)
	require.Len(t, objs.ScaledObjects, 1)
	minReplicas := int(*objs.ScaledObjects[0].Spec.MinReplicaCount)
	assert.Less(t, pdb.Spec.MaxUnavailable.IntValue(), minReplicas, "a drain leaves a worker running")
}

// TestKubernetes_configmap_holds_deploy_orderflow_yaml: compose and Kubernetes run the
// workers with one config.
func TestKubernetes_configmap_holds_deploy_orderflow_yaml(t *testing.T) {
	t.Parallel()
	objs := loadKube(t)
	cm, ok := objs.configMap("orderflow-config")
	require.True(t, ok)
	want, err := os.ReadFile(deployPath("orderflow.yaml"))
	require.NoError(t, err)
	assert.Equal(t, string(want), cm.Data["config.yaml"], "deploy/kubernetes/configmap.yaml drifted from deploy/orderflow.yaml")
}

// TestKubernetes_secret_templates_cannot_run: the Secrets in deploy/kubernetes/secrets/
// hold placeholders only, which the worker refuses at start, so that nobody deploys
// them as they are; and they are outside the directory that `kubectl apply -f` applies.
func TestKubernetes_secret_templates_cannot_run(t *testing.T) {
	t.Parallel()
	objs := loadKube(t)
	require.NotEmpty(t, objs.Secrets)
	for _, o := range objs.Objects {
		if o.Kind == "Secret" {
			assert.Equal(t, "secrets", path.Base(path.Dir(o.File)), "%s: a Secret outside secrets/ would be applied with the rest", o)
		}
	}
	for _, s := range objs.Secrets {
		assert.Empty(t, s.Data, "Secret %s: templates are stringData, readable", s.Name)
		for key, value := range s.StringData {
			assert.Contains(t, value, "REPLACE_ME", "Secret %s, key %s: a placeholder", s.Name, key)
		}
	}
	tokens, _ := objs.secret("orderflow-tokens")
	keys, _ := objs.secret("orderflow-signing-keys")
	dir := t.TempDir()
	admin, api := dir+"/admin-token", dir+"/api-tokens"
	require.NoError(t, os.WriteFile(admin, []byte(tokens.StringData["admin-token"]), 0o600))
	require.NoError(t, os.WriteFile(api, []byte(tokens.StringData["api-tokens"]), 0o600))
	for _, cfg := range []configs.Config{{HTTP: configs.HTTP{AdminTokenFile: admin}}, {HTTP: configs.HTTP{APITokensFile: api}}} {
		_, err := worker.NewAccess(&cfg)
		assert.Error(t, err, "the token placeholder is refused")
	}
	_, err := signing.Parse([]byte(keys.StringData["signing-keys"]))
	assert.Error(t, err, "the signing key placeholder is refused")
}

// envOf returns a container's plain environment values.
func envOf(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

// configFileOf returns the local file that holds what the container reads as
// ORDERFLOW_CONFIG, through its volume mounts and the ConfigMap.
func configFileOf(t *testing.T, objs *kubeObjects, c corev1.Container, env map[string]string) string {
	t.Helper()
	want := env["ORDERFLOW_CONFIG"]
	require.NotEmpty(t, want, "ORDERFLOW_CONFIG")
	d := objs.deployment(t)
	for _, m := range c.VolumeMounts {
		key, ok := strings.CutPrefix(want, m.MountPath+"/")
		if !ok {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm, ok := objs.configMap(v.ConfigMap.Name)
			require.True(t, ok, "ConfigMap %s", v.ConfigMap.Name)
			data, ok := cm.Data[key]
			require.True(t, ok, "ConfigMap %s has no key %s", cm.Name, key)
			file := t.TempDir() + "/config.yaml"
			require.NoError(t, os.WriteFile(file, []byte(data), 0o600))
			return file
		}
	}
	t.Fatalf("ORDERFLOW_CONFIG %s is in no ConfigMap volume", want)
	return ""
}

// secretFilesOf returns, for every file the container's _FILE variables name, its
// content as the Secret templates hold it, following the volume mounts and the
// projected volume's items; a variable whose file no Secret key provides fails.
func secretFilesOf(t *testing.T, objs *kubeObjects, pod corev1.PodSpec, c corev1.Container) map[string]string {
	t.Helper()
	files := map[string]string{}
	for name, value := range envOf(c) {
		if !strings.HasSuffix(name, "_FILE") {
			continue
		}
		content, ok := secretFile(t, objs, pod, c, value)
		require.True(t, ok, "%s=%s: no Secret key is mounted there", name, value)
		files[value] = content
	}
	for _, name := range []string{"ORDERFLOW_AMQP_URL_FILE", "ORDERFLOW_REDIS_URL_FILE", "ORDERFLOW_SIGNING_KEYS_FILE",
		"ORDERFLOW_ADMIN_TOKEN_FILE", "ORDERFLOW_API_TOKENS_FILE"} {
		assert.Contains(t, envOf(c), name, "every secret comes from a file")
	}
	return files
}

func secretFile(t *testing.T, objs *kubeObjects, pod corev1.PodSpec, c corev1.Container, file string) (string, bool) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, m.MountPath+"/")
		if !ok {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			var sources []corev1.SecretProjection
			switch {
			case v.Projected != nil:
				for _, s := range v.Projected.Sources {
					if s.Secret != nil {
						sources = append(sources, *s.Secret)
					}
				}
			case v.Secret != nil:
				sources = append(sources, corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: v.Secret.SecretName}, Items: v.Secret.Items})
			}
			for _, src := range sources {
				secret, ok := objs.secret(src.Name)
				require.True(t, ok, "volume %s names Secret %s, which secrets/ has no template of", v.Name, src.Name)
				for _, item := range src.Items {
					if item.Path == rel {
						value, ok := secret.StringData[item.Key]
						require.True(t, ok, "Secret %s has no key %s", secret.Name, item.Key)
						return value, true
					}
				}
			}
		}
	}
	return "", false
}

// selects reports whether a label selector picks pods with podLabels. An empty one is
// taken as selecting nothing: for a Service it would select no pod, and for the rest it
// is a mistake.
func selects(matchLabels, podLabels map[string]string) bool {
	return len(matchLabels) > 0 && labels.SelectorFromSet(matchLabels).Matches(labels.Set(podLabels))
}

func ptr[T any](v T) *T { return &v }
