package sqlite

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/sqlquery"
)

// Defaults, as Dapr's SQLite store documents them.
const (
	defaultTableName         = "state"
	defaultMetadataTableName = "metadata"
	defaultTimeout           = 20 * time.Second
	defaultBusyTimeout       = 2 * time.Second
	defaultCleanupInterval   = time.Hour
)

// settings is the parsed component metadata.
type settings struct {
	connectionString  string
	tableName         string
	metadataTableName string
	timeout           time.Duration
	busyTimeout       time.Duration
	cleanupInterval   time.Duration // <= 0: no cleanup loop
	disableWAL        bool
}

// metadata is the component's metadata as Dapr's SQLite store names and
// reads it.
type metadata struct {
	state.RuntimeMetadata

	ConnectionString  string        `metadata:"connectionString,url"`
	TableName         string        `metadata:"tableName"`
	MetadataTableName string        `metadata:"metadataTableName"`
	Timeout           time.Duration `metadata:"timeout,timeoutInSeconds"`
	BusyTimeout       time.Duration `metadata:"busyTimeout"`
	CleanupInterval   time.Duration `metadata:"cleanupInterval,cleanupIntervalInSeconds"`
	DisableWAL        bool          `metadata:"disableWAL"`
}

// parseSettings decodes the metadata and checks what decoding cannot:
// the required connection string, names, ranges. It reports every problem
// at once.
func parseSettings(md components.Metadata) (settings, error) {
	m := metadata{
		TableName:         defaultTableName,
		MetadataTableName: defaultMetadataTableName,
		Timeout:           defaultTimeout,
		BusyTimeout:       defaultBusyTimeout,
		CleanupInterval:   defaultCleanupInterval,
	}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err}
	s := settings{
		connectionString:  m.ConnectionString,
		tableName:         m.TableName,
		metadataTableName: m.MetadataTableName,
		timeout:           m.Timeout,
		busyTimeout:       m.BusyTimeout,
		cleanupInterval:   m.CleanupInterval,
		disableWAL:        m.DisableWAL,
	}
	if s.connectionString == "" {
		errs = append(errs, errors.New("metadata connectionString is required (a file path, a file: URI or :memory:)"))
	}
	for _, id := range []struct{ key, v string }{{"tableName", s.tableName}, {"metadataTableName", s.metadataTableName}} {
		if !sqlquery.ValidIdentifier(id.v) {
			errs = append(errs, fmt.Errorf("metadata %s %q: only letters, digits and _ are allowed", id.key, id.v))
		}
	}
	if s.timeout <= 0 {
		errs = append(errs, fmt.Errorf("metadata timeout %s: must be positive", s.timeout))
	}
	return s, errors.Join(errs...)
}

// database is where the store's data lives, resolved from connectionString.
type database struct {
	path   string     // file path; "" for an in-memory database
	query  url.Values // URI parameters the user gave
	memory bool
}

// resolveDatabase turns connectionString into a path, resolving a relative
// path against baseDir so an environment's data stays in its directory.
func resolveDatabase(conn, baseDir string) (database, error) {
	path, rawQuery, _ := strings.Cut(conn, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return database{}, fmt.Errorf("connectionString query %q: %w", rawQuery, err)
	}
	for _, p := range q["_pragma"] {
		p = strings.ToLower(strings.TrimSpace(p))
		for _, forbidden := range []string{"busy_timeout", "journal_mode"} {
			if strings.HasPrefix(p, forbidden) {
				return database{}, fmt.Errorf("connectionString sets _pragma=%s: use the busyTimeout and disableWAL metadata instead", forbidden)
			}
		}
	}
	if strings.HasPrefix(strings.ToLower(path), "file:") {
		path = path[len("file:"):]
		// file:///abs/path and file://localhost/abs/path carry an authority.
		if rest, ok := strings.CutPrefix(path, "//"); ok {
			host, p, _ := strings.Cut(rest, "/")
			if host != "" && host != "localhost" {
				return database{}, fmt.Errorf("connectionString %q: a file: URI may not name a host", conn)
			}
			path = "/" + p
		}
		if unescaped, err := url.PathUnescape(path); err == nil {
			path = unescaped
		}
	}
	if path == ":memory:" || path == "" || q.Get("mode") == "memory" {
		return database{query: q, memory: true}, nil
	}
	if !filepath.IsAbs(path) && baseDir != "" {
		path = filepath.Join(baseDir, path)
	}
	return database{path: path, query: q}, nil
}

// dsn builds the driver's connection string for one of the two pools.
func (d database) dsn(s settings, writer bool) string {
	q := url.Values{}
	for k, v := range d.query {
		if k == "_pragma" || k == "_txlock" {
			continue
		}
		q[k] = v
	}
	pragmas := append([]string{}, d.query["_pragma"]...)
	userSync := false
	for _, p := range pragmas {
		userSync = userSync || strings.HasPrefix(strings.ToLower(strings.TrimSpace(p)), "synchronous")
	}
	if s.busyTimeout > 0 {
		pragmas = append(pragmas, fmt.Sprintf("busy_timeout(%d)", s.busyTimeout.Milliseconds()))
	}
	switch {
	case d.memory:
		// An in-memory database has no file to journal to; MEMORY keeps
		// rollback working.
		pragmas = append(pragmas, "journal_mode(MEMORY)")
	case s.disableWAL:
		pragmas = append(pragmas, "journal_mode(DELETE)")
	default:
		pragmas = append(pragmas, "journal_mode(WAL)")
	}
	if !userSync {
		// In WAL mode a commit is appended to the WAL file before it is
		// acknowledged, so it survives the process being killed; NORMAL
		// only skips the fsync per commit, which matters for a power cut
		// (the last commits may roll back, the file stays intact), not for
		// a crash of cove. With the rollback journal, FULL is what keeps
		// the database intact across a power cut.
		if s.disableWAL {
			pragmas = append(pragmas, "synchronous(FULL)")
		} else {
			pragmas = append(pragmas, "synchronous(NORMAL)")
		}
	}
	if writer {
		// Take the write lock at BEGIN, so a transaction never fails
		// half-way when another process holds it; busy_timeout waits.
		q.Set("_txlock", "immediate")
	} else {
		pragmas = append(pragmas, "query_only(1)")
	}
	q["_pragma"] = pragmas
	if d.memory {
		return ":memory:?" + q.Encode()
	}
	// SQLite decodes %HH in URI filenames, so escape what would end the path.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(d.path)
	return "file:" + esc + "?" + q.Encode()
}

// ensureDir creates the database's directory, so a fresh environment
// directory works without a setup step, and a new database file readable
// by its owner only, as the environment CA's key: SQLite would create it
// by the umask (0644), and its -wal and -shm files take the file's mode.
func (d database) ensureDir() error {
	if d.memory {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(d.path), 0o750); err != nil {
		return fmt.Errorf("create directory for %s: %w", d.path, err)
	}
	f, err := os.OpenFile(d.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", d.path, err)
	}
	return f.Close()
}
