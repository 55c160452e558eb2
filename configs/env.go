package configs

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// EnvPrefix begins the variable of every setting: ORDERFLOW_ and the setting's path in
// upper case, with . and - as _ (amqp.prefetch is ORDERFLOW_AMQP_PREFETCH). The names
// come from the yaml tags of Config, so a new setting has its variable at once.
const EnvPrefix = "ORDERFLOW_"

// toolPrefixes begin variables of the test harness and the benchmark tools
// (tests/services.sh, tests/benchreport), which the workers they start inherit; they are
// not settings, and not reported as unknown.
var toolPrefixes = []string{"ORDERFLOW_TEST_", "ORDERFLOW_BENCH"}

// wildcard stands in a setting's path for a key of a map of blocks: handlers.<name>.
const wildcard = "<name>"

// A setting is one value of the configuration that a variable sets.
type setting struct {
	// path holds the YAML keys from the root; path[wild] is wildcard when the setting
	// lives in a map of blocks (wild is -1 otherwise).
	path []string
	wild int
	typ  reflect.Type
	// aliases are further names of the variable, kept from before the names were
	// derived (ORDERFLOW_ADMIN_ADDR for http.admin_addr); from the tag env:"alias=NAME".
	aliases []string
	// file: the value may come from a file named by the variable NAME_FILE (tag
	// env:"file"), for secrets.
	file bool
	// help is the meaning `orderflow help` gives, when default.yaml has no comment for it.
	help string
}

// key writes the setting's path as a config file nests it: amqp.prefetch.
func (s setting) key() string { return strings.Join(s.path, ".") }

// env is the setting's variable; with a wildcard, <NAME> stands for the map key.
func (s setting) env() string { return EnvPrefix + envWord(strings.Join(s.path, "_")) }

// affixes are what a variable of a setting in a map of blocks starts and ends with; the
// map key, in the form envWord gives it, is in between.
func (s setting) affixes() (prefix, suffix string) {
	prefix = EnvPrefix + envWord(strings.Join(s.path[:s.wild], "_")) + "_"
	suffix = "_" + envWord(strings.Join(s.path[s.wild+1:], "_"))
	return prefix, suffix
}

// envWord writes a path or a key as a variable name does: upper case, . and - as _.
func envWord(s string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(s))
}

// settings are every setting of Config, in the order of its fields.
var settings = sync.OnceValue(func() []setting { return settingsOf(configType, nil, -1) })

// settingsOf returns the settings of the struct t at path. A field that is a block (a
// struct) is walked into; a map of blocks (handlers) too, its key a wildcard; anything
// else is one setting: a scalar, a list, a map of scalars (inventory.seed) or a YAML
// node (a handler's own settings).
func settingsOf(t reflect.Type, path []string, wild int) []setting {
	var out []setting
	for i := range t.NumField() {
		f := t.Field(i)
		key := yamlKey(f)
		if key == "" {
			continue
		}
		p := append(slices.Clip(path), key)
		ft := deref(f.Type)
		switch {
		case isBlock(ft):
			out = append(out, settingsOf(ft, p, wild)...)
		case wild < 0 && ft.Kind() == reflect.Map && ft.Key().Kind() == reflect.String && isBlock(deref(ft.Elem())):
			out = append(out, settingsOf(deref(ft.Elem()), append(p, wildcard), len(p))...)
		default:
			s := setting{path: p, wild: wild, typ: f.Type, help: f.Tag.Get("help")}
			for opt := range strings.SplitSeq(f.Tag.Get("env"), ",") {
				switch {
				case opt == "file":
					s.file = true
				case strings.HasPrefix(opt, "alias="):
					s.aliases = append(s.aliases, strings.TrimPrefix(opt, "alias="))
				case opt != "":
					panic(fmt.Sprintf("configs: field %s: unknown env tag option %q", f.Name, opt))
				}
			}
			out = append(out, s)
		}
	}
	return out
}

func isBlock(t reflect.Type) bool { return t.Kind() == reflect.Struct && t != nodeType }

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// A binding is a variable of the environment matched to the setting it sets.
type binding struct {
	name, value string
	set         setting
	// path is the setting's path with the map key in place of the wildcard.
	path []string
	// how: "" for the variable itself, "alias" or "file".
	how string
}

