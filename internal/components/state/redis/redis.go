package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/redisconn"
	"github.com/cove-env/cove/internal/components/state"
)

// Type is the component type this package registers.
const Type = "state.redis"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var (
	_ state.Store         = (*Store)(nil)
	_ state.Transactional = (*Store)(nil)
)

// Values live in a hash's "data" field and their version, the ETag, in
// "version": 1 for a new key, one more for each write, as in Dapr's Redis
// store, whose data cove reads and writes unchanged.
//
// setScript: KEYS[1] the key; ARGV[1] the expected version ("" for none),
// ARGV[2] the value, ARGV[3] "1" for first-write, ARGV[4] the TTL in
// seconds (0 for none). It returns the new version, or -1 when the
// condition fails. A key holding another type, or a hash without a
// version, is replaced, as Dapr does.
var setScript = goredis.NewScript(`
local cur = redis.pcall("HGET", KEYS[1], "version")
if type(cur) == "table" then
  cur = false
end
if ARGV[1] ~= "" then
  if cur ~= ARGV[1] then return -1 end
elseif ARGV[3] == "1" and cur then
  return -1
end
if not cur then
  redis.call("DEL", KEYS[1])
end
redis.call("HSET", KEYS[1], "data", ARGV[2])
local v = redis.call("HINCRBY", KEYS[1], "version", 1)
if tonumber(ARGV[4]) > 0 then
  redis.call("EXPIRE", KEYS[1], ARGV[4])
else
  redis.call("PERSIST", KEYS[1])
end
return v
`)

// deleteScript: KEYS[1] the key; ARGV[1] the expected version, "" for
// none. It returns -1 when a version was given and the key is missing or
// has another.
var deleteScript = goredis.NewScript(`
if ARGV[1] == "" then return redis.call("DEL", KEYS[1]) end
local cur = redis.pcall("HGET", KEYS[1], "version")
if type(cur) ~= "string" or cur ~= ARGV[1] then return -1 end
return redis.call("DEL", KEYS[1])
`)

// maxTxAttempts bounds how often a transaction restarts when another
// client changes one of its keys between WATCH and EXEC.
const maxTxAttempts = 16

// Store is the Redis state store.
type Store struct {
	log      *slog.Logger
	cfg      settings
	client   goredis.UniversalClient
	batch    *redisconn.Batcher
	replicas int // connected replicas, for strong-consistency writes

	closeOnce sync.Once
	closeErr  error
}

// New returns an uninitialised store.
func New() *Store { return &Store{} }

// Init connects and checks that Redis answers; it fails at once, naming
// the address, when it does not.
func (s *Store) Init(ctx context.Context, md components.Metadata) error {
	s.log = slog.Default().With("component", md.Name, "type", Type)
	cfg, err := parseSettings(md)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	client, err := cfg.Connect(ctx)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	addr := cfg.Addr()
	pingCtx, cancel := context.WithTimeout(ctx, cfg.CheckTimeout())
	defer cancel()
	if len(cfg.queryIndexes) > 0 {
		if err := checkQueryModules(pingCtx, client); err != nil {
			_ = client.Close()
			return fmt.Errorf("%s %q: metadata queryIndexes: %w", Type, md.Name, err)
		}
	}
	s.cfg, s.client = cfg, client
	s.batch = redisconn.NewBatcher(client, 10*time.Second)
	s.replicas = s.connectedReplicas(pingCtx)
	s.log.Debug("state store ready", "address", addr, "replicas", s.replicas)
	return nil
}

