// Package postgresql is the configuration.postgresql store, as Dapr's: items
// are rows of a table the user creates (key, value, version, metadata), and
// changes arrive through LISTEN/NOTIFY from a trigger on that table, with
// Dapr's payload: {"table", "action", "data": <the row>}. docs/configuration.md
// has the table and the trigger.
//
// Each subscription holds a connection of its own (not one of the pool's),
// since a listening connection cannot serve queries.
package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/configuration"
	"github.com/cove-env/cove/internal/components/pgconn"
)

// Type is the component type this package registers, also under Dapr's
// other name for it, configuration.postgres.
const Type = "configuration.postgresql"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
	components.Register(components.Info{Type: "configuration.postgres", New: func() any { return New() }})
}

var _ configuration.Store = (*Store)(nil)

const (
	defaultTimeout = 20 * time.Second
	// maxIdentifier is PostgreSQL's identifier length limit.
	maxIdentifier = 63
	// notifyChannelMetadata names the channel in a subscribe request when
	// the component does not.
	notifyChannelMetadata = "pgNotifyChannel"
)

var (
	// Dapr's rules: keys may hold letters, digits, '.', '/' and '_'; table
	// and channel names only lower-case ones.
	validKey        = regexp.MustCompile(`^[a-zA-Z0-9./_]*$`)
	validIdentifier = regexp.MustCompile(`^[a-z0-9./_]+$`)
)

type metadata struct {
	pgconn.Metadata
	Table           string        `metadata:"table"`
	NotifyChannel   string        `metadata:"notifyChannel,pgNotifyChannel"`
	Timeout         time.Duration `metadata:"timeout,timeoutInSeconds"`
	ConnMaxIdleTime time.Duration `metadata:"connMaxIdleTime"` // Dapr's older name of connectionMaxIdleTime
}

// Store is the PostgreSQL configuration store.
type Store struct {
	md   metadata
	pool *pgxpool.Pool
	log  *slog.Logger

	subs configuration.Subscriptions
}

// New returns an uninitialised store.
func New() *Store { return &Store{log: slog.Default()} }

