package validate

import (
	"context"
	"net"
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
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/signing"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
)

// otherBranch are files that the compose files name and another piece of work writes:
// their absence is reported as a skip, not a failure, until it lands.
var otherBranch = map[string]string{
	"prometheus/alerts.yaml": "the alerting rules come with the metrics work (issue 10)",
}

// A composeFile is one of the compose files of deploy/ and what the checks that apply
// to both expect of it.
type composeFile struct {
	// name is the file's name under deploy/.
	name string
	// secretsFlags are the flags of compose-secrets.sh that write the secrets it mounts.
	secretsFlags []string
	project      string
	services     []string
	// workerDeps is what every worker waits for, and for what of it.
	workerDeps map[string]string
	// passwordsNode is the RabbitMQ service whose node the passwords step names.
	passwordsNode string
}

var (
	singleCompose = composeFile{
		name:     "compose.yaml",
		project:  "orderflow",
		services: []string{"rabbitmq", "rabbitmq-passwords", "redis", "worker-1", "worker-2", "prometheus"},
		workerDeps: map[string]string{
			"rabbitmq-passwords": types.ServiceConditionCompletedSuccessfully,
			"redis":              types.ServiceConditionHealthy,
		},
		passwordsNode: "rabbitmq",
	}
	clusterCompose = composeFile{
		name:         "compose.cluster.yaml",
		secretsFlags: []string{"--cluster"},
		project:      "orderflow-cluster",
		services: []string{"rabbitmq-1", "rabbitmq-2", "rabbitmq-3", "rabbitmq-passwords",
			"redis-1", "redis-2", "redis-3", "redis-4", "redis-5", "redis-6", "redis-cluster-create",
			"worker-1", "worker-2", "worker-3", "prometheus"},
		workerDeps: map[string]string{
			"rabbitmq-passwords":   types.ServiceConditionCompletedSuccessfully,
			"redis-cluster-create": types.ServiceConditionCompletedSuccessfully,
		},
		passwordsNode: "rabbitmq-1",
	}
	composeFiles = []composeFile{singleCompose, clusterCompose}
)

// load loads the file with compose-spec's loader, as `docker compose` and `podman
// compose` do, with the secrets that deploy/compose-secrets.sh writes in a temp dir
// (ORDERFLOW_SECRETS_DIR); it returns the project and that dir.
func (f composeFile) load(t *testing.T) (*types.Project, string) {
	t.Helper()
	secrets := filepath.Join(t.TempDir(), "secrets")
	args := append([]string{deployPath("compose-secrets.sh")}, f.secretsFlags...)
	out, err := exec.Command("bash", append(args, secrets)...).CombinedOutput()
	require.NoError(t, err, "deploy/compose-secrets.sh: %s", out)
	workingDir, err := filepath.Abs(deployPath())
	require.NoError(t, err)
	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  workingDir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(workingDir, f.name)}},
		Environment: types.Mapping{"ORDERFLOW_SECRETS_DIR": secrets},
	})
	require.NoError(t, err, "deploy/%s", f.name)
	return project, secrets
}

// forEachComposeFile runs test, in parallel, on each compose file as loaded.
func forEachComposeFile(t *testing.T, test func(t *testing.T, f composeFile, project *types.Project)) {
	t.Helper()
	for _, f := range composeFiles {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			project, _ := f.load(t)
			test(t, f, project)
		})
	}
}

// workerServices are the project's services named worker-N.
func workerServices(project *types.Project) []types.ServiceConfig {
	var out []types.ServiceConfig
	for _, name := range project.ServiceNames() {
		if strings.HasPrefix(name, "worker-") {
			out = append(out, project.Services[name])
		}
	}
	return out
}

// mountedSecrets returns what the service's containers see under each secret's target,
// from the files that compose-secrets.sh wrote.
func mountedSecrets(t *testing.T, project *types.Project, svc types.ServiceConfig) map[string]string {
	t.Helper()
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
	return mounted
}

// mountedConfig returns the local file of the config the service mounts at target.
func mountedConfig(t *testing.T, project *types.Project, svc types.ServiceConfig, target string) string {
	t.Helper()
	for _, c := range svc.Configs {
		if c.Target == target {
			return project.Configs[c.Source].File
		}
	}
	t.Fatalf("%s mounts no config at %s", svc.Name, target)
	return ""
}