// bind matches every ORDERFLOW_ variable of env to its setting. A variable that names
// no setting is an error, so that a typo (ORDERFLOW_AMQP_PREFECH) does not go unnoticed,
// as an unknown key of a file does not; ORDERFLOW_CONFIG and the tools' variables
// (toolPrefixes) are skipped. mapKeys returns the keys a map of blocks holds already,
// so that a variable finds a key written with an underscore in the file.
func bind(env map[string]string, mapKeys func(path []string) []string) ([]binding, []error) {
	fixed := map[string]binding{}
	var wild []setting
	for _, s := range settings() {
		if s.wild >= 0 {
			wild = append(wild, s)
			continue
		}
		fixed[s.env()] = binding{set: s, path: s.path}
		for _, a := range s.aliases {
			fixed[a] = binding{set: s, path: s.path, how: "alias"}
		}
		if s.file {
			fixed[s.env()+FileSuffix] = binding{set: s, path: s.path, how: "file"}
		}
	}
	names := make([]string, 0, len(env))
	for name := range env {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []binding
	var errs []error
	for _, name := range names {
		if !strings.HasPrefix(name, EnvPrefix) || name == EnvConfig || hasToolPrefix(name) {
			continue
		}
		if b, ok := fixed[name]; ok {
			b.name, b.value = name, env[name]
			out = append(out, b)
			continue
		}
		matches := bindWild(name, wild, mapKeys)
		switch len(matches) {
		case 1:
			b := matches[0]
			b.name, b.value = name, env[name]
			out = append(out, b)
		case 0:
			msg := "names no setting"
			if best := closest(name, slices.Sorted(maps.Keys(fixed))); best != "" {
				msg += "; did you mean " + best + "?"
			}
			errs = append(errs, fmt.Errorf("%s: %s (`orderflow help` lists the variables)", name, msg))
		default:
			var keys []string
			for _, m := range matches {
				keys = append(keys, strings.Join(m.path, "."))
			}
			errs = append(errs, fmt.Errorf("%s: could set %s: set it in the config file instead", name, strings.Join(keys, " or ")))
		}
	}
	return out, errs
}

// bindWild matches name to the settings of maps of blocks. The map key is what lies
// between the affixes, lower case with _ as -, since handler names are written so
// (payment-capture), or the key already in the map that envWord writes the same way. A
// key that fits more than one way is preferred where the map holds it already.
func bindWild(name string, wild []setting, mapKeys func(path []string) []string) []binding {
	var all, known []binding
	for _, s := range wild {
		prefix, suffix := s.affixes()
		if len(name) <= len(prefix)+len(suffix) || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
			continue
		}
		word := name[len(prefix) : len(name)-len(suffix)]
		key, found := strings.ReplaceAll(strings.ToLower(word), "_", "-"), false
		for _, k := range mapKeys(s.path[:s.wild]) {
			if envWord(k) == word {
				key, found = k, true
				break
			}
		}
		path := slices.Clone(s.path)
		path[s.wild] = key
		b := binding{set: s, path: path}
		all = append(all, b)
		if found {
			known = append(known, b)
		}
	}
	if len(all) > 1 && len(known) == 1 {
		return known
	}
	return all
}