// Init reads the metadata, connects, and checks that the table exists: it
// is the user's, with the trigger that reports changes.
func (s *Store) Init(ctx context.Context, md components.Metadata) error {
	s.log = slog.Default().With("component", md.Name, "type", Type)
	m := metadata{Timeout: defaultTimeout}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err}
	if m.ConnectionMaxIdleTime == 0 {
		m.ConnectionMaxIdleTime = m.ConnMaxIdleTime
	}
	pool, err := m.Metadata.Pool(m.Timeout)
	errs = append(errs, err)
	switch {
	case m.Table == "":
		errs = append(errs, errors.New("metadata table is required: the table holding the items (see Dapr's configuration.postgresql)"))
	case len(m.Table) > maxIdentifier || !validIdentifier.MatchString(m.Table):
		errs = append(errs, fmt.Errorf("metadata table %q: use lower-case letters, digits, '.', '/' and '_', at most %d", m.Table, maxIdentifier))
	}
	if m.NotifyChannel != "" {
		errs = append(errs, checkChannel(m.NotifyChannel))
	}
	if m.Timeout < time.Second {
		errs = append(errs, fmt.Errorf("metadata timeout %s: must be at least 1s", m.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	p, err := pgxpool.NewWithConfig(cctx, pool)
	if err != nil {
		return fmt.Errorf("%s %q: connect to PostgreSQL at %s: %w", Type, md.Name, pgconn.Address(pool), err)
	}
	if err := p.Ping(cctx); err != nil {
		p.Close()
		return fmt.Errorf("%s %q: cannot reach PostgreSQL at %s: %w", Type, md.Name, pgconn.Address(pool), err)
	}
	var exists bool
	if err := p.QueryRow(cctx, `SELECT to_regclass($1) IS NOT NULL`, m.Table).Scan(&exists); err != nil {
		p.Close()
		return fmt.Errorf("%s %q: look for table %s: %w", Type, md.Name, m.Table, err)
	}
	if !exists {
		p.Close()
		return fmt.Errorf("%s %q: metadata table: table %q does not exist in PostgreSQL at %s; create it (key, value, version, metadata) with its notify trigger, as docs/configuration.md shows", Type, md.Name, m.Table, pgconn.Address(pool))
	}
	s.md, s.pool = m, p
	return nil
}

func checkChannel(c string) error {
	if len(c) > maxIdentifier || !validIdentifier.MatchString(c) {
		return fmt.Errorf("notifyChannel %q: use lower-case letters, digits, '.', '/' and '_', at most %d", c, maxIdentifier)
	}
	return nil
}

// Get reads the rows of keys (every row when none is given). Of several
// rows for one key, the one with the highest numeric version wins, else
// the first, as in Dapr.
func (s *Store) Get(ctx context.Context, keys []string, _ map[string]string) (map[string]*configuration.Item, error) {
	for _, k := range keys {
		if !validKey.MatchString(k) {
			return nil, fmt.Errorf("invalid key : '%s'", k)
		}
	}
	q := `SELECT key, value, version, metadata FROM ` + s.md.Table
	var args []any
	if len(keys) > 0 {
		q += ` WHERE key = ANY($1)`
		args = append(args, keys)
	}
	items := map[string]*configuration.Item{}
	versions := map[string]int{}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", s.md.Table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key, value, version string
			md                  []byte
		)
		if err := rows.Scan(&key, &value, &version, &md); err != nil {
			return nil, fmt.Errorf("read %s: %w", s.md.Table, err)
		}
		it := &configuration.Item{Value: value, Version: version, Metadata: map[string]string{}}
		if len(md) > 0 && string(md) != "null" {
			if err := json.Unmarshal(md, &it.Metadata); err != nil {
				return nil, fmt.Errorf("read %s: key %s: metadata is not a JSON object of strings: %w", s.md.Table, key, err)
			}
		}
		n := numeric(version)
		if _, seen := items[key]; !seen || n > versions[key] {
			items[key], versions[key] = it, n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", s.md.Table, err)
	}
	return items, nil
}

func numeric(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

// Subscribe LISTENs on the notify channel (the component's, else the
// request's pgNotifyChannel) on a connection of its own.
func (s *Store) Subscribe(ctx context.Context, keys []string, md map[string]string, h configuration.Handler) (string, error) {
	channel := s.md.NotifyChannel
	if channel == "" {
		for k, v := range md {
			if strings.EqualFold(k, notifyChannelMetadata) {
				channel = v
			}
		}
	}
	if channel == "" {
		return "", fmt.Errorf("unable to subscribe to %q: set notifyChannel in the component's metadata or pgNotifyChannel in the request's", s.md.Table)
	}
	if err := checkChannel(channel); err != nil {
		return "", err
	}
	for _, k := range keys {
		if !validKey.MatchString(k) {
			return "", fmt.Errorf("invalid key : '%s'", k)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return "", fmt.Errorf("connect to listen on %s: %w", channel, err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		_ = conn.Close(context.Background())
		return "", fmt.Errorf("listen on %s: %w", channel, err)
	}
	id, subCtx, done, err := s.subs.Start(ctx)
	if err != nil {
		_ = conn.Close(context.Background())
		return "", err
	}
	go func() {
		defer done()
		defer conn.Close(context.Background())
		for {
			n, err := conn.WaitForNotification(subCtx)
			if err != nil {
				if subCtx.Err() == nil {
					s.log.Warn("configuration subscription ended: the listening connection failed", "channel", channel, "subscription", id, "error", err)
				}
				return
			}
			key, item, ok := s.parse(n.Payload)
			if !ok || (len(keys) > 0 && !slices.Contains(keys, key)) {
				continue
			}
			if err := h(subCtx, &configuration.Update{ID: id, Items: map[string]*configuration.Item{key: item}}); err != nil && subCtx.Err() == nil {
				s.log.Warn("configuration change not delivered", "key", key, "subscription", id, "error", err)
			}
		}
	}()
	return id, nil
}

// parse reads the trigger's payload: {"data": {"key","value","version","metadata"}}.
func (s *Store) parse(payload string) (string, *configuration.Item, bool) {
	var p struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(payload), &p); err != nil || p.Data == nil {
		s.log.Warn("notification is not in Dapr's trigger format ({\"data\": <row>}); ignored", "payload", payload)
		return "", nil, false
	}
	var key string
	it := &configuration.Item{Metadata: map[string]string{}}
	for k, raw := range p.Data {
		switch strings.ToLower(k) {
		case "key":
			_ = json.Unmarshal(raw, &key)
		case "value":
			_ = json.Unmarshal(raw, &it.Value)
		case "version":
			_ = json.Unmarshal(raw, &it.Version)
		case "metadata":
			_ = json.Unmarshal(raw, &it.Metadata)
			if it.Metadata == nil {
				it.Metadata = map[string]string{}
			}
		}
	}
	return key, it, key != ""
}

// Unsubscribe ends the subscription id.
func (s *Store) Unsubscribe(_ context.Context, id string) error { return s.subs.Unsubscribe(id) }

// Close ends every subscription and closes the pool.
func (s *Store) Close() error {
	s.subs.Close()
	if s.pool != nil {
		s.pool.Close()
		s.pool = nil
	}
	return nil
}