func serviceEnv(t *testing.T, svc types.ServiceConfig) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range svc.Environment {
		require.NotNil(t, v, "%s: %s has no value", svc.Name, k)
		env[k] = *v
	}
	return env
}

// workerConfig is the config a worker service starts with: its config file and
// environment, with the secrets as mounted.
func workerConfig(t *testing.T, project *types.Project, svc types.ServiceConfig) *configs.Config {
	t.Helper()
	env := serviceEnv(t, svc)
	configFile := mountedConfig(t, project, svc, env["ORDERFLOW_CONFIG"])
	cfg, err := loadWorkerConfig(t, configFile, env, mountedSecrets(t, project, svc))
	require.NoError(t, err, "%s: the worker's config with the generated secrets", svc.Name)
	return cfg
}

// redisNodes parses the worker's Redis URL as the worker does for its mode, with
// go-redis's own parsers: the user, the password and the address of every node named.
func redisNodes(t *testing.T, cfg *configs.Config) (user, password string, addrs []string) {
	t.Helper()
	switch cfg.Redis.Mode {
	case "cluster":
		opts, err := redis.ParseClusterURL(cfg.Redis.URL)
		require.NoError(t, err, "redis.url in mode cluster")
		return opts.Username, opts.Password, opts.Addrs
	case "single":
		opts, err := redis.ParseURL(cfg.Redis.URL)
		require.NoError(t, err, "redis.url in mode single")
		return opts.Username, opts.Password, []string{opts.Addr}
	}
	t.Fatalf("redis.mode %q: no compose file uses it", cfg.Redis.Mode)
	return "", "", nil
}

// redisACL returns the ACL file that the project's Redis nodes load (--aclfile), as
// compose-secrets.sh wrote it, and the services that load it.
func redisACL(t *testing.T, project *types.Project) (string, []types.ServiceConfig) {
	t.Helper()
	var acl string
	var nodes []types.ServiceConfig
	for _, name := range project.ServiceNames() {
		svc := project.Services[name]
		i := slices.Index(svc.Command, "--aclfile")
		if i < 0 {
			continue
		}
		require.Less(t, i+1, len(svc.Command), "%s: --aclfile names no file", name)
		content, ok := mountedSecrets(t, project, svc)[svc.Command[i+1]]
		require.True(t, ok, "%s: --aclfile %s is a secret it mounts", name, svc.Command[i+1])
		if acl != "" {
			assert.Equal(t, acl, content, "%s loads the ACL file the other nodes load", name)
		}
		acl = content
		nodes = append(nodes, svc)
	}
	require.NotEmpty(t, nodes, "a Redis service loads an ACL file")
	return acl, nodes
}

// TestCompose_loads_and_every_file_it_names_exists: the services are there, and every
// config and secret file (the repository's, and those compose-secrets.sh writes) exists.
func TestCompose_loads_and_every_file_it_names_exists(t *testing.T) {
	t.Parallel()
	deploy, err := filepath.Abs(deployPath())
	require.NoError(t, err)
	forEachComposeFile(t, func(t *testing.T, f composeFile, project *types.Project) {
		assert.Equal(t, f.project, project.Name)
		assert.ElementsMatch(t, f.services, project.ServiceNames())

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
	})
}

