package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/protobuf/proto"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// store keeps jobs in a SQLite file. A row is a job as it was scheduled
// (the Job message) and where it is in its plan; the lease columns say
// which scheduler is delivering its occurrence now, so schedulers of
// several processes sharing the file deliver each occurrence once.
type store struct {
	db   *sql.DB
	path string
}

const schema = `CREATE TABLE IF NOT EXISTS jobs (
	namespace TEXT NOT NULL,
	app_id TEXT NOT NULL,
	name TEXT NOT NULL,
	job BLOB NOT NULL,
	gen TEXT NOT NULL,
	begin_at INTEGER NOT NULL,
	has_due INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	fired INTEGER NOT NULL DEFAULT 0,
	attempts INTEGER NOT NULL DEFAULT 0,
	last_at INTEGER NOT NULL DEFAULT 0,
	tick_at INTEGER NOT NULL,
	next_at INTEGER NOT NULL,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (namespace, app_id, name)
);
CREATE INDEX IF NOT EXISTS jobs_next_at ON jobs (next_at);
CREATE INDEX IF NOT EXISTS jobs_app_next_at ON jobs (namespace, app_id, next_at);`

// openStore opens (creating) the database file at path.
func openStore(ctx context.Context, path string) (*store, error) {
	if path == "" {
		return nil, errors.New("jobs: a database file is required")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("jobs: create the directory of %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("jobs: open %s: %w", path, err)
	}
	// SQLite writes one at a time anyway; a few connections let reads run
	// beside a write.
	db.SetMaxOpenConns(4)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("jobs: create the jobs table in %s: %w", path, err)
	}
	return &store{db: db, path: path}, nil
}

// dsn is how the store opens the file at path: WAL, with writes that wait
// for each other rather than fail.
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + q.Encode()
}

func (s *store) close() error { return s.db.Close() }

// key names a job.
type key struct{ namespace, appID, name string }

