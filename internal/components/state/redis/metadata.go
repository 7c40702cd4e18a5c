package redis

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/redisconn"
	"github.com/cove-env/cove/internal/components/state"
)

// metadata is the component's metadata as Dapr's Redis components name
// and read it.
type metadata struct {
	state.RuntimeMetadata
	redisconn.Metadata

	// TTLInSeconds applies to writes that give no ttlInSeconds; nil: none.
	TTLInSeconds *int `metadata:"ttlInSeconds"`

	// QueryIndexes is the JSON list of RediSearch indexes Dapr's query API
	// on Redis uses; see parseQueryIndexes.
	QueryIndexes string `metadata:"queryIndexes"`
}

// settings is the checked component metadata.
type settings struct {
	redisconn.Settings
	md metadata

	// defaultTTL applies to writes that give no ttlInSeconds; nil: none.
	defaultTTL *int
	// queryIndexes are the RediSearch indexes Dapr's query API on Redis
	// uses; see checkQueryModules.
	queryIndexes []queryIndex
}

// queryIndex is one entry of the queryIndexes metadata: a RediSearch
// index over JSON values, with the paths and types it indexes.
type queryIndex struct {
	Name    string `json:"name"`
	Indexes []struct {
		Key  string `json:"key"`
		Type string `json:"type"`
	} `json:"indexes"`
}

// parseSettings decodes the metadata and checks what decoding cannot: the
// required host, combinations, and what cove does not support. It reports
// every problem at once.
func parseSettings(md components.Metadata) (settings, error) {
	m := metadata{Metadata: redisconn.Defaults()}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	conn, connErr := m.Metadata.Check()
	errs := []error{err, connErr}
	s := settings{Settings: conn, md: m, defaultTTL: m.TTLInSeconds}
	if strings.TrimSpace(m.QueryIndexes) != "" {
		idx, err := parseQueryIndexes(m.QueryIndexes)
		if err != nil {
			errs = append(errs, err)
		}
		s.queryIndexes = idx
	}
	return s, errors.Join(errs...)
}

// parseQueryIndexes reads queryIndexes as Dapr writes it: a JSON list of
// {"name": ..., "indexes": [{"key": "a.b", "type": "TEXT"|"NUMERIC"}]}.
func parseQueryIndexes(v string) ([]queryIndex, error) {
	var idx []queryIndex
	if err := json.Unmarshal([]byte(v), &idx); err != nil {
		return nil, fmt.Errorf(`metadata queryIndexes: not a JSON list of {"name": ..., "indexes": [{"key": ..., "type": "TEXT" or "NUMERIC"}]}: %w`, err)
	}
	for i, ix := range idx {
		if ix.Name == "" {
			return nil, fmt.Errorf("metadata queryIndexes[%d]: name is required", i)
		}
		for j, k := range ix.Indexes {
			if k.Key == "" {
				return nil, fmt.Errorf("metadata queryIndexes[%d].indexes[%d]: key is required", i, j)
			}
			if t := strings.ToUpper(k.Type); t != "TEXT" && t != "NUMERIC" {
				return nil, fmt.Errorf("metadata queryIndexes[%d].indexes[%d].type %q: use TEXT or NUMERIC", i, j, k.Type)
			}
		}
	}
	return idx, nil
}
