package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/configuration"
)

// Type is the component type this package registers.
const Type = "configuration.local.file"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return &Store{} }})
}

var _ configuration.Store = (*Store)(nil)

// Store reads its items from the file at every Get and each subscription
// polls it; it is safe for concurrent use.
type Store struct {
	path     string
	interval time.Duration
	log      *slog.Logger

	subs configuration.Subscriptions
}

// metadata is the component's metadata.
type metadata struct {
	FilePath     string        `metadata:"filePath"`
	PollInterval time.Duration `metadata:"pollInterval"`
}

// Init checks the metadata and that the file holds valid items.
func (s *Store) Init(_ context.Context, md components.Metadata) error {
	s.log = slog.Default().With("component", md.Name, "type", Type)
	m := metadata{PollInterval: time.Second}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	if m.FilePath == "" {
		return fmt.Errorf("%s %q: metadata filePath: required: the path of the YAML or JSON file holding the items", Type, md.Name)
	}
	if m.PollInterval <= 0 {
		return fmt.Errorf("%s %q: metadata pollInterval: %s: must be positive, such as 1s or 500ms", Type, md.Name, m.PollInterval)
	}
	s.path, s.interval = m.FilePath, m.PollInterval
	if _, _, err := s.load(); err != nil {
		return fmt.Errorf("%s %q: metadata filePath: %w", Type, md.Name, err)
	}
	return nil
}

// load stats and reads the file; the stat is taken first, so a change
// made while reading is seen again at the next poll.
func (s *Store) load() (os.FileInfo, map[string]*configuration.Item, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return nil, nil, err
	}
	items, err := parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration file %s: %w", s.path, err)
	}
	return fi, items, nil
}

// parse reads a mapping of keys to a scalar value or to an item mapping
// with value, version and metadata. JSON is read as the YAML it is.
func parse(data []byte) (map[string]*configuration.Item, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	items := map[string]*configuration.Item{}
	if len(doc.Content) == 0 { // an empty file holds no items
		return items, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: not a mapping of keys to items; write key: value or key: {value: ..., version: ...}", root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if _, dup := items[k.Value]; dup {
			return nil, fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
		}
		it, err := item(v)
		if err != nil {
			return nil, fmt.Errorf("line %d: key %q: %w", v.Line, k.Value, err)
		}
		if it.Version == "" {
			sum := sha256.Sum256([]byte(it.Value))
			it.Version = hex.EncodeToString(sum[:6])
		}
		items[k.Value] = it
	}
	return items, nil
}

// item reads one key's node: a scalar is the value; a mapping has value,
// version and metadata (a mapping of strings).
func item(n *yaml.Node) (*configuration.Item, error) {
	it := &configuration.Item{Metadata: map[string]string{}}
	switch n.Kind {
	case yaml.ScalarNode:
		it.Value = scalar(n)
		return it, nil
	case yaml.MappingNode:
	default:
		return nil, errors.New("not a value or a mapping with value, version and metadata")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "value", "version":
			if v.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s: not a string, number or boolean", k.Value)
			}
			if k.Value == "value" {
				it.Value = scalar(v)
			} else {
				it.Version = scalar(v)
			}
		case "metadata":
			if v.Kind != yaml.MappingNode {
				return nil, errors.New("metadata: not a mapping of names to strings")
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				if v.Content[j+1].Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("metadata %s: not a string", v.Content[j].Value)
				}
				it.Metadata[v.Content[j].Value] = scalar(v.Content[j+1])
			}
		default:
			return nil, fmt.Errorf("unknown field %q; an item has value, version and metadata", k.Value)
		}
	}
	return it, nil
}

// scalar is a scalar as written (100 stays "100", true stays "true"); null
// is empty.
func scalar(n *yaml.Node) string {
	if n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// Get reads the file and returns the items of keys (every item when none
// is given); a missing key is left out.
func (s *Store) Get(_ context.Context, keys []string, _ map[string]string) (map[string]*configuration.Item, error) {
	_, items, err := s.load()
	if err != nil {
		return nil, err
	}
	return pick(items, keys), nil
}

// pick returns the items of keys, or all of them when keys is empty.
func pick(items map[string]*configuration.Item, keys []string) map[string]*configuration.Item {
	if len(keys) == 0 {
		return items
	}
	out := make(map[string]*configuration.Item, len(keys))
	for _, k := range keys {
		if it, ok := items[k]; ok {
			out[k] = it
		}
	}
	return out
}

// Subscribe reads the file now and then polls it, reporting the items of
// keys that differ from the previous read.
func (s *Store) Subscribe(ctx context.Context, keys []string, _ map[string]string, h configuration.Handler) (string, error) {
	fi, items, err := s.load()
	if err != nil {
		return "", err
	}
	items = pick(items, keys)
	id, subCtx, done, err := s.subs.Start(ctx)
	if err != nil {
		return "", err
	}
	go func() {
		defer done()
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			select {
			case <-subCtx.Done():
				return
			case <-t.C:
			}
			cur, err := os.Stat(s.path)
			if err != nil {
				if fi != nil {
					s.log.Warn("configuration file unreadable; changes are not reported until it is back", "path", s.path, "error", err)
				}
				fi = nil
				continue
			}
			if fi != nil && os.SameFile(fi, cur) && cur.ModTime().Equal(fi.ModTime()) && cur.Size() == fi.Size() {
				continue
			}
			nfi, next, err := s.load()
			if err != nil {
				s.log.Warn("configuration file not read; changes are not reported until it is fixed", "error", err)
				fi = cur // warn once per change of the file
				continue
			}
			fi, next = nfi, pick(next, keys)
			if changed := diff(items, next); len(changed) > 0 {
				if err := h(subCtx, &configuration.Update{ID: id, Items: changed}); err != nil && subCtx.Err() == nil {
					s.log.Warn("configuration change not delivered", "subscription", id, "error", err)
				}
			}
			items = next
		}
	}()
	return id, nil
}

// diff returns the items of next that are new or differ from old, and an
// empty item for each key of old that next lacks.
func diff(old, next map[string]*configuration.Item) map[string]*configuration.Item {
	out := map[string]*configuration.Item{}
	for k, it := range next {
		if o, ok := old[k]; !ok || o.Value != it.Value || o.Version != it.Version || !maps.Equal(o.Metadata, it.Metadata) {
			out[k] = it
		}
	}
	for k := range old {
		if _, ok := next[k]; !ok {
			out[k] = &configuration.Item{}
		}
	}
	return out
}

// Unsubscribe ends the subscription id.
func (s *Store) Unsubscribe(_ context.Context, id string) error { return s.subs.Unsubscribe(id) }

// Close ends every subscription and waits for them.
func (s *Store) Close() error {
	s.subs.Close()
	return nil
}
