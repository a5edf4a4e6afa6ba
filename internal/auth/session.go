package auth

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Session kinds: console staff and, later, portal data subjects.
const (
	SessionStaff   = "staff"
	SessionSubject = "subject"
)

// Levels of a staff session.
const (
	LevelPassword = "password" // first factor given, second factor pending
	LevelEnrol    = "enrol"    // enrolling password and TOTP
	LevelMFA      = "mfa"      // signed in with both factors
)

// SessionPolicy bounds a session's life: it ends after Idle without a
// request and Absolute after it began, whatever happens.
type SessionPolicy struct {
	Idle, Absolute time.Duration
}

// DefaultSessionPolicies: 30 minutes idle and 12 hours absolute for staff
// (the figures); the portal may set its own for subjects.
var DefaultSessionPolicies = map[string]SessionPolicy{
	SessionStaff:   {Idle: 30 * time.Minute, Absolute: 12 * time.Hour},
	SessionSubject: {Idle: 30 * time.Minute, Absolute: 12 * time.Hour},
}

// Session is a server-side session. The token the browser holds is never
// stored: only its HMAC, which is the session's key.
type Session struct {
	Kind      string
	Principal string // staff id or subject id
	Level     string
	CreatedAt time.Time
	LastSeen  time.Time
	FreshAt   time.Time // the last fresh second factor; zero when none
	Pending   []byte    // opened pending data, nil when none

	hash []byte
}

// Fresh reports whether a second factor was given within d before now.
func (s *Session) Fresh(now time.Time, d time.Duration) bool {
	return !s.FreshAt.IsZero() && now.Sub(s.FreshAt) <= d
}

// ErrNoSession is the answer for a missing, unknown, expired or ended
// session.
var ErrNoSession = errcode.E(errcode.Unauthorized, "please sign in")

// Sessions stores sessions in the database, so they work across replicas
// and "sign out everywhere" reaches every one at once.
type Sessions struct {
	db       *sqlstore.DB
	kr       *keys.Keyring
	now      func() time.Time
	policies map[string]SessionPolicy
}

// NewSessions returns the session store; nil policies means
// DefaultSessionPolicies, a nil clock time.Now.
func NewSessions(db *sqlstore.DB, kr *keys.Keyring, now func() time.Time, policies map[string]SessionPolicy) *Sessions {
	if now == nil {
		now = time.Now
	}
	if policies == nil {
		policies = DefaultSessionPolicies
	}
	return &Sessions{db: db, kr: kr, now: now, policies: policies}
}

// sessionTokenBytes is 256 bits (security target AU-6).
const sessionTokenBytes = 32

// NewSession describes a session to create.
type NewSession struct {
	Kind, Principal, Level string
	Fresh                  bool   // a second factor was just given
	Pending                []byte // sealed before storing
}

// Create starts a session and returns the token for the cookie.
func (s *Sessions) Create(ctx context.Context, n NewSession) (string, error) {
	if _, ok := s.policies[n.Kind]; !ok {
		return "", fmt.Errorf("session: unknown kind %q", n.Kind)
	}
	token, err := keys.RandomToken(sessionTokenBytes)
	if err != nil {
		return "", err
	}
	hash := s.kr.HashSecret(token)
	now := sqlstore.Micros(s.now())
	fresh := int64(0)
	if n.Fresh {
		fresh = now
	}
	var pending []byte
	if n.Pending != nil {
		pending = s.kr.SealStaff(n.Pending, "session", hex.EncodeToString(hash))
	}
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO sessions (token_hash, kind, principal, level, created_at, last_seen, fresh_at, pending) VALUES ($1, $2, $3, $4, $5, $5, $6, $7)",
			hash, n.Kind, n.Principal, n.Level, now, fresh, pending)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return token, nil
}

