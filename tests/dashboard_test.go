package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// exportedNames returns the names of the series a /metrics text can hold: each family of
// its # TYPE lines, with _bucket, _sum and _count for histograms and _sum and _count for
// summaries.
func exportedNames(text string) map[string]bool {
	names := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) != 4 || fields[0] != "#" || fields[1] != "TYPE" {
			continue
		}
		name := fields[2]
		names[name] = true
		switch fields[3] {
		case "histogram":
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case "summary":
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names
}

var (
	promqlString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promqlRange    = regexp.MustCompile(`\[[^\[\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promqlToken    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*|[0-9][0-9A-Za-z_.]*`)
	promqlCall     = regexp.MustCompile(`^\s*\(`)
	promqlKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true, "Inf": true, "NaN": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	}
)

// metricNames returns the metric names a PromQL expression selects: what is left once
// strings, label matchers, ranges (and the Grafana variables in them) and grouping
// clauses are cut, and neither a number, a keyword nor a function or aggregation called.
func metricNames(expr string) []string {
	expr = promqlString.ReplaceAllString(expr, `""`)
	expr = promqlMatchers.ReplaceAllString(expr, " ")
	expr = promqlRange.ReplaceAllString(expr, " ")
	expr = promqlGrouping.ReplaceAllString(expr, " ")
	var names []string
	for _, loc := range promqlToken.FindAllStringIndex(expr, -1) {
		token := expr[loc[0]:loc[1]]
		if token[0] >= '0' && token[0] <= '9' || promqlKeywords[token] || promqlCall.MatchString(expr[loc[1]:]) {
			continue
		}
		names = append(names, token)
	}
	return names
}

func TestMetricNames_of_promql(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string][]string{
		`sum by (handler) (rate(orderflow_messages_total{outcome!="handled"}[$__rate_interval]))`:              {"orderflow_messages_total"},
		`histogram_quantile(0.99, sum by (le) (rate(orderflow_x_seconds_bucket[10m]))) > 2`:                    {"orderflow_x_seconds_bucket"},
		"max by (queue) (deriv(a{queue!~\"orderflow[.]delay[.].+\"}[10m])) > 0\nand\nmax by (queue) (b) > 1e2": {"a", "b"},
		`orderflow_ready == 0 or on (instance) up offset 5m`:                                                   {"orderflow_ready", "up"},
		`count by (version, goversion) (orderflow_build_info)`:                                                 {"orderflow_build_info"},
	} {
		assert.Equal(t, want, metricNames(expr), expr)
	}
}

// dashboardExprs returns the expressions of every panel of a Grafana dashboard, rows'
// panels included, by panel title; a panel without a query is an error.
func dashboardExprs(t *testing.T, path string) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	type panel struct {
		Type    string  `json:"type"`
		Title   string  `json:"title"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var dashboard struct {
		Title  string  `json:"title"`
		UID    string  `json:"uid"`
		Panels []panel `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dashboard), "%s is JSON", path)
	require.NotEmpty(t, dashboard.UID)
	out := map[string][]string{}
	var walk func([]panel)
	walk = func(panels []panel) {
		for _, p := range panels {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			assert.NotEmpty(t, p.Targets, "panel %q has a query", p.Title)
			for _, target := range p.Targets {
				assert.NotEmpty(t, target.Expr, "panel %q", p.Title)
				out[p.Title] = append(out[p.Title], target.Expr)
			}
		}
	}
	walk(dashboard.Panels)
	return out
}

// alertExprs returns the expression of every rule of a Prometheus rules file, by name.
func alertExprs(t *testing.T, path string) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	out := map[string][]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = append(out[r.Alert], r.Expr)
		}
	}
	return out
}

// TestDashboard_and_alerts_use_only_exported_metrics: every metric that a panel of
// deploy/grafana/orderflow.json or a rule of deploy/prometheus/alerts.yaml selects is one
// a live worker on RabbitMQ exports, and every panel's query parses as PromQL.
func TestDashboard_and_alerts_use_only_exported_metrics(t *testing.T) {
	t.Parallel()
	dashboard := dashboardExprs(t, "../deploy/grafana/orderflow.json")
	alerts := alertExprs(t, "../deploy/prometheus/alerts.yaml")
	require.NotEmpty(t, dashboard)
	require.NotEmpty(t, alerts)
	tool := promtool(t)
	_, _, text := busyAMQPWorker(t)
	exported := exportedNames(text)
	// Prometheus's own series of every scrape target: the one a worker that is gone
	// still has.
	exported["up"] = true

	for source, exprs := range map[string]map[string][]string{"dashboard panel": dashboard, "alert": alerts} {
		for name, list := range exprs {
			for _, expr := range list {
				names := metricNames(expr)
				assert.NotEmpty(t, names, "%s %q selects a metric: %s", source, name, expr)
				for _, metric := range names {
					assert.True(t, exported[metric], "%s %q uses %s, which the worker does not export", source, name, metric)
				}
			}
		}
	}

	// promtool parses the panels' queries as recording rules, Grafana's interval
	// variables given a value.
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	titles := make([]string, 0, len(dashboard))
	for title := range dashboard {
		titles = append(titles, title)
	}
	slices.Sort(titles)
	for i, title := range titles {
		for j, expr := range dashboard[title] {
			expr = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m").Replace(expr)
			quoted, err := json.Marshal(expr)
			require.NoError(t, err)
			fmt.Fprintf(&rules, "      - record: panel_%d_%d\n        expr: %s\n", i, j, quoted)
		}
	}
	file := filepath.Join(t.TempDir(), "dashboard.rules.yaml")
	require.NoError(t, os.WriteFile(file, []byte(rules.String()), 0o600))
	out, err := exec.Command(tool, "check", "rules", file).CombinedOutput()
	assert.NoError(t, err, "the dashboard's queries parse:\n%s", out)
}
