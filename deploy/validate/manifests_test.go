package validate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/orderflow/orderflow/configs"
)

// deployPath returns the path of a file under deploy/, from this package's directory,
// where `go test` runs.
func deployPath(elem ...string) string {
	return filepath.Join(append([]string{".."}, elem...)...)
}

// decodeStrict decodes one YAML document into out, refusing fields that out's type
// does not have and keys given twice: a misspelt or misplaced field is an error here,
// where kubectl would drop it with a warning at best.
func decodeStrict(doc []byte, out any) error {
	return yaml.UnmarshalStrict(doc, out)
}

// documents splits a YAML file into its documents, leaving out those that hold only
// comments.
func documents(data []byte) [][]byte {
	var docs [][]byte
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		for _, line := range strings.Split(string(doc), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				docs = append(docs, doc)
				break
			}
		}
	}
	return docs
}

// kubeObjects are the objects of deploy/kubernetes/ (the files `kubectl apply -f
// deploy/kubernetes/` applies) and of its secrets/ templates, by kind, each decoded
// strictly into its API type.
type kubeObjects struct {
	Namespaces    []corev1.Namespace
	ConfigMaps    []corev1.ConfigMap
	Secrets       []corev1.Secret
	Services      []corev1.Service
	Deployments   []appsv1.Deployment
	PDBs          []policyv1.PodDisruptionBudget
	ScaledObjects []ScaledObject
	TriggerAuths  []TriggerAuthentication
	// Objects names every object as file: kind/name, for the checks on all of them.
	Objects []kubeObject
}

type kubeObject struct {
	File, APIVersion, Kind, Name, Namespace string
	Labels                                  map[string]string
}

func (o kubeObject) String() string { return o.File + ": " + o.Kind + "/" + o.Name }

// decodeInto decodes doc strictly and appends it to list.
func decodeInto[T any](doc []byte, list *[]T) error {
	var obj T
	if err := decodeStrict(doc, &obj); err != nil {
		return err
	}
	*list = append(*list, obj)
	return nil
}

// add decodes doc into the list of its kind; a kind that no list takes is an error.
func (o *kubeObjects) add(file string, doc []byte) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string            `json:"name"`
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	o.Objects = append(o.Objects, kubeObject{File: file, APIVersion: head.APIVersion, Kind: head.Kind,
		Name: head.Metadata.Name, Namespace: head.Metadata.Namespace, Labels: head.Metadata.Labels})
	switch head.APIVersion + " " + head.Kind {
	case "v1 Namespace":
		return decodeInto(doc, &o.Namespaces)
	case "v1 ConfigMap":
		return decodeInto(doc, &o.ConfigMaps)
	case "v1 Secret":
		return decodeInto(doc, &o.Secrets)
	case "v1 Service":
		return decodeInto(doc, &o.Services)
	case "apps/v1 Deployment":
		return decodeInto(doc, &o.Deployments)
	case "policy/v1 PodDisruptionBudget":
		return decodeInto(doc, &o.PDBs)
	case "keda.sh/v1alpha1 ScaledObject":
		return decodeInto(doc, &o.ScaledObjects)
	case "keda.sh/v1alpha1 TriggerAuthentication":
		return decodeInto(doc, &o.TriggerAuths)
	}
	return fmt.Errorf("no API type for apiVersion %q, kind %q", head.APIVersion, head.Kind)
}

// loadKube decodes every YAML file of deploy/kubernetes/ and deploy/kubernetes/secrets/.
func loadKube(t *testing.T) *kubeObjects {
	t.Helper()
	objs := &kubeObjects{}
	var files []string
	for _, pattern := range []string{"*.yaml", "secrets/*.yaml"} {
		matches, err := filepath.Glob(deployPath("kubernetes", pattern))
		require.NoError(t, err)
		files = append(files, matches...)
	}
	require.NotEmpty(t, files)
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		docs := documents(data)
		require.NotEmpty(t, docs, "%s holds no object", file)
		for i, doc := range docs {
			require.NoError(t, objs.add(file, doc), "%s, document %d", file, i+1)
		}
	}
	return objs
}

// The one object of a kind that the manifests hold, by name.
func (o *kubeObjects) deployment(t *testing.T) appsv1.Deployment {
	t.Helper()
	require.Len(t, o.Deployments, 1, "one Deployment")
	return o.Deployments[0]
}

func (o *kubeObjects) secret(name string) (corev1.Secret, bool) {
	for _, s := range o.Secrets {
		if s.Name == name {
			return s, true
		}
	}
	return corev1.Secret{}, false
}

func (o *kubeObjects) configMap(name string) (corev1.ConfigMap, bool) {
	for _, c := range o.ConfigMaps {
		if c.Name == name {
			return c, true
		}
	}
	return corev1.ConfigMap{}, false
}

// definitions is what the tests read of deploy/rabbitmq/definitions.json.
type definitions struct {
	Users []struct {
		Name   string         `json:"name"`
		Limits map[string]int `json:"limits"`
	} `json:"users"`
	Vhosts []struct {
		Name string `json:"name"`
	} `json:"vhosts"`
	Queues []struct {
		Name  string `json:"name"`
		Vhost string `json:"vhost"`
	} `json:"queues"`
}

func loadDefinitions(t *testing.T) definitions {
	t.Helper()
	data, err := os.ReadFile(deployPath("rabbitmq", "definitions.json"))
	require.NoError(t, err)
	var defs definitions
	require.NoError(t, json.Unmarshal(data, &defs))
	return defs
}

// userLimit returns the connection limit of a user of the definitions.
func (d definitions) userLimit(t *testing.T, user string) int {
	t.Helper()
	for _, u := range d.Users {
		if u.Name == user {
			limit, ok := u.Limits["max-connections"]
			require.True(t, ok, "%s has no max-connections in definitions.json", user)
			return limit
		}
	}
	t.Fatalf("no user %s in definitions.json", user)
	return 0
}

// loadWorkerConfig loads the config file at path as the worker does, with env as its
// whole environment and files as the files the _FILE variables and key files name (by
// the path the worker sees, e.g. /run/secrets/amqp-url, to their content): the result
// is the config the container starts with, or the error that would stop it, a variable
// that names no setting included.
func loadWorkerConfig(t *testing.T, path string, env map[string]string, files map[string]string) (*configs.Config, error) {
	t.Helper()
	dir := t.TempDir()
	local := map[string]string{}
	for name, content := range files {
		p := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(name, "/"), "/", "_"))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		local[name] = p
	}
	environ := make([]string, 0, len(env))
	for name, v := range env {
		if p, ok := local[v]; ok && strings.HasSuffix(name, "_FILE") {
			v = p
		}
		environ = append(environ, name+"="+v)
	}
	return configs.LoadEnv(path, environ)
}
