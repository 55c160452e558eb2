package configs

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[time.Duration]()
	nodeType     = reflect.TypeFor[yaml.Node]()
)

// A problem is one thing wrong with a YAML value, found before it is decoded.
type problem struct {
	// path names the value from where the check began: amqp.retry_delays[1].
	path string
	line int
	msg  string
}

// check walks the YAML node n against the Go type t that it will be decoded into, and
// appends a problem for each key that names no setting, each value of the wrong shape
// and each scalar that does not decode, so that every one is reported at once with the
// setting it belongs to. yaml.v3 itself stops naming settings at the first level and
// names Go types instead ("cannot unmarshal !!int `15` into time.Duration").
func check(n *yaml.Node, t reflect.Type, path string, out *[]problem) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value keeps what is there, as yaml.v3 does
	}
	bad := func(format string, args ...any) {
		*out = append(*out, problem{path: path, line: n.Line, msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case t == nodeType:
		// Decoded later by whoever owns it (DecodeSettings), which checks it then.
	case t.Kind() == reflect.Pointer:
		check(n, t.Elem(), path, out)
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad("must be a block of settings, not %s", describeNode(n))
			return
		}
		checkBlock(n, t, path, out)
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			bad("must be %s, not %s", noun(t), describeNode(n))
			return
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if first, ok := seen[k.Value]; ok {
				*out = append(*out, problem{path: join(path, k.Value), line: k.Line, msg: fmt.Sprintf("given twice (also on line %d)", first)})
				continue
			}
			seen[k.Value] = k.Line
			check(v, t.Elem(), join(path, k.Value), out)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad("must be %s, not %s", noun(t), describeNode(n))
			return
		}
		for i, item := range n.Content {
			check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), out)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			bad("must be %s, not %s%s", noun(t), describeNode(n), hint(t))
			return
		}
		if msg := checkScalar(n, t); msg != "" {
			bad("%s", msg)
		}
	}
}

// checkBlock checks the keys of the mapping n against the settings of the struct t.
func checkBlock(n *yaml.Node, t reflect.Type, path string, out *[]problem) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			// A YAML merge key brings in the keys of another block (or blocks).
			if v.Kind == yaml.SequenceNode {
				for _, m := range v.Content {
					check(m, t, path, out)
				}
			} else {
				check(v, t, path, out)
			}
			continue
		}
		key := join(path, k.Value)
		if first, ok := seen[k.Value]; ok {
			*out = append(*out, problem{path: key, line: k.Line, msg: fmt.Sprintf("given twice (also on line %d)", first)})
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fieldByKey(t, k.Value)
		if !ok {
			*out = append(*out, problem{path: key, line: k.Line, msg: "no such setting" + suggestKey(path, k.Value, blockKeys(t))})
			continue
		}
		check(v, f.Type, key, out)
	}
}

// checkScalar returns what is wrong with the scalar n as a value of type t, or "".
func checkScalar(n *yaml.Node, t reflect.Type) string {
	v := reflect.New(t)
	if err := n.Decode(v.Interface()); err != nil {
		if isInt(t) && t != durationType && n.ShortTag() == "!!int" && !strings.HasPrefix(n.Value, "-") {
			return fmt.Sprintf("%q is out of range", n.Value)
		}
		return fmt.Sprintf("%q is not %s%s", n.Value, noun(t), hint(t))
	}
	// yaml.v3 truncates 1.5 to 1 for an integer setting, without a word.
	if isInt(t) && t != durationType && n.ShortTag() == "!!float" {
		if f, err := strconv.ParseFloat(n.Value, 64); err != nil || f != math.Trunc(f) {
			return fmt.Sprintf("%q is not %s", n.Value, noun(t))
		}
	}
	return ""
}

func isInt(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// noun says what a value of type t is, for messages: "a duration", "a whole number".
func noun(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return "a duration"
	case t == nodeType:
		return "a block of key: value settings, such as {key: value}"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number of 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a single value"
	case reflect.Slice:
		return "a list, such as " + example(t)
	case reflect.Map:
		return "a block of key: value pairs, such as " + example(t)
	case reflect.Struct:
		return "a block of settings"
	}
	return t.String()
}

// hint is what a message adds to say how to write a value of type t.
func hint(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		// yaml.v3 takes no bare number as a duration: 15 could be seconds or nanoseconds.
		return "; write it with a unit, such as 15s or 500ms"
	}
	return ""
}

// example writes a short list or block of type t in YAML's flow style.
func example(t reflect.Type) string {
	item := func(t reflect.Type) string {
		switch {
		case t == durationType:
			return "1s"
		case isInt(t):
			return "1"
		case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
			return "0.5"
		case t.Kind() == reflect.Bool:
			return "true"
		}
		return "x"
	}
	if t.Kind() == reflect.Map {
		return "{KEY: " + item(t.Elem()) + "}"
	}
	first, second := item(t.Elem()), item(t.Elem())
	if t.Elem() == durationType {
		second = "10s"
	}
	return "[" + first + ", " + second + "]"
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a block"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlKey returns the YAML key of the struct field f, or "" when YAML skips it.
func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return strings.ToLower(f.Name) // as yaml.v3 names an untagged field
	}
	return name
}

// fieldByKey returns the field of the struct t that the YAML key key sets.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); yamlKey(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// blockKeys returns the YAML keys of the struct t, in its order.
func blockKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if k := yamlKey(t.Field(i)); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// suggestKey returns "; did you mean PATH?" for the known key closest to key, when one is
// close enough to be a typo, else the list of the settings of the block.
func suggestKey(path, key string, known []string) string {
	if best := closest(key, known); best != "" {
		return "; did you mean " + join(path, best) + "?"
	}
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	where := "the settings here"
	if path != "" {
		where = "the settings of " + path
	}
	return " (" + where + " are " + strings.Join(sorted, ", ") + ")"
}

// closest returns the candidate nearest to s by edit distance, when it is at most a
// quarter of s's length away (at least 2), else "".
func closest(s string, candidates []string) string {
	best, bestDist := "", max(2, len(s)/4)+1
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, over bytes (keys and variable
// names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
