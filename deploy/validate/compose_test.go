package validate

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/signing"
	"github.com/orderflow/orderflow/app/worker"
)

// otherBranch are files that deploy/compose.yaml names and another piece of work
// writes: their absence is reported as a skip, not a failure, until it lands.
var otherBranch = map[string]string{
	"prometheus/alerts.yaml": "the alerting rules come with the metrics work (issue 10)",
}

// composeProject loads deploy/compose.yaml with compose-spec's loader, as `docker
// compose` and `podman compose` do, with the secrets that deploy/compose-secrets.sh
// writes in a temp dir (ORDERFLOW_SECRETS_DIR); it returns the project and that dir.
func composeProject(t *testing.T) (*types.Project, string) {
	t.Helper()
	secrets := filepath.Join(t.TempDir(), "secrets")
	out, err := exec.Command("bash", deployPath("compose-secrets.sh"), secrets).CombinedOutput()
	require.NoError(t, err, "deploy/compose-secrets.sh: %s", out)
	workingDir, err := filepath.Abs(deployPath())
	require.NoError(t, err)
	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  workingDir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(workingDir, "compose.yaml")}},
		Environment: types.Mapping{"ORDERFLOW_SECRETS_DIR": secrets},
	})
	require.NoError(t, err, "deploy/compose.yaml")
	return project, secrets
}

// TestCompose_loads_and_every_file_it_names_exists: the services are there, and every
// config and secret file (the repository's, and those compose-secrets.sh writes) exists.
func TestCompose_loads_and_every_file_it_names_exists(t *testing.T) {
	t.Parallel()
	project, _ := composeProject(t)
	assert.Equal(t, "orderflow", project.Name)
	assert.ElementsMatch(t, []string{"rabbitmq", "rabbitmq-passwords", "redis", "worker-1", "worker-2", "prometheus"}, project.ServiceNames())

	deploy, err := filepath.Abs(deployPath())
	require.NoError(t, err)
	files := map[string]string{}
	for name, c := range project.Configs {
		files["config "+name] = c.File
	}
	for name, s := range project.Secrets {
		files["secret "+name] = s.File
	}
	for _, svc := range project.Services {
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind {
				files["bind mount of "+svc.Name] = v.Source
			}
		}
	}
	for what, file := range files {
		t.Run(what, func(t *testing.T) {
			require.NotEmpty(t, file, "%s names no file", what)
			if rel, err := filepath.Rel(deploy, file); err == nil {
				if why, ok := otherBranch[filepath.ToSlash(rel)]; ok {
					if _, err := os.Stat(file); os.IsNotExist(err) {
						t.Skipf("deploy/%s is not there yet: %s", rel, why)
					}
				}
			}
			assert.FileExists(t, file)
		})
	}
}

