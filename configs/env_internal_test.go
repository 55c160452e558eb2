package configs

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// sample returns a value of type t unlike any default, as the YAML a variable holds.
func sample(t *testing.T, typ reflect.Type) string {
	t.Helper()
	typ = deref(typ)
	switch {
	case typ == durationType:
		return "1234ms"
	case typ == nodeType:
		return "{probe: 1}"
	}
	switch typ.Kind() {
	case reflect.String:
		return "probe-value"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "43"
	case reflect.Float32, reflect.Float64:
		return "0.125"
	case reflect.Bool:
		return "true"
	case reflect.Slice:
		return "[3s, 4s]"
	case reflect.Map:
		return "{PROBE: 3}"
	}
	t.Fatalf("no sample for %s: teach the test the new kind", typ)
	return ""
}

// valueAt returns the value at path in cfg, nil when a map or pointer on the way lacks it.
func valueAt(cfg *Config, path []string) any {
	v := reflect.ValueOf(cfg).Elem()
	for _, key := range path {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return nil
			}
			v = v.Elem()
		}
		switch v.Kind() {
		case reflect.Struct:
			f, ok := fieldByKey(v.Type(), key)
			if !ok {
				return nil
			}
			v = v.FieldByIndex(f.Index)
		case reflect.Map:
			v = v.MapIndex(reflect.ValueOf(key))
			if !v.IsValid() {
				return nil
			}
		}
	}
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	// Printed, so that a map changed in place still differs from before.
	return fmt.Sprintf("%v", v.Interface())
}

// TestEnv_every_setting_is_reachable sets each setting of Config through its variable
// alone and finds it changed: none lacks a variable, none is shadowed by another.
func TestEnv_every_setting_is_reachable(t *testing.T) {
	t.Parallel()
	all := settings()
	require.Greater(t, len(all), 50)
	for _, s := range all {
		path := append([]string(nil), s.path...)
		name := s.env()
		if s.wild >= 0 {
			path[s.wild] = "order-confirm"
			name = strings.Replace(name, "<NAME>", "ORDER_CONFIRM", 1)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := Default()
			before := valueAt(cfg, path)
			require.NoError(t, cfg.applyEnv(map[string]string{name: sample(t, s.typ)}))
			after := valueAt(cfg, path)
			assert.NotEqual(t, before, after, "%s did not change %s", name, strings.Join(path, "."))
		})
	}
}

// TestEnv_a_new_field_gets_its_variable: settingsOf derives the names from the yaml tags
// of whatever struct it walks, blocks, pointers and maps of blocks included.
func TestEnv_a_new_field_gets_its_variable(t *testing.T) {
	t.Parallel()
	type block struct {
		Rate  float64        `yaml:"rate_limit"`
		Delay *time.Duration `yaml:"delay"`
	}
	type sample struct {
		Name    string           `yaml:"name" env:"file,alias=ORDERFLOW_OLD_NAME"`
		Nested  block            `yaml:"nested-block"`
		Ptr     *block           `yaml:"ptr"`
		PerKey  map[string]block `yaml:"per_key"`
		Scalars map[string]int   `yaml:"scalars"`
		List    []string         `yaml:"list"`
		Node    yaml.Node        `yaml:"node"`
		Skipped string           `yaml:"-"`
		Untaged int
		hidden  int
	}
	_ = sample{}.hidden
	var names []string
	for _, s := range settingsOf(reflect.TypeFor[sample](), nil, -1) {
		names = append(names, s.env())
		if s.key() == "name" {
			assert.True(t, s.file)
			assert.Equal(t, []string{"ORDERFLOW_OLD_NAME"}, s.aliases)
		}
	}
	assert.Equal(t, []string{
		"ORDERFLOW_NAME",
		"ORDERFLOW_NESTED_BLOCK_RATE_LIMIT", "ORDERFLOW_NESTED_BLOCK_DELAY",
		"ORDERFLOW_PTR_RATE_LIMIT", "ORDERFLOW_PTR_DELAY",
		"ORDERFLOW_PER_KEY_<NAME>_RATE_LIMIT", "ORDERFLOW_PER_KEY_<NAME>_DELAY",
		"ORDERFLOW_SCALARS", "ORDERFLOW_LIST", "ORDERFLOW_NODE", "ORDERFLOW_UNTAGED",
	}, names)
}

