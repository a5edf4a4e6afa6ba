// Package auth decides who is calling: API keys of the host application
// (and, with the sign-in issue, staff and data subjects).
package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Scopes an API key can hold. A route names the one it needs.
const (
	ScopeVaultRead    = "vault:read"
	ScopeVaultWrite   = "vault:write"
	ScopeConsentRead  = "consent:read"
	ScopeConsentWrite = "consent:write"
	ScopeDSRRead      = "dsr:read"
	ScopeDSRWrite     = "dsr:write"
	ScopeAuditRead    = "audit:read"
)

// AllScopes lists every scope, for validation and documentation.
var AllScopes = []string{ScopeVaultRead, ScopeVaultWrite, ScopeConsentRead, ScopeConsentWrite, ScopeDSRRead, ScopeDSRWrite, ScopeAuditRead}

// DefaultRate is the per-key request rate (per second) when none is given.
const DefaultRate = 200

// APIKey is an API key as stored: never the secret, only its HMAC.
type APIKey struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	Purpose   string     `json:"purpose"`
	Rate      int        `json:"rate"` // requests per second; 0 = unlimited
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Has reports whether the key holds scope.
func (k *APIKey) Has(scope string) bool { return slices.Contains(k.Scopes, scope) }

// Actor is how the key appears in the audit log.
func (k *APIKey) Actor() string { return "apikey:" + k.ID }

// APIKeys stores and checks API keys.
type APIKeys struct {
	db    *sqlstore.DB
	kr    *keys.Keyring
	audit *audit.Log
	now   func() time.Time

	mu    sync.Mutex
	cache map[string]cachedKey // by hex HMAC of the secret
}

// AuthCacheTTL is how long a checked key is trusted without asking the
// database again: a revocation reaches every replica within this time (in
// the replica that revokes, at once).
const AuthCacheTTL = time.Second

type cachedKey struct {
	key   *APIKey
	until time.Time
}

// NewAPIKeys returns the API key store.
func NewAPIKeys(db *sqlstore.DB, kr *keys.Keyring, log *audit.Log, now func() time.Time) *APIKeys {
	return &APIKeys{db: db, kr: kr, audit: log, now: now, cache: map[string]cachedKey{}}
}

// NewKey is the input of Create.
type NewKey struct {
	Name    string
	Scopes  []string
	Purpose string
	Rate    int
	Actor   string // who creates it, for the audit log
}

// Create stores a new key and returns it with its secret, which is shown
// once and never stored.
func (s *APIKeys) Create(ctx context.Context, n NewKey) (*APIKey, string, error) {
	n.Name = strings.TrimSpace(n.Name)
	if n.Name == "" || len(n.Name) > 100 {
		return nil, "", errcode.Field("name", "a key needs a name of 1 to 100 characters")
	}
	if len(n.Scopes) == 0 {
		return nil, "", errcode.Field("scopes", "a key needs at least one scope: %s", strings.Join(AllScopes, ", "))
	}
	for _, sc := range n.Scopes {
		if !slices.Contains(AllScopes, sc) {
			return nil, "", errcode.Field("scopes", "unknown scope %q; scopes are %s", sc, strings.Join(AllScopes, ", "))
		}
	}
	if n.Rate < 0 {
		return nil, "", errcode.Field("rate", "the rate must be 0 (unlimited) or more")
	}
	if n.Purpose == "" {
		n.Purpose = "service-delivery"
	}
	var known int
	if err := s.db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM purposes WHERE slug = $1", n.Purpose).Scan(&known); err != nil {
		return nil, "", err
	}
	if known == 0 {
		return nil, "", errcode.Field("purpose", "unknown purpose %q", n.Purpose)
	}
	id, secret, err := keys.NewAPIKey()
	if err != nil {
		return nil, "", err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	k := &APIKey{ID: id, Name: n.Name, Scopes: n.Scopes, Purpose: n.Purpose, Rate: n.Rate, CreatedAt: now}
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO api_keys (id, name, secret_hash, scopes, purpose, rate_limit, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			id, k.Name, s.kr.HashSecret(secret), strings.Join(k.Scopes, " "), k.Purpose, k.Rate, sqlstore.Micros(now)); err != nil {
			return err
		}
		_, err := s.audit.Append(ctx, tx, audit.Event{Actor: actorOr(n.Actor), Action: "apikey.create", Purpose: "security", Target: "apikey:" + id, Result: "ok"})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("create api key: %w", err)
	}
	return k, secret, nil
}