// checkQueryModules makes sure the server can serve what queryIndexes asks
// for. Dapr's queries on Redis keep values as JSON documents (RedisJSON)
// and search them with RediSearch indexes, the modules of Redis Stack;
// cove does not answer queries on Redis yet, so indexes can only be
// refused, with the reason.
func checkQueryModules(ctx context.Context, client goredis.UniversalClient) error {
	mods, err := client.Do(ctx, "MODULE", "LIST").Slice()
	if err != nil {
		return fmt.Errorf("cannot list the server's modules: %w", err)
	}
	have := map[string]bool{}
	for _, m := range mods {
		if fields, ok := m.([]any); ok {
			for i := 0; i+1 < len(fields); i += 2 {
				if k, _ := fields[i].(string); k == "name" {
					name, _ := fields[i+1].(string)
					have[strings.ToLower(name)] = true
				}
			}
		} else if fields, ok := m.(map[any]any); ok {
			name, _ := fields["name"].(string)
			have[strings.ToLower(name)] = true
		}
	}
	var missing []string
	if !have["search"] && !have["ft"] {
		missing = append(missing, "RediSearch")
	}
	if !have["rejson"] {
		missing = append(missing, "RedisJSON")
	}
	if len(missing) > 0 {
		return fmt.Errorf("the query API on Redis needs %s, which this server does not load; remove queryIndexes, or use a state store with queries (state.postgresql, state.sqlite)", strings.Join(missing, " and "))
	}
	return errors.New("the query API on Redis (RediSearch over RedisJSON) is not supported by cove yet; remove queryIndexes, or use a state store with queries (state.postgresql, state.sqlite)")
}

// connectedReplicas reads INFO replication; a failure only means strong
// writes will not wait for replicas.
func (s *Store) connectedReplicas(ctx context.Context) int {
	info, err := s.client.Info(ctx, "replication").Result()
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// Features reports ETags, transactions and TTLs.
func (s *Store) Features() []state.Feature {
	return []state.Feature{state.FeatureETag, state.FeatureTransactional, state.FeatureTTL}
}

// Close closes the client; closing again is a no-op.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.batch != nil {
			s.batch.Close()
		}
		if s.client != nil {
			s.closeErr = s.client.Close()
		}
	})
	return s.closeErr
}

func (s *Store) ready() error {
	if s.client == nil {
		return errors.New("redis state store is not initialised")
	}
	return nil
}

// Get reads the hash's data and version. A plain string value, which old
// Dapr versions wrote, reads as its contents without an ETag.
func (s *Store) Get(ctx context.Context, req *state.GetRequest) (*state.GetResponse, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	cmd := goredis.NewSliceCmd(ctx, "hmget", req.Key, "data", "version")
	err := s.batch.Do(ctx, cmd)
	vals := cmd.Val()
	if err != nil {
		if !strings.HasPrefix(err.Error(), "WRONGTYPE") {
			return nil, fmt.Errorf("get %q: %w", req.Key, err)
		}
		v, err := s.client.Get(ctx, req.Key).Result()
		if errors.Is(err, goredis.Nil) {
			return &state.GetResponse{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get %q: %w", req.Key, err)
		}
		return &state.GetResponse{Data: []byte(v)}, nil
	}
	data, ok := vals[0].(string)
	if !ok {
		return &state.GetResponse{}, nil
	}
	resp := &state.GetResponse{Data: []byte(data)}
	if v, ok := vals[1].(string); ok {
		resp.ETag = &v
	}
	return resp, nil
}

// Set writes one key through setScript.
func (s *Store) Set(ctx context.Context, req *state.SetRequest) error {
	if err := s.ready(); err != nil {
		return err
	}
	w, err := s.prepareSet(req)
	if err != nil {
		return err
	}
	fw := "0"
	if w.firstWrite {
		fw = "1"
	}
	v, err := s.run(ctx, req.Options, setScript, w.key, w.etag, w.value, fw, w.ttl)
	if err != nil {
		return fmt.Errorf("set %q: %w", w.key, err)
	}
	if v < 0 {
		if w.etag != "" {
			return fmt.Errorf("%w: key %q", state.ErrETagMismatch, w.key)
		}
		return fmt.Errorf("%w: key %q already exists and no etag was given (first-write)", state.ErrETagMismatch, w.key)
	}
	return nil
}

// Delete removes one key; with an ETag, only if it matches.
func (s *Store) Delete(ctx context.Context, req *state.DeleteRequest) error {
	if err := s.ready(); err != nil {
		return err
	}
	etag, err := parseETag(req.ETag)
	if err != nil {
		return err
	}
	n, err := s.run(ctx, req.Options, deleteScript, req.Key, etag)
	if err != nil {
		return fmt.Errorf("delete %q: %w", req.Key, err)
	}
	if n < 0 {
		return fmt.Errorf("%w: key %q", state.ErrETagMismatch, req.Key)
	}
	return nil
}

// run runs a script on key. A strong write also waits until the replicas
// have it, as Dapr's store does; WAIT counts the writes of the connection
// it runs on, so the script and WAIT go in one pipeline.
func (s *Store) run(ctx context.Context, opts state.Options, script *goredis.Script, key string, args ...any) (int64, error) {
	if opts.Consistency != state.Strong || s.replicas == 0 {
		cmd := goredis.NewCmd(ctx, append([]any{"evalsha", script.Hash(), 1, key}, args...)...)
		err := s.batch.Do(ctx, cmd)
		if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
			// Not loaded yet (or flushed): EVAL loads it.
			return script.Eval(ctx, s.client, []string{key}, args...).Int64()
		}
		if err != nil {
			return 0, err
		}
		return cmd.Int64()
	}
	var res, wait *goredis.Cmd
	if _, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		res = script.Eval(ctx, p, []string{key}, args...)
		wait = p.Do(ctx, "WAIT", s.replicas, time.Second.Milliseconds())
		return nil
	}); err != nil {
		return 0, err
	}
	if err := wait.Err(); err != nil {
		return 0, fmt.Errorf("wait for %d replicas: %w", s.replicas, err)
	}
	return res.Int64()
}

