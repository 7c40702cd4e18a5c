package file

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/secretstores"
)

// Type is the component type this package registers.
const Type = "secretstores.local.file"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return &Store{} }})
}

var _ secretstores.Store = (*Store)(nil)

// Store holds the file's secrets in memory; it is read-only after Init and
// safe for concurrent use.
type Store struct {
	secrets map[string]map[string]string
}

// metadata is the component's metadata, with Dapr's keys.
type metadata struct {
	SecretsFile     string `metadata:"secretsFile"`
	NestedSeparator string `metadata:"nestedSeparator"`
	MultiValued     bool   `metadata:"multiValued"`
}

// Init reads and flattens the secrets file.
func (s *Store) Init(_ context.Context, md components.Metadata) error {
	m := metadata{NestedSeparator: ":"}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	if err != nil {
		return err
	}
	path, sep, multi := m.SecretsFile, m.NestedSeparator, m.MultiValued
	if path == "" {
		return fmt.Errorf("metadata secretsFile: required: the path of the JSON file holding the secrets")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("metadata secretsFile: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers as written, not as float64
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return fmt.Errorf("secrets file %s: not a JSON object: %w", path, err)
	}
	s.secrets = map[string]map[string]string{}
	if !multi {
		flat := map[string]string{}
		if err := flatten(flat, "", sep, root); err != nil {
			return fmt.Errorf("secrets file %s: %w", path, err)
		}
		for k, v := range flat {
			s.secrets[k] = map[string]string{k: v}
		}
		return nil
	}
	for name, v := range root {
		vals := map[string]string{}
		switch v.(type) {
		case map[string]any, []any:
			if err := flatten(vals, "", sep, v); err != nil {
				return fmt.Errorf("secrets file %s: secret %s: %w", path, name, err)
			}
		default:
			vals[name] = scalar(v)
		}
		s.secrets[name] = vals
	}
	return nil
}

// flatten adds v's leaves to out under names joined by sep.
func flatten(out map[string]string, prefix, sep string, v any) error {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + sep + k
	}
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if err := flatten(out, join(k), sep, e); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range t {
			if err := flatten(out, join(strconv.Itoa(i)), sep, e); err != nil {
				return err
			}
		}
	default:
		if _, dup := out[prefix]; dup {
			return fmt.Errorf("duplicate secret name %q after flattening with separator %q", prefix, sep)
		}
		out[prefix] = scalar(v)
	}
	return nil
}

// scalar is a JSON leaf as text: strings as they are, numbers as written,
// booleans as true/false, null as empty.
func scalar(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	return strings.TrimSpace(fmt.Sprint(v))
}

// GetSecret returns a copy of one secret's keys.
func (s *Store) GetSecret(_ context.Context, req secretstores.GetRequest) (map[string]string, error) {
	v, ok := s.secrets[req.Name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", secretstores.ErrNotFound, req.Name)
	}
	return maps.Clone(v), nil
}

// BulkGetSecret returns a copy of every secret.
func (s *Store) BulkGetSecret(context.Context, secretstores.BulkGetRequest) (map[string]map[string]string, error) {
	out := make(map[string]map[string]string, len(s.secrets))
	for k, v := range s.secrets {
		out[k] = maps.Clone(v)
	}
	return out, nil
}

// Close forgets the secrets.
func (s *Store) Close() error {
	s.secrets = nil
	return nil
}
