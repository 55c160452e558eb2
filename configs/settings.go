package configs

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// DecodeSettings decodes a handler's settings block (handlers.<name>.settings) over dst,
// a pointer to a struct holding the defaults, and validates the result with dst's
// Validate method when it has one. Every error names the setting, with prefix, e.g.
// "handlers.fraud-screen.settings.max_orders: must be >= 1, got 0". An absent block
// keeps the defaults.
func DecodeSettings(prefix string, block yaml.Node, dst any) error {
	if block.Kind != 0 {
		if err := decodeKnown(prefix, block, dst); err != nil {
			return err
		}
	}
	v, ok := dst.(interface{ Validate() error })
	if !ok {
		return nil
	}
	return prefixed(prefix, v.Validate())
}

func decodeKnown(prefix string, block yaml.Node, dst any) error {
	if block.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: must be a block of setting: value lines, got %q", prefix, block.Value)
	}
	known := settingKeys(dst)
	var errs []error
	for i := 0; i+1 < len(block.Content); i += 2 {
		key := block.Content[i].Value
		if !known[key] {
			errs = append(errs, fmt.Errorf("%s.%s: no such setting (the settings are %s)", prefix, key, strings.Join(sortedKeys(known), ", ")))
			continue
		}
		// Decoded one by one, so that each error names its setting.
		one := yaml.Node{Kind: yaml.MappingNode, Content: block.Content[i : i+2]}
		if err := one.Decode(dst); err != nil {
			errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, key, yamlReason(err)))
		}
	}
	return errors.Join(errs...)
}

// settingKeys returns the YAML keys of the struct dst points to.
func settingKeys(dst any) map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return keys
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys[name] = true
	}
	return keys
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// yamlReason keeps what a YAML type error says about the value, without the Go type
// names a person configuring the service cannot act on.
func yamlReason(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return te.Errors[0]
	}
	return err.Error()
}

// prefixed puts prefix and a dot before each of the errors err joins.
func prefixed(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var list []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		list = joined.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, len(list))
	for i, e := range list {
		out[i] = fmt.Errorf("%s.%s", prefix, e.Error())
	}
	return errors.Join(out...)
}