// TestCompose_workers_get_their_secrets_as_files: both workers run orderflow:latest
// with the config of deploy/orderflow.yaml and every secret as a mounted file named by
// its _FILE variable; the generated secrets are accepted by the worker's own loaders
// and connect as orderflow-worker to the vhost of definitions.json, on the rabbitmq and
// redis services; the grace period fits the drain.
func TestCompose_workers_get_their_secrets_as_files(t *testing.T) {
	t.Parallel()
	project, secretsDir := composeProject(t)
	defs := loadDefinitions(t)
	for _, name := range []string{"worker-1", "worker-2"} {
		t.Run(name, func(t *testing.T) {
			svc, err := project.GetService(name)
			require.NoError(t, err)
			assert.Equal(t, "orderflow:latest", svc.Image)
			assert.Equal(t, types.PullPolicyNever, svc.PullPolicy, "the image is built here, not pulled")
			assert.True(t, svc.ReadOnly, "read-only root file system")
			assert.Equal(t, []string{"ALL"}, svc.CapDrop)

			env := map[string]string{}
			for k, v := range svc.Environment {
				require.NotNil(t, v, "%s has no value", k)
				env[k] = *v
			}
			for _, k := range []string{"ORDERFLOW_AMQP_URL", "ORDERFLOW_REDIS_URL"} {
				assert.NotContains(t, env, k, "%s is a secret: it comes from %s_FILE", k, k)
			}

			// What the container sees under each secret's target, from the files written.
			mounted := map[string]string{}
			for _, s := range svc.Secrets {
				target := s.Target
				if target == "" {
					target = s.Source
				}
				if !path.IsAbs(target) {
					target = "/run/secrets/" + target
				}
				data, err := os.ReadFile(project.Secrets[s.Source].File)
				require.NoError(t, err, "secret %s", s.Source)
				mounted[target] = string(data)
			}
			for _, k := range []string{"ORDERFLOW_AMQP_URL_FILE", "ORDERFLOW_REDIS_URL_FILE", "ORDERFLOW_SIGNING_KEYS_FILE",
				"ORDERFLOW_ADMIN_TOKEN_FILE", "ORDERFLOW_API_TOKENS_FILE"} {
				require.Contains(t, env, k)
				assert.Contains(t, mounted, env[k], "%s=%s is a secret the service mounts", k, env[k])
			}
			var configFile string
			for _, c := range svc.Configs {
				if c.Target == env["ORDERFLOW_CONFIG"] {
					configFile = project.Configs[c.Source].File
				}
			}
			require.NotEmpty(t, configFile, "ORDERFLOW_CONFIG=%s is a config the service mounts", env["ORDERFLOW_CONFIG"])
			assert.Equal(t, filepath.Base(deployPath("orderflow.yaml")), filepath.Base(configFile))

			cfg, err := loadWorkerConfig(t, configFile, env, mounted)
			require.NoError(t, err, "the worker's config with the generated secrets")
			_, err = signing.Load(cfg.Signing.KeysFile)
			assert.NoError(t, err, "the generated signing key")
			access, err := worker.NewAccess(cfg)
			assert.NoError(t, err, "the generated tokens")
			assert.Len(t, access.AdminTokens, 1)
			assert.Len(t, access.APITokens, 1)

			amqpURL, err := url.Parse(cfg.AMQP.URL)
			require.NoError(t, err)
			assert.Equal(t, "orderflow-worker", amqpURL.User.Username())
			assert.Equal(t, "/"+defs.Vhosts[0].Name, amqpURL.Path)
			assert.Contains(t, project.ServiceNames(), amqpURL.Hostname())
			redisURL, err := url.Parse(cfg.Redis.URL)
			require.NoError(t, err)
			assert.Contains(t, project.ServiceNames(), redisURL.Hostname())
			redisPassword, _ := redisURL.User.Password()
			acl, err := os.ReadFile(filepath.Join(secretsDir, "redis-users.acl"))
			require.NoError(t, err)
			assert.Contains(t, string(acl), "user "+redisURL.User.Username()+" on >"+redisPassword+" ", "the ACL holds the URL's user and password")

			require.NotNil(t, svc.StopGracePeriod)
			assert.Greater(t, time.Duration(*svc.StopGracePeriod), cfg.DrainWindow+cfg.ShutdownTimeout,
				"stop_grace_period > drain_window + shutdown_timeout")
			for _, p := range svc.Ports {
				assert.Contains(t, []uint32{8080, 8081}, p.Target)
			}
		})
	}
}