// row is a stored job.
type row struct {
	key
	job      *runtimev1pb.Job
	gen      string
	plan     *plan
	fired    uint32
	attempts uint32
	last     time.Time // zero before the first firing
	tick     time.Time // the occurrence due now or next
	next     time.Time // when it is tried next (tick, or a retry after it)
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// errExists is put's answer when the job exists and may not be replaced.
var errExists = errors.New("job already exists")

// put stores a new job, replacing one of its name when overwrite is set.
func (s *store) put(ctx context.Context, r *row, overwrite bool) error {
	data, err := proto.Marshal(r.job)
	if err != nil {
		return fmt.Errorf("encode the job: %w", err)
	}
	verb := "INSERT"
	if overwrite {
		verb = "INSERT OR REPLACE"
	}
	_, err = s.db.ExecContext(ctx, verb+` INTO jobs (namespace, app_id, name, job, gen, begin_at, has_due, expires_at,
		tick_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.namespace, r.appID, r.name, data, r.gen, nanos(r.plan.begin), r.plan.hasDue, nanos(r.plan.expires),
		nanos(r.tick), nanos(r.next))
	if err != nil && !overwrite && strings.Contains(err.Error(), "UNIQUE constraint failed") {
		return errExists
	}
	return err
}

const rowColumns = `namespace, app_id, name, job, gen, begin_at, has_due, expires_at, fired, attempts, last_at, tick_at, next_at`

func scanRow(sc interface{ Scan(...any) error }) (*row, error) {
	var (
		r                                row
		data                             []byte
		begin, expires, last, tick, next int64
		hasDue                           bool
		fired, attempts                  int64
	)
	if err := sc.Scan(&r.namespace, &r.appID, &r.name, &data, &r.gen, &begin, &hasDue, &expires, &fired, &attempts,
		&last, &tick, &next); err != nil {
		return nil, err
	}
	r.job = new(runtimev1pb.Job)
	if err := proto.Unmarshal(data, r.job); err != nil {
		return nil, fmt.Errorf("job %s: the stored job is not one cove writes: %w", r.name, err)
	}
	r.plan = &plan{begin: fromNanos(begin), hasDue: hasDue, expires: fromNanos(expires), repeats: r.job.GetRepeats()}
	if sched := r.job.Schedule; sched != nil {
		c, err := cronParser.Parse(*sched)
		if err != nil {
			return nil, fmt.Errorf("job %s: stored schedule %q: %w", r.name, *sched, err)
		}
		r.plan.cron = c
	}
	r.fired, r.attempts = uint32(fired), uint32(attempts)
	r.last, r.tick, r.next = fromNanos(last), fromNanos(tick), fromNanos(next)
	return &r, nil
}

// get returns a job, nil when there is none.
func (s *store) get(ctx context.Context, k key) (*row, error) {
	r, err := scanRow(s.db.QueryRowContext(ctx, `SELECT `+rowColumns+` FROM jobs WHERE namespace = ? AND app_id = ? AND name = ?`,
		k.namespace, k.appID, k.name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, err
}

// list returns an app's jobs by name.
func (s *store) list(ctx context.Context, namespace, appID string) ([]*row, error) {
	return s.query(ctx, `SELECT `+rowColumns+` FROM jobs WHERE namespace = ? AND app_id = ? ORDER BY name`, namespace, appID)
}

func (s *store) query(ctx context.Context, q string, args ...any) ([]*row, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// delete removes a job; one that does not exist is no error.
func (s *store) delete(ctx context.Context, k key) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM jobs WHERE namespace = ? AND app_id = ? AND name = ?`, k.namespace, k.appID, k.name)
	return err
}

// deletePrefix removes an app's jobs whose names start with prefix.
func (s *store) deletePrefix(ctx context.Context, namespace, appID, prefix string) error {
	esc := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(prefix)
	_, err := s.db.ExecContext(ctx, `DELETE FROM jobs WHERE namespace = ? AND app_id = ? AND name LIKE ? ESCAPE '\'`,
		namespace, appID, esc+"%")
	return err
}

// due returns up to limit of an app's jobs due at now that no scheduler
// is delivering.
func (s *store) due(ctx context.Context, app appKey, now time.Time, limit int) ([]*row, error) {
	return s.query(ctx, `SELECT `+rowColumns+` FROM jobs WHERE namespace = ? AND app_id = ? AND next_at <= ? AND lease_until < ?
		ORDER BY next_at LIMIT ?`, app.namespace, app.appID, now.UnixNano(), now.UnixNano(), limit)
}

// earliest is the next time a job is due after now; zero for none.
func (s *store) earliest(ctx context.Context, now time.Time) (time.Time, error) {
	var n sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MIN(next_at) FROM jobs WHERE next_at > ?`, now.UnixNano()).Scan(&n)
	if err != nil || !n.Valid {
		return time.Time{}, err
	}
	return fromNanos(n.Int64), nil
}

// claim takes the lease on a job's occurrence for owner until until, if
// the job is still the one read (same gen and progress) and nobody holds
// it; false when someone else has it or it changed.
func (s *store) claim(ctx context.Context, r *row, owner string, now, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET lease_owner = ?, lease_until = ?
		WHERE namespace = ? AND app_id = ? AND name = ? AND gen = ? AND fired = ? AND attempts = ? AND lease_until < ?`,
		owner, until.UnixNano(), r.namespace, r.appID, r.name, r.gen, r.fired, r.attempts, now.UnixNano())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// advance records a job's progress and gives up owner's lease; a job
// replaced or deleted meanwhile is left alone.
func (s *store) advance(ctx context.Context, r *row, owner string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE jobs SET fired = ?, attempts = ?, last_at = ?, tick_at = ?, next_at = ?,
		lease_owner = '', lease_until = 0 WHERE namespace = ? AND app_id = ? AND name = ? AND gen = ? AND lease_owner = ?`,
		r.fired, r.attempts, nanos(r.last), nanos(r.tick), nanos(r.next), r.namespace, r.appID, r.name, r.gen, owner)
	return err
}

// finish deletes a job that fires no more, unless it was replaced.
func (s *store) finish(ctx context.Context, r *row) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM jobs WHERE namespace = ? AND app_id = ? AND name = ? AND gen = ?`,
		r.namespace, r.appID, r.name, r.gen)
	return err
}

// release gives up owner's lease without progress: the occurrence is
// delivered again (a scheduler stopping in the middle of a delivery).
func (s *store) release(ctx context.Context, r *row, owner string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE jobs SET lease_owner = '', lease_until = 0
		WHERE namespace = ? AND app_id = ? AND name = ? AND gen = ? AND lease_owner = ?`,
		r.namespace, r.appID, r.name, r.gen, owner)
	return err
}