// Multi applies the operations atomically. It watches the keys, checks
// every condition against their current versions (and what the earlier
// operations leave), and only then queues the writes in MULTI/EXEC; if
// another client changes a key in between, EXEC fails and it starts over.
// In cluster mode the keys must share a hash slot, as for any Redis
// transaction.
func (s *Store) Multi(ctx context.Context, req *state.TransactionRequest) error {
	if err := s.ready(); err != nil {
		return err
	}
	if len(req.Operations) == 0 {
		return nil
	}
	steps := make([]step, len(req.Operations))
	var keys []string
	seen := map[string]bool{}
	for i, op := range req.Operations {
		var err error
		switch {
		case op.Set != nil:
			steps[i].set, err = s.prepareSet(op.Set)
			steps[i].key = op.Set.Key
		case op.Delete != nil:
			steps[i].key = op.Delete.Key
			steps[i].etag, err = parseETag(op.Delete.ETag)
		default:
			err = errors.New("neither set nor delete")
		}
		if err != nil {
			return fmt.Errorf("operation %d: %w", i, err)
		}
		if !seen[steps[i].key] {
			seen[steps[i].key] = true
			keys = append(keys, steps[i].key)
		}
	}
	for range maxTxAttempts {
		err := s.client.Watch(ctx, func(tx *goredis.Tx) error { return s.applyTx(ctx, tx, keys, steps) }, keys...)
		if !errors.Is(err, goredis.TxFailedErr) {
			return err
		}
	}
	return fmt.Errorf("transaction: its keys kept changing; gave up after %d attempts", maxTxAttempts)
}

// step is one validated transaction operation.
type step struct {
	key  string
	set  *write // nil for a delete
	etag string // a delete's condition
}

// keyState is what a transaction knows about a key.
type keyState struct {
	exists  bool
	version int64
}

