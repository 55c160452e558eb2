package configs

import (
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// A Variable is an environment variable of the configuration, as `orderflow help` lists
// it.
type Variable struct {
	// Name is the variable; <NAME> stands for a handler's name written as a variable
	// writes it (payment-capture: PAYMENT_CAPTURE).
	Name string
	// Setting is the path of the setting it sets (amqp.prefetch, handlers.<name>.timeout);
	// "" for ORDERFLOW_CONFIG.
	Setting string
	// Default is the value of the embedded default, as default.yaml writes it; "" when
	// it sets none.
	Default string
	// Meaning says what the setting does, in a line: the comment default.yaml has for
	// it, or its help tag.
	Meaning string
}

// Variables returns every variable of the configuration: ORDERFLOW_CONFIG, then each
// setting's, in the order of Config's fields, each followed by its aliases and its _FILE
// variable.
func Variables() []Variable {
	docs := defaultDocs()
	out := []Variable{{Name: EnvConfig, Meaning: "a YAML config file over the embedded default, as --config"}}
	all := settings()
	for _, s := range all {
		d := docs[s.key()]
		// With a wildcard, env() writes <name> as <NAME> already.
		v := Variable{Name: s.env(), Setting: s.key(), Default: d.value, Meaning: d.comment}
		if s.help != "" {
			v.Meaning = s.help
		}
		if v.Meaning == "" && s.wild >= 0 {
			// A handler's own block: as handler_defaults' setting of the same name.
			if like, ok := sameSuffix(s, all); ok {
				v.Meaning = "as " + like.env() + ", for <NAME> alone"
			}
		}
		out = append(out, v)
		for _, a := range s.aliases {
			out = append(out, Variable{Name: a, Setting: s.key(), Meaning: "alias of " + s.env()})
		}
		if s.file {
			out = append(out, Variable{Name: s.env() + FileSuffix, Setting: s.key(),
				Meaning: "a file that holds the value of " + s.env() + " (a secret kept out of the environment)"})
		}
	}
	return out
}

// sameSuffix returns the one setting outside a map of blocks whose path ends as s's does
// after its wildcard: handler_defaults.retry.max_attempts for
// handlers.<name>.retry.max_attempts.
func sameSuffix(s setting, all []setting) (setting, bool) {
	tail := strings.Join(s.path[s.wild+1:], ".")
	var found []setting
	for _, o := range all {
		if o.wild < 0 && strings.HasSuffix("."+o.key(), "."+tail) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		return setting{}, false
	}
	return found[0], true
}

type doc struct{ value, comment string }

// defaultDocs returns, by setting path, the value default.yaml gives and the comment on
// its line.
var defaultDocs = sync.OnceValue(func() map[string]doc {
	var root yaml.Node
	if err := yaml.Unmarshal(defaultYAML, &root); err != nil || len(root.Content) == 0 {
		return nil
	}
	docs := map[string]doc{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := join(path, k.Value)
			comment := k.LineComment
			if comment == "" {
				comment = v.LineComment
			}
			value := flow(v)
			if v.Kind == yaml.ScalarNode && v.Value == "" {
				value = "" // sets none
			}
			docs[key] = doc{value: value, comment: strings.TrimSpace(strings.TrimPrefix(comment, "#"))}
			if v.Kind == yaml.MappingNode {
				walk(v, key)
			}
		}
	}
	walk(root.Content[0], "")
	return docs
})

// flow writes the YAML value n on one line: a scalar as it is (an empty string as ""),
// a list as [a, b], a block as {k: v}.
func flow(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		items := make([]string, len(n.Content))
		for i, c := range n.Content {
			items[i] = flow(c)
		}
		return "[" + strings.Join(items, ", ") + "]"
	case yaml.MappingNode:
		var pairs []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			pairs = append(pairs, n.Content[i].Value+": "+flow(n.Content[i+1]))
		}
		return "{" + strings.Join(pairs, ", ") + "}"
	}
	if n.Value == "" {
		return `""`
	}
	return n.Value
}