// TestEnv_names_are_unambiguous: no two variables have one name, none starts as the
// tools' variables do, and no variable of a handler's block ends as another one's does,
// so that the handler name between prefix and suffix is found one way only.
func TestEnv_names_are_unambiguous(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, v := range Variables() {
		if other, ok := seen[v.Name]; ok {
			t.Errorf("%s names both %s and %s", v.Name, other, v.Setting)
		}
		seen[v.Name] = v.Setting
		assert.False(t, hasToolPrefix(v.Name), "%s starts as the tools' variables do", v.Name)
		assert.NotEmpty(t, v.Meaning, "%s has no meaning: comment its line in default.yaml, or give its field a help tag", v.Name)
	}
	var wild []setting
	for _, s := range settings() {
		if s.wild >= 0 {
			wild = append(wild, s)
		}
	}
	for _, a := range wild {
		pa, sa := a.affixes()
		for _, b := range wild {
			pb, sb := b.affixes()
			if a.key() != b.key() && pa == pb && strings.HasSuffix(sa, sb) {
				t.Errorf("%s ends as %s does: a handler name ending in %s would be ambiguous", a.env(), b.env(), strings.TrimSuffix(sa, sb))
			}
		}
		for name := range seen {
			if !strings.Contains(name, "<") && strings.HasPrefix(name, pa) && strings.HasSuffix(name, sa) {
				t.Errorf("%s reads as a variable of %s", name, a.key())
			}
		}
	}
}

func TestCheck_messages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		Name, YAML string
		Want       []string
	}{
		{"bare number for a duration", "shutdown_timeout: 15", []string{`shutdown_timeout: "15" is not a duration; write it with a unit, such as 15s or 500ms`}},
		{"quoted number for a duration", `dedup: {ttl: "15"}`, []string{`dedup.ttl: "15" is not a duration; write it with a unit, such as 15s or 500ms`}},
		{"list item", "amqp: {retry_delays: [1s, 10]}", []string{`amqp.retry_delays[1]: "10" is not a duration; write it with a unit, such as 15s or 500ms`}},
		{"list wanted", "amqp: {retry_delays: 1s}", []string{`amqp.retry_delays: must be a list, such as [1s, 10s], not "1s"`}},
		{"block wanted", "amqp: 5", []string{`amqp: must be a block of settings, not "5"`}},
		{"scalar wanted", "amqp: {prefetch: [1]}", []string{`amqp.prefetch: must be a whole number, not a list`}},
		{"fraction for a whole number", "amqp: {prefetch: 1.5}", []string{`amqp.prefetch: "1.5" is not a whole number`}},
		{"too large", "payment: {breaker: {failures: 99999999999}}", []string{`payment.breaker.failures: "99999999999" is out of range`}},
		{"negative for unsigned", "payment: {breaker: {failures: -1}}", []string{`payment.breaker.failures: "-1" is not a whole number of 0 or more`}},
		{"bool", "dedup: {fail_open: maybe}", []string{`dedup.fail_open: "maybe" is not true or false`}},
		{"seed value", "inventory: {seed: {SKU-RED: lots}}", []string{`inventory.seed.SKU-RED: "lots" is not a whole number`}},
		{"typo", "amqp: {prefech: 3}", []string{`amqp.prefech: no such setting; did you mean amqp.prefetch?`}},
		{"nothing close", "amqp: {zzz: 3}", []string{`amqp.zzz: no such setting (the settings of amqp are management_url, max_body_bytes, max_header_bytes, max_headers, prefetch, publish_channels, queue_type, retry_delays, tls, url)`}},
		{"handler block", "handlers: {order-confirm: {retry: {max_atempts: 3}, timeout: 5}}", []string{
			`handlers.order-confirm.retry.max_atempts: no such setting; did you mean handlers.order-confirm.retry.max_attempts?`,
			`handlers.order-confirm.timeout: "5" is not a duration; write it with a unit, such as 15s or 500ms`,
		}},
		{"twice", "broker: amqp\nbroker: gochannel", []string{`broker: given twice (also on line 1)`}},
		{"settings are the handler's", "handlers: {x: {settings: {anything: [1, 2]}}}", nil},
		{"merge key", "amqp: &a {prefetch: x}\nredis:\n  <<: *a\n", []string{`amqp.prefetch: "x" is not a whole number`, `redis.prefetch: no such setting (the settings of redis are mode, replica_acks, tls, url)`}},
		{"empty value keeps the default", "shutdown_timeout:", nil},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			var doc yaml.Node
			require.NoError(t, yaml.Unmarshal([]byte(tt.YAML), &doc))
			var probs []problem
			check(doc.Content[0], configType, "", &probs)
			var got []string
			for _, p := range probs {
				got = append(got, p.path+": "+p.msg)
			}
			assert.Equal(t, tt.Want, got)
		})
	}
}