func (s *Store) applyTx(ctx context.Context, tx *goredis.Tx, keys []string, steps []step) error {
	// Read the versions on the watched connection.
	reads := make([]*goredis.StringCmd, len(keys))
	if _, err := tx.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			reads[i] = p.HGet(ctx, k, "version")
		}
		return nil
	}); err != nil && !errors.Is(err, goredis.Nil) && !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		return fmt.Errorf("transaction: read versions: %w", err)
	}
	known := make(map[string]*keyState, len(keys))
	for i, k := range keys {
		ks := &keyState{}
		v, err := reads[i].Result()
		switch {
		case err == nil:
			ks.exists = true
			if ks.version, err = strconv.ParseInt(v, 10, 64); err != nil {
				return fmt.Errorf("transaction: key %q has version %q, not an integer", k, v)
			}
		case errors.Is(err, goredis.Nil), strings.HasPrefix(err.Error(), "WRONGTYPE"):
			// Missing, or a value of another type that a write replaces.
		default:
			return fmt.Errorf("transaction: read version of %q: %w", k, err)
		}
		known[k] = ks
	}

	// Check every condition before writing anything.
	type apply struct {
		step
		version  int64
		clearOld bool
	}
	plan := make([]apply, len(steps))
	for i, st := range steps {
		ks := known[st.key]
		cur := ""
		if ks.exists {
			cur = strconv.FormatInt(ks.version, 10)
		}
		if st.set == nil {
			if st.etag != "" && st.etag != cur {
				return fmt.Errorf("operation %d: %w: key %q", i, state.ErrETagMismatch, st.key)
			}
			plan[i] = apply{step: st}
			*ks = keyState{}
			continue
		}
		switch {
		case st.set.etag != "" && st.set.etag != cur:
			return fmt.Errorf("operation %d: %w: key %q", i, state.ErrETagMismatch, st.key)
		case st.set.etag == "" && st.set.firstWrite && ks.exists:
			return fmt.Errorf("operation %d: %w: key %q already exists and no etag was given (first-write)", i, state.ErrETagMismatch, st.key)
		}
		next := ks.version + 1 // 0 for a key that does not exist
		plan[i] = apply{step: st, version: next, clearOld: !ks.exists}
		*ks = keyState{exists: true, version: next}
	}

	_, err := tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for _, a := range plan {
			if a.set == nil {
				p.Del(ctx, a.key)
				continue
			}
			if a.clearOld {
				p.Del(ctx, a.key) // a value of another type, or fields of an old hash
			}
			p.HSet(ctx, a.key, "data", a.set.value, "version", a.version)
			if a.set.ttl > 0 {
				p.Expire(ctx, a.key, time.Duration(a.set.ttl)*time.Second)
			} else {
				p.Persist(ctx, a.key)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.TxFailedErr) {
		return fmt.Errorf("transaction: %w", err)
	}
	return err
}

// write is a validated set request.
type write struct {
	key        string
	value      []byte
	etag       string // "" for none
	firstWrite bool
	ttl        int // seconds; 0 for none
}

func (s *Store) prepareSet(req *state.SetRequest) (*write, error) {
	// Under last-write a given ETag is ignored, unparsed, as in Dapr's
	// Redis store (and only there: its SQL stores check it). The Go SDK
	// saves with last-write unless told otherwise.
	var etag string
	if req.Options.Concurrency != state.LastWrite {
		var err error
		if etag, err = parseETag(req.ETag); err != nil {
			return nil, err
		}
	}
	ttl, err := s.ttl(req.Metadata)
	if err != nil {
		return nil, err
	}
	return &write{
		key:        req.Key,
		value:      req.Value,
		etag:       etag,
		firstWrite: req.Options.Concurrency == state.FirstWrite,
		ttl:        ttl,
	}, nil
}

// ttl reads ttlInSeconds in whole seconds, falling back to the
// component's default when the request gives none; 0 means no expiry.
func (s *Store) ttl(md map[string]string) (int, error) {
	if md[state.TTLMetadata] == "" {
		if s.cfg.defaultTTL != nil && *s.cfg.defaultTTL > 0 {
			return *s.cfg.defaultTTL, nil
		}
		return 0, nil
	}
	d, err := state.ParseTTL(md)
	return int(d / time.Second), err
}

// parseETag returns the version to compare, "" for none. Versions are
// integers; anything else is malformed.
func parseETag(etag *string) (string, error) {
	if etag == nil || *etag == "" {
		return "", nil
	}
	if _, err := strconv.ParseInt(*etag, 10, 64); err != nil {
		return "", fmt.Errorf("%w: %q is not a version number", state.ErrETagInvalid, *etag)
	}
	return *etag, nil
}