// Get returns the live session of token and records the request (which
// restarts the idle clock). An expired session is deleted.
func (s *Sessions) Get(ctx context.Context, token string) (*Session, error) {
	if token == "" || len(token) > 100 {
		return nil, ErrNoSession
	}
	hash := s.kr.HashSecret(token)
	var sess Session
	var created, seen, fresh int64
	var pending []byte
	err := s.db.Read().QueryRowContext(ctx, "SELECT kind, principal, level, created_at, last_seen, fresh_at, pending FROM sessions WHERE token_hash = $1", hash).
		Scan(&sess.Kind, &sess.Principal, &sess.Level, &created, &seen, &fresh, &pending)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	sess.hash = hash
	sess.CreatedAt, sess.LastSeen = sqlstore.FromMicros(created), sqlstore.FromMicros(seen)
	if fresh != 0 {
		sess.FreshAt = sqlstore.FromMicros(fresh)
	}
	now := s.now()
	p := s.policies[sess.Kind]
	if now.Sub(sess.LastSeen) >= p.Idle || now.Sub(sess.CreatedAt) >= p.Absolute {
		s.deleteHash(ctx, hash)
		return nil, ErrNoSession
	}
	if pending != nil {
		if sess.Pending, err = s.kr.OpenStaff(pending, "session", hex.EncodeToString(hash)); err != nil {
			return nil, fmt.Errorf("session pending data: %w", err)
		}
	}
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE sessions SET last_seen = $1 WHERE token_hash = $2", sqlstore.Micros(now), hash)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("session touch: %w", err)
	}
	sess.LastSeen = now
	return &sess, nil
}

// Rotate ends the session and starts a new one for the same person at
// level, with a new token: at sign-in and at every privilege change, so
// a token seen before (session fixation) is worth nothing after. Fresh
// records a second factor given just now; otherwise the old fresh time is
// kept. Pending data is dropped.
func (s *Sessions) Rotate(ctx context.Context, old *Session, level string, fresh bool) (string, error) {
	token, err := keys.RandomToken(sessionTokenBytes)
	if err != nil {
		return "", err
	}
	hash := s.kr.HashSecret(token)
	now := s.now()
	freshAt := int64(0)
	switch {
	case fresh:
		freshAt = sqlstore.Micros(now)
	case !old.FreshAt.IsZero():
		freshAt = sqlstore.Micros(old.FreshAt)
	}
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE token_hash = $1", old.hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNoSession
		}
		// A level change (sign-in completed) starts the absolute clock anew.
		_, err = tx.ExecContext(ctx, "INSERT INTO sessions (token_hash, kind, principal, level, created_at, last_seen, fresh_at) VALUES ($1, $2, $3, $4, $5, $5, $6)",
			hash, old.Kind, old.Principal, level, sqlstore.Micros(now), freshAt)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("rotate session: %w", err)
	}
	return token, nil
}

// SetPending replaces the session's sealed pending data.
func (s *Sessions) SetPending(ctx context.Context, sess *Session, data []byte) error {
	sealed := s.kr.SealStaff(data, "session", hex.EncodeToString(sess.hash))
	return s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE sessions SET pending = $1 WHERE token_hash = $2", sealed, sess.hash)
		return err
	})
}

// End deletes one session (sign out).
func (s *Sessions) End(ctx context.Context, sess *Session) error {
	return s.deleteHash(ctx, sess.hash)
}

func (s *Sessions) deleteHash(ctx context.Context, hash []byte) error {
	return s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE token_hash = $1", hash)
		return err
	})
}

// EndAll deletes every session of a person ("sign out everywhere", and
// after a role change) and returns how many there were.
func (s *Sessions) EndAll(ctx context.Context, kind, principal string) (int64, error) {
	var n int64
	err := s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		var err error
		n, err = endAllSessions(ctx, tx, kind, principal)
		return err
	})
	return n, err
}

func endAllSessions(ctx context.Context, tx *sqlstore.Tx, kind, principal string) (int64, error) {
	res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE kind = $1 AND principal = $2", kind, principal)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