// TestCompose_workers_get_their_secrets_as_files: every worker runs orderflow:latest,
// hardened, with the config of deploy/orderflow.yaml, every secret as a mounted file
// named by its _FILE variable and no variable that names no setting; the generated
// secrets are accepted by the worker's own loaders and connect as orderflow-worker to
// the vhost of definitions.json, on the project's RabbitMQ and Redis services, as a
// user of their ACL file; the grace period fits the drain.
func TestCompose_workers_get_their_secrets_as_files(t *testing.T) {
	t.Parallel()
	defs := loadDefinitions(t)
	forEachComposeFile(t, func(t *testing.T, f composeFile, project *types.Project) {
		workers := workerServices(project)
		require.NotEmpty(t, workers)
		acl, _ := redisACL(t, project)
		for _, svc := range workers {
			t.Run(svc.Name, func(t *testing.T) {
				assert.Equal(t, "orderflow:latest", svc.Image)
				assert.Equal(t, types.PullPolicyNever, svc.PullPolicy, "the image is built here, not pulled")
				assert.True(t, svc.ReadOnly, "read-only root file system")
				assert.Equal(t, []string{"ALL"}, svc.CapDrop)
				assert.Contains(t, svc.SecurityOpt, "no-new-privileges:true")

				env := serviceEnv(t, svc)
				for _, k := range []string{"ORDERFLOW_AMQP_URL", "ORDERFLOW_REDIS_URL"} {
					assert.NotContains(t, env, k, "%s is a secret: it comes from %s_FILE", k, k)
				}
				mounted := mountedSecrets(t, project, svc)
				for _, k := range []string{"ORDERFLOW_AMQP_URL_FILE", "ORDERFLOW_REDIS_URL_FILE", "ORDERFLOW_SIGNING_KEYS_FILE",
					"ORDERFLOW_ADMIN_TOKEN_FILE", "ORDERFLOW_API_TOKENS_FILE"} {
					require.Contains(t, env, k)
					assert.Contains(t, mounted, env[k], "%s=%s is a secret the service mounts", k, env[k])
				}
				configFile := mountedConfig(t, project, svc, env["ORDERFLOW_CONFIG"])
				assert.Equal(t, filepath.Base(deployPath("orderflow.yaml")), filepath.Base(configFile))

				cfg := workerConfig(t, project, svc)
				_, err := signing.Load(cfg.Signing.KeysFile)
				assert.NoError(t, err, "the generated signing key")
				access, err := worker.NewAccess(cfg)
				assert.NoError(t, err, "the generated tokens")
				assert.Len(t, access.AdminTokens, 1)
				assert.Len(t, access.APITokens, 1)

				for _, raw := range cfg.AMQP.URLs() {
					amqpURL, err := url.Parse(raw)
					require.NoError(t, err)
					assert.Equal(t, "orderflow-worker", amqpURL.User.Username())
					assert.Equal(t, "/"+defs.Vhosts[0].Name, amqpURL.Path)
					assert.Contains(t, project.ServiceNames(), amqpURL.Hostname())
				}
				user, password, addrs := redisNodes(t, cfg)
				for _, addr := range addrs {
					host, _, err := net.SplitHostPort(addr)
					require.NoError(t, err)
					assert.Contains(t, project.ServiceNames(), host)
				}
				assert.Contains(t, acl, "user "+user+" on >"+password+" ", "the ACL holds the URL's user and password")

				require.NotNil(t, svc.StopGracePeriod)
				assert.Greater(t, time.Duration(*svc.StopGracePeriod), cfg.DrainWindow+cfg.ShutdownTimeout,
					"stop_grace_period > drain_window + shutdown_timeout")
				for _, p := range svc.Ports {
					assert.Contains(t, []uint32{8080, 8081}, p.Target)
				}
			})
		}
	})
}

