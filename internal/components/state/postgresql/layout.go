package postgresql

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cove-env/cove/internal/components/state"
)

// layout is what differs between v1 and v2: the state table's columns,
// its migrations, how values are stored and what an ETag looks like.
// Everything else the two versions share.
type layout struct {
	// migrationKey names the level row in the metadata table.
	migrationKey string
	// migrations are applied in order from the recorded level; %[1]s is
	// the state table.
	migrations []string
	// cleanupKey names the last-cleanup row in the metadata table.
	cleanupKey string

	// binaryColumn says the table has an isbinary column.
	binaryColumn bool

	// Statements; %[1]s is the state table. Arguments: get ($1 key) →
	// value, isbinary, etag, expiry; upsert and insertNew ($1 key, $2
	// value, then isbinary if binaryColumn, then the TTL in seconds);
	// updateIfETag (the same, then the etag); del ($1 key); delIfETag ($1
	// key, $2 etag).
	get, upsert, insertNew, updateIfETag, del, delIfETag string
	// expired is the WHERE condition of the cleanup's DELETE.
	expired string

	// encode turns a value into the value column's argument and isbinary.
	encode func(v []byte) (any, bool)
	// decode turns the value column back into the stored bytes.
	decode func(v []byte, isBinary bool) ([]byte, error)
	// checkETag validates a caller's ETag and returns the argument to
	// compare.
	checkETag func(etag string) (string, error)
}

// v1 is Dapr's "v1" layout: jsonb values (binary ones as a base64 JSON
// string with isbinary set) and the row's xmin as its ETag. xmin changes
// with every write that commits, so it is a version no client can forge.
var v1 = layout{
	migrationKey: "migrations",
	migrations: []string{
		`CREATE TABLE IF NOT EXISTS %[1]s (
			key text NOT NULL PRIMARY KEY,
			value jsonb NOT NULL,
			isbinary boolean NOT NULL,
			insertdate TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
			updatedate TIMESTAMP WITH TIME ZONE NULL)`,
		`ALTER TABLE %[1]s ADD COLUMN IF NOT EXISTS expiredate TIMESTAMP WITH TIME ZONE`,
	},
	cleanupKey:   "last-cleanup",
	binaryColumn: true,
	get: `SELECT value, isbinary, xmin::text, expiredate FROM %[1]s
		WHERE key = $1 AND (expiredate IS NULL OR expiredate >= CURRENT_TIMESTAMP)`,
	upsert: `INSERT INTO %[1]s AS cur (key, value, isbinary, expiredate)
		VALUES ($1, $2::jsonb, $3, ` + expiry("$4") + `)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, isbinary = excluded.isbinary,
			updatedate = CURRENT_TIMESTAMP, expiredate = excluded.expiredate`,
	// First-write replaces only a row that has expired but is not cleaned
	// up yet.
	insertNew: `INSERT INTO %[1]s AS cur (key, value, isbinary, expiredate)
		VALUES ($1, $2::jsonb, $3, ` + expiry("$4") + `)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, isbinary = excluded.isbinary,
			updatedate = CURRENT_TIMESTAMP, expiredate = excluded.expiredate
		WHERE cur.expiredate IS NOT NULL AND cur.expiredate < CURRENT_TIMESTAMP`,
	updateIfETag: `UPDATE %[1]s SET value = $2::jsonb, isbinary = $3, updatedate = CURRENT_TIMESTAMP,
			expiredate = ` + expiry("$4") + `
		WHERE key = $1 AND xmin = $5::text::xid AND (expiredate IS NULL OR expiredate >= CURRENT_TIMESTAMP)`,
	del: `DELETE FROM %[1]s WHERE key = $1`,
	delIfETag: `DELETE FROM %[1]s
		WHERE key = $1 AND xmin = $2::text::xid AND (expiredate IS NULL OR expiredate >= CURRENT_TIMESTAMP)`,
	expired: `expiredate IS NOT NULL AND expiredate < CURRENT_TIMESTAMP`,
	encode: func(v []byte) (any, bool) {
		// jsonb cannot hold NUL characters or invalid UTF-8; such JSON is
		// kept byte for byte as binary instead.
		if json.Valid(v) && utf8.Valid(v) && !containsNUL(v) {
			return string(v), false
		}
		quoted, _ := json.Marshal(base64.StdEncoding.EncodeToString(v))
		return string(quoted), true
	},
	decode: func(v []byte, isBinary bool) ([]byte, error) {
		if !isBinary {
			return v, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("binary value is not a JSON string: %w", err)
		}
		return base64.StdEncoding.DecodeString(s)
	},
	checkETag: func(etag string) (string, error) {
		n, err := strconv.ParseUint(etag, 10, 32)
		if err != nil {
			return "", fmt.Errorf("%w: %q is not a transaction id", state.ErrETagInvalid, etag)
		}
		return strconv.FormatUint(n, 10), nil
	},
}