func actorOr(a string) string {
	if a == "" {
		return "system"
	}
	return a
}

// Revoke ends a key: at once in this process, within AuthCacheTTL in
// other replicas.
func (s *APIKeys) Revoke(ctx context.Context, id, actor string) error {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
	return s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", sqlstore.Micros(s.now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errcode.E(errcode.NotFound, "no active API key %q", id)
		}
		_, err = s.audit.Append(ctx, tx, audit.Event{Actor: actorOr(actor), Action: "apikey.revoke", Purpose: "security", Target: "apikey:" + id, Result: "ok"})
		return err
	})
}

// List returns every key, revoked ones included.
func (s *APIKeys) List(ctx context.Context) ([]APIKey, error) {
	rows, err := s.db.Read().QueryContext(ctx, "SELECT "+keyColumns+" FROM api_keys ORDER BY created_at")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *k)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(...any) error }

// keyColumns are the columns scanKey reads, in order.
const keyColumns = "id, name, scopes, purpose, rate_limit, created_at, revoked_at"

// scanKey reads a key row selected with keyColumns; extra receives any
// columns selected after them.
func scanKey(r scanner, extra ...any) (*APIKey, error) {
	var k APIKey
	var scopes string
	var created int64
	var revoked sql.NullInt64
	if err := r.Scan(append([]any{&k.ID, &k.Name, &scopes, &k.Purpose, &k.Rate, &created, &revoked}, extra...)...); err != nil {
		return nil, err
	}
	k.Scopes = strings.Fields(scopes)
	k.CreatedAt = sqlstore.FromMicros(created)
	if revoked.Valid {
		t := sqlstore.FromMicros(revoked.Int64)
		k.RevokedAt = &t
	}
	return &k, nil
}

// errBadKey is the single answer for a missing, malformed, unknown or
// revoked key: the caller learns nothing about which.
var errBadKey = errcode.E(errcode.Unauthorized, "a valid API key is required: Authorization: Bearer <key>")

// Authenticate returns the active key whose secret this is. The lookup is
// by id (parsed from the secret); the secret is compared by HMAC in
// constant time. A checked key is remembered for AuthCacheTTL, which
// spares most requests a database read.
func (s *APIKeys) Authenticate(ctx context.Context, secret string) (*APIKey, error) {
	id, ok := keys.ParseAPIKey(secret)
	if !ok {
		return nil, errBadKey
	}
	want := s.kr.HashSecret(secret)
	now := s.now()
	s.mu.Lock()
	c, hit := s.cache[string(want)]
	s.mu.Unlock()
	if hit && now.Before(c.until) {
		return c.key, nil
	}
	k, err := s.lookup(ctx, id, want)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.cache) > 10_000 {
		clear(s.cache)
	}
	s.cache[string(want)] = cachedKey{key: k, until: now.Add(AuthCacheTTL)}
	s.mu.Unlock()
	return k, nil
}

// lookup reads key id and checks that want is the HMAC of its secret.
func (s *APIKeys) lookup(ctx context.Context, id string, want []byte) (*APIKey, error) {
	var hash []byte
	k, err := scanKey(s.db.Read().QueryRowContext(ctx, "SELECT "+keyColumns+", secret_hash FROM api_keys WHERE id = $1", id), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadKey
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !keys.Equal(hash, want) || k.RevokedAt != nil {
		return nil, errBadKey
	}
	return k, nil
}