// TestCompose_healthchecks_gate_the_start: what a service waits for to be healthy has a
// healthcheck; what it waits for to complete runs once; every port is published on
// loopback only; the workers wait for the broker users and for Redis; the passwords
// step waits for every RabbitMQ node and sets one for every user of definitions.json.
func TestCompose_healthchecks_gate_the_start(t *testing.T) {
	t.Parallel()
	defs := loadDefinitions(t)
	require.NotEmpty(t, defs.Users)
	forEachComposeFile(t, func(t *testing.T, f composeFile, project *types.Project) {
		for _, svc := range project.Services {
			for dep, d := range svc.DependsOn {
				target, err := project.GetService(dep)
				require.NoError(t, err, "%s depends on %s", svc.Name, dep)
				switch d.Condition {
				case types.ServiceConditionHealthy:
					require.NotNil(t, target.HealthCheck, "%s waits for %s to be healthy, which has no healthcheck", svc.Name, dep)
					assert.False(t, target.HealthCheck.Disable, dep)
					assert.NotEmpty(t, target.HealthCheck.Test, dep)
				case types.ServiceConditionCompletedSuccessfully:
					assert.Equal(t, "no", target.Restart, "%s waits for %s to complete, which runs once", svc.Name, dep)
				}
			}
			for _, p := range svc.Ports {
				assert.Equal(t, "127.0.0.1", p.HostIP, "%s publishes %s on loopback only", svc.Name, p.Published)
			}
		}
		prom, err := project.GetService("prometheus")
		require.NoError(t, err)
		assert.NotNil(t, prom.HealthCheck, "prometheus has a healthcheck")
		for _, svc := range workerServices(project) {
			for dep, condition := range f.workerDeps {
				assert.Equal(t, condition, svc.DependsOn[dep].Condition, "%s waits for %s", svc.Name, dep)
			}
		}

		passwords, err := project.GetService("rabbitmq-passwords")
		require.NoError(t, err)
		for _, node := range rabbitNodes(project) {
			assert.Equal(t, types.ServiceConditionHealthy, passwords.DependsOn[node.Name].Condition,
				"the passwords step waits for %s", node.Name)
		}
		script := strings.Join(passwords.Command, " ")
		words := strings.FieldsFunc(script, func(r rune) bool { return !unicode.IsLetter(r) && r != '-' })
		var mounted []string
		for _, s := range passwords.Secrets {
			mounted = append(mounted, s.Source)
		}
		for _, u := range defs.Users {
			short, ok := strings.CutPrefix(u.Name, "orderflow-")
			require.True(t, ok, "user %s", u.Name)
			assert.Contains(t, mounted, "rabbitmq-"+short+"-password", "user %s gets its password from a secret", u.Name)
			assert.Contains(t, words, short, "the passwords step sets the password of %s", u.Name)
		}
		rabbit, err := project.GetService(f.passwordsNode)
		require.NoError(t, err)
		assert.Contains(t, script, "rabbit@"+rabbit.Hostname+" ", "the passwords step names the node")
	})
}

// TestCompose_one_shot_scripts_parse: the shell scripts that services run instead of
// their image's command are valid sh (dash here, as in the images), after compose
// turned $$ into $.
func TestCompose_one_shot_scripts_parse(t *testing.T) {
	t.Parallel()
	forEachComposeFile(t, func(t *testing.T, f composeFile, project *types.Project) {
		for _, svc := range project.Services {
			if len(svc.Entrypoint) == 0 || svc.Entrypoint[0] != "/bin/sh" {
				continue
			}
			require.Equal(t, []string{"/bin/sh", "-ec"}, []string(svc.Entrypoint), "%s: the script stops at its first error", svc.Name)
			require.Len(t, svc.Command, 1, "%s: one script", svc.Name)
			out, err := exec.Command("sh", "-n", "-c", svc.Command[0]).CombinedOutput()
			assert.NoError(t, err, "%s: sh -n: %s", svc.Name, out)
		}
	})
}

// TestPrometheus_scrapes_every_worker_with_the_admin_token: the Prometheus config each
// compose file mounts scrapes the admin port of each of its worker services with the
// admin token that compose mounts, and loads alerts.yaml from beside it; promtool,
// where installed, accepts its syntax.
func TestPrometheus_scrapes_every_worker_with_the_admin_token(t *testing.T) {
	t.Parallel()
	promtool, _ := exec.LookPath("promtool")
	forEachComposeFile(t, func(t *testing.T, f composeFile, project *types.Project) {
		prom, err := project.GetService("prometheus")
		require.NoError(t, err)
		file := mountedConfig(t, project, prom, "/etc/prometheus/prometheus.yml")
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		// The fields the configs use, strictly: a field added there is added here.
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
		var want []string
		for _, svc := range workerServices(project) {
			want = append(want, svc.Name+":8081")
		}
		assert.ElementsMatch(t, want, targets, "every worker's admin port")
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

		if promtool == "" {
			t.Skip("promtool not installed (Debian: prometheus); its syntax check skipped")
		}
		out, err := exec.Command(promtool, "check", "config", "--syntax-only", file).CombinedOutput()
		assert.NoError(t, err, "promtool check config: %s", out)
	})
}