// v2 is Dapr's "v2" layout: bytea values as given and a random uuid ETag.
var v2 = layout{
	migrationKey: "migrations-state-v2-",
	migrations: []string{
		`CREATE TABLE IF NOT EXISTS %[1]s (
			key text NOT NULL PRIMARY KEY,
			value bytea NOT NULL,
			etag uuid NOT NULL DEFAULT gen_random_uuid(),
			created_at timestamp with time zone NOT NULL DEFAULT now(),
			updated_at timestamp with time zone,
			expires_at timestamp with time zone);
		CREATE INDEX ON %[1]s (expires_at)`,
	},
	cleanupKey: "last-cleanup-state-v2-",
	get: `SELECT value, false, etag::text, expires_at FROM %[1]s
		WHERE key = $1 AND (expires_at IS NULL OR expires_at >= now())`,
	upsert: `INSERT INTO %[1]s AS cur (key, value, etag, expires_at)
		VALUES ($1, $2, gen_random_uuid(), ` + expiry("$3") + `)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag,
			updated_at = now(), expires_at = excluded.expires_at
`,
	insertNew: `INSERT INTO %[1]s AS cur (key, value, etag, expires_at)
		VALUES ($1, $2, gen_random_uuid(), ` + expiry("$3") + `)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag,
			updated_at = now(), expires_at = excluded.expires_at
		WHERE cur.expires_at IS NOT NULL AND cur.expires_at < now()`,
	updateIfETag: `UPDATE %[1]s SET value = $2, etag = gen_random_uuid(), updated_at = now(),
			expires_at = ` + expiry("$3") + `
		WHERE key = $1 AND etag = $4::uuid AND (expires_at IS NULL OR expires_at >= now())`,
	del: `DELETE FROM %[1]s WHERE key = $1`,
	delIfETag: `DELETE FROM %[1]s
		WHERE key = $1 AND etag = $2::uuid AND (expires_at IS NULL OR expires_at >= now())`,
	expired: `expires_at IS NOT NULL AND expires_at < now()`,
	encode:  func(v []byte) (any, bool) { return v, false },
	decode:  func(v []byte, _ bool) ([]byte, error) { return v, nil },
	checkETag: func(etag string) (string, error) {
		u, err := uuid.Parse(etag)
		if err != nil {
			return "", fmt.Errorf("%w: %q is not a UUID", state.ErrETagInvalid, etag)
		}
		return u.String(), nil
	},
}

// expiry is the expiration time for a TTL argument in seconds; 0 is none.
func expiry(arg string) string {
	return "CASE WHEN " + arg + "::integer > 0 THEN CURRENT_TIMESTAMP + " + arg + "::integer * interval '1 second' END"
}

func containsNUL(v []byte) bool {
	for i := 0; i+5 < len(v); i++ {
		if v[i] == '\\' && string(v[i+1:i+6]) == "u0000" {
			// An escaped backslash before it ("\\u0000") is text, not NUL;
			// treating it as NUL only costs the value being stored as binary.
			return true
		}
	}
	return false
}