// TestCompose_healthchecks_gate_the_start: what a service waits for to be healthy has a
// healthcheck; what it waits for to complete runs once; every port is published on
// loopback only; the passwords step sets one for every user of definitions.json.
func TestCompose_healthchecks_gate_the_start(t *testing.T) {
	t.Parallel()
	project, _ := composeProject(t)
	for _, name := range []string{"rabbitmq", "redis", "prometheus"} {
		svc, err := project.GetService(name)
		require.NoError(t, err)
		require.NotNil(t, svc.HealthCheck, "%s has a healthcheck", name)
		assert.False(t, svc.HealthCheck.Disable, name)
		assert.NotEmpty(t, svc.HealthCheck.Test, name)
	}
	for _, svc := range project.Services {
		for dep, d := range svc.DependsOn {
			target, err := project.GetService(dep)
			require.NoError(t, err, "%s depends on %s", svc.Name, dep)
			switch d.Condition {
			case types.ServiceConditionHealthy:
				assert.NotNil(t, target.HealthCheck, "%s waits for %s to be healthy, which has no healthcheck", svc.Name, dep)
			case types.ServiceConditionCompletedSuccessfully:
				assert.Equal(t, "no", target.Restart, "%s waits for %s to complete, which runs once", svc.Name, dep)
			}
		}
		for _, p := range svc.Ports {
			assert.Equal(t, "127.0.0.1", p.HostIP, "%s publishes %s on loopback only", svc.Name, p.Published)
		}
	}
	for _, name := range []string{"worker-1", "worker-2"} {
		svc, err := project.GetService(name)
		require.NoError(t, err)
		assert.Equal(t, types.ServiceConditionCompletedSuccessfully, svc.DependsOn["rabbitmq-passwords"].Condition,
			"%s starts once the broker users have passwords", name)
		assert.Equal(t, types.ServiceConditionHealthy, svc.DependsOn["redis"].Condition, name)
	}

	passwords, err := project.GetService("rabbitmq-passwords")
	require.NoError(t, err)
	script := strings.Join(passwords.Command, " ")
	words := strings.FieldsFunc(script, func(r rune) bool { return !unicode.IsLetter(r) && r != '-' })
	var mounted []string
	for _, s := range passwords.Secrets {
		mounted = append(mounted, s.Source)
	}
	defs := loadDefinitions(t)
	require.NotEmpty(t, defs.Users)
	for _, u := range defs.Users {
		short, ok := strings.CutPrefix(u.Name, "orderflow-")
		require.True(t, ok, "user %s", u.Name)
		assert.Contains(t, mounted, "rabbitmq-"+short+"-password", "user %s gets its password from a secret", u.Name)
		assert.Contains(t, words, short, "the passwords step sets the password of %s", u.Name)
	}
	rabbit, err := project.GetService("rabbitmq")
	require.NoError(t, err)
	assert.Contains(t, script, "rabbit@"+rabbit.Hostname, "the passwords step names the node")
}

// TestPrometheus_scrapes_both_workers_with_the_admin_token: deploy/prometheus/
// prometheus.yaml scrapes the admin port of each worker service with the admin token
// that compose mounts, and loads alerts.yaml from beside it; promtool, where installed,
// accepts its syntax.
func TestPrometheus_scrapes_both_workers_with_the_admin_token(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(deployPath("prometheus", "prometheus.yaml"))
	require.NoError(t, err)
	// The fields prometheus.yaml uses, strictly: a field added there is added here.
	var cfg struct {
		Global struct {
			ScrapeInterval     string `json:"scrape_interval"`
			EvaluationInterval string `json:"evaluation_interval"`
		} `json:"global"`
		RuleFiles     []string `json:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			MetricsPath   string `json:"metrics_path"`
			Authorization struct {
				Type            string `json:"type"`
				CredentialsFile string `json:"credentials_file"`
			} `json:"authorization"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	require.NoError(t, decodeStrict(data, &cfg))
	assert.Equal(t, []string{"alerts.yaml"}, cfg.RuleFiles)
	require.Len(t, cfg.ScrapeConfigs, 1)
	job := cfg.ScrapeConfigs[0]
	assert.Equal(t, "orderflow", job.JobName)
	assert.Equal(t, "/metrics", job.MetricsPath)
	var targets []string
	for _, sc := range job.StaticConfigs {
		targets = append(targets, sc.Targets...)
	}

	project, _ := composeProject(t)
	var want []string
	for _, name := range project.ServiceNames() {
		if strings.HasPrefix(name, "worker-") {
			want = append(want, name+":8081")
		}
	}
	assert.ElementsMatch(t, want, targets, "every worker's admin port")
	prom, err := project.GetService("prometheus")
	require.NoError(t, err)
	assert.Equal(t, "Bearer", job.Authorization.Type)
	assert.Equal(t, "/run/secrets/admin-token", job.Authorization.CredentialsFile)
	assert.True(t, slices.ContainsFunc(prom.Secrets, func(s types.ServiceSecretConfig) bool { return s.Source == "admin-token" }),
		"prometheus mounts the admin token")
	var mounted []string
	for _, c := range prom.Configs {
		mounted = append(mounted, c.Target)
	}
	assert.ElementsMatch(t, []string{"/etc/prometheus/prometheus.yml", "/etc/prometheus/alerts.yaml"}, mounted,
		"the config where the image reads it, and the rules beside it")

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian: prometheus); its syntax check skipped")
	}
	out, err := exec.Command(promtool, "check", "config", "--syntax-only", deployPath("prometheus", "prometheus.yaml")).CombinedOutput()
	assert.NoError(t, err, "promtool check config: %s", out)
}