func hasToolPrefix(name string) bool {
	for _, p := range toolPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// applyEnv overlays the variables of env on c: every setting's own variable, its
// aliases, and for a secret its _FILE variable. It returns every problem, one line each.
// Variables apply in the order of the settings, so handler_defaults is set before a
// handler's block starts from it.
func (c *Config) applyEnv(env map[string]string) error {
	bindings, errs := bind(env, c.mapKeys)
	groups := map[string][]binding{}
	var order []string
	index := map[string]int{}
	for i, s := range settings() {
		index[s.key()] = i
	}
	for _, b := range bindings {
		k := strings.Join(b.path, ".")
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], b)
	}
	sort.SliceStable(order, func(i, j int) bool {
		return index[groups[order[i]][0].set.key()] < index[groups[order[j]][0].set.key()]
	})
	for _, k := range order {
		if err := c.applyVariable(groups[k]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// applyVariable sets one setting from the variables bound to it: its own, an alias, or
// the file its _FILE variable names. An empty variable counts as unset.
func (c *Config) applyVariable(group []binding) error {
	var set []binding
	for _, b := range group {
		if b.value != "" {
			set = append(set, b)
		}
	}
	if len(set) == 0 {
		return nil
	}
	b := set[0]
	if len(set) > 1 {
		names := make([]string, len(set))
		for i, o := range set {
			names[i] = o.name
		}
		if b.set.file && slices.ContainsFunc(set, func(o binding) bool { return o.how == "file" }) {
			return fmt.Errorf("%s are both set: give the value or the file, not both", strings.Join(names, " and "))
		}
		for _, o := range set[1:] {
			if o.value != b.value {
				return fmt.Errorf("%s are both set, to different values: give one (they are the same setting, %s)", strings.Join(names, " and "), strings.Join(b.path, "."))
			}
		}
	}
	value := b.value
	if b.how == "file" {
		data, err := os.ReadFile(value)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		// Editors and `echo` end a file with a newline, which is never part of the secret.
		value = strings.TrimRight(string(data), "\r\n")
		if value == "" {
			return fmt.Errorf("%s: %s is empty", b.name, b.value)
		}
	}
	label := strings.Join(b.path, ".") + " (" + b.name + ")"
	node, err := envNode(value, b.set.typ)
	if err != nil {
		// Not even YAML: say what the value should be, not what the parser choked on.
		return fmt.Errorf("%s: %q is not %s%s", label, value, noun(b.set.typ), hint(b.set.typ))
	}
	var probs []problem
	check(node, b.set.typ, "", &probs)
	if len(probs) > 0 {
		var errs []error
		for _, p := range probs {
			// A problem of an item of a list or block names the item: amqp.retry_delays[1].
			errs = append(errs, fmt.Errorf("%s (%s): %s", within(strings.Join(b.path, "."), p.path), b.name, p.msg))
		}
		return errors.Join(errs...)
	}
	err = update(reflect.ValueOf(c).Elem(), b.path, nil, c.blockBase, func(v reflect.Value) error {
		if v.Type() == nodeType {
			mergeNode(v.Addr().Interface().(*yaml.Node), node)
			return nil
		}
		// Decoded over what is there, as the file is: a block of scalars (inventory.seed)
		// gains and replaces keys, a list or scalar is replaced.
		return node.Decode(v.Addr().Interface())
	})
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	return nil
}

// within names the item sub of the value at path: amqp.retry_delays[1],
// inventory.seed.SKU-RED.
func within(path, sub string) string {
	switch {
	case sub == "":
		return path
	case strings.HasPrefix(sub, "["):
		return path + sub
	}
	return path + "." + sub
}

// envNode reads a variable's value as the YAML a config file would hold for a setting
// of type t. A string setting takes the value as it is, since URLs and paths are no
// YAML; a list may leave out its brackets (1s, 10s) and a block its braces
// (SKU-RED: 100).
func envNode(value string, t reflect.Type) (*yaml.Node, error) {
	et := deref(t)
	if et.Kind() == reflect.String {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}, nil
	}
	text := strings.TrimSpace(value)
	switch {
	case et.Kind() == reflect.Slice && !strings.HasPrefix(text, "["):
		text = "[" + text + "]"
	case (et.Kind() == reflect.Map || et == nodeType) && !strings.HasPrefix(text, "{"):
		text = "{" + text + "}"
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("empty")
	}
	return doc.Content[0], nil
}

// mergeNode sets the keys of the block src in the block dst, replacing those it holds:
// a variable changes the settings it names of a handler's settings block.
func mergeNode(dst, src *yaml.Node) {
	if dst.Kind != yaml.MappingNode || src.Kind != yaml.MappingNode {
		*dst = *src
		return
	}
next:
	for i := 0; i+1 < len(src.Content); i += 2 {
		for j := 0; j+1 < len(dst.Content); j += 2 {
			if dst.Content[j].Value == src.Content[i].Value {
				dst.Content[j+1] = src.Content[i+1]
				continue next
			}
		}
		dst.Content = append(dst.Content, src.Content[i], src.Content[i+1])
	}
}

// update calls set with the value at path under v, creating the blocks and map entries
// on the way (a missing block starts from what base returns for it), and writes map
// entries back, since a Go map holds no addressable values.
func update(v reflect.Value, path, done []string, base func(path []string, t reflect.Type) (reflect.Value, bool), set func(reflect.Value) error) error {
	if len(path) == 0 {
		return set(v)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			nv := reflect.New(v.Type().Elem())
			if b, ok := base(done, v.Type().Elem()); ok {
				nv.Elem().Set(b)
			}
			v.Set(nv)
		}
		return update(v.Elem(), path, done, base, set)
	case reflect.Struct:
		f, ok := fieldByKey(v.Type(), path[0])
		if !ok {
			return fmt.Errorf("no setting %s in %s", path[0], v.Type())
		}
		return update(v.FieldByIndex(f.Index), path[1:], append(slices.Clip(done), path[0]), base, set)
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		k := reflect.ValueOf(path[0]).Convert(v.Type().Key())
		elem := reflect.New(v.Type().Elem()).Elem()
		if old := v.MapIndex(k); old.IsValid() {
			elem.Set(old)
		}
		if err := update(elem, path[1:], append(slices.Clip(done), path[0]), base, set); err != nil {
			return err
		}
		v.SetMapIndex(k, elem)
		return nil
	}
	return fmt.Errorf("no setting %s under a %s", path[0], v.Type())
}

// blockBase is what a handler's block that the configuration leaves out
// (handlers.<name>.retry, .throttle) starts from when a variable sets one of its values:
// the handler's block as it stands, handler_defaults' unless the file set it. So
// ORDERFLOW_HANDLERS_ORDER_CONFIRM_RETRY_MAX_ATTEMPTS=9 changes max_attempts alone,
// where a file's retry block replaces the whole block.
func (c *Config) blockBase(path []string, t reflect.Type) (reflect.Value, bool) {
	if len(path) != 3 || path[0] != "handlers" {
		return reflect.Value{}, false
	}
	h := reflect.ValueOf(c.Handler(path[1]))
	f, ok := fieldByKey(h.Type(), path[2])
	if !ok || f.Type != t {
		return reflect.Value{}, false
	}
	return h.FieldByIndex(f.Index), true
}

// mapKeys returns the keys of the map at path (handlers), as the configuration holds
// them so far.
func (c *Config) mapKeys(path []string) []string {
	v := reflect.ValueOf(c).Elem()
	for _, key := range path {
		f, ok := fieldByKey(v.Type(), key)
		if !ok {
			return nil
		}
		v = v.FieldByIndex(f.Index)
	}
	if v.Kind() != reflect.Map {
		return nil
	}
	var keys []string
	for _, k := range v.MapKeys() {
		keys = append(keys, k.String())
	}
	sort.Strings(keys)
	return keys
}
