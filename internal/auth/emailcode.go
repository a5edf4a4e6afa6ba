package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/i18n"
	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/mail"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
)

// Verification levels of a data subject's sign-in, recorded with the
// session: what a request may reveal depends on how sure gdprd is of who
// asks (Art. 12(6)).
const (
	VerifiedByEmailCode = "email_code"
	VerifiedByHandoff   = "handoff"
)

// SubjectSignIn is a data subject whose identity has just been verified.
type SubjectSignIn struct {
	SubjectID string
	Level     string // VerifiedByEmailCode or VerifiedByHandoff
}

// Rules of e-mail codes.
const (
	CodeTTL         = 10 * time.Minute
	CodeMaxAttempts = 5
	codeDigits      = 6
	codeMailKind    = "auth.email-code"
)

// CodeLimit is one fixed-window rate limit.
type CodeLimit struct {
	Max    int
	Window time.Duration
}

// CodeLimits bound code requests and checks. The counters live in the
// database, so they hold across replicas. Per address they stop mail
// bombing one person and guessing one person's code through many fresh
// codes; per IP they stop one client from trying many addresses.
type CodeLimits struct {
	RequestPerAddress, RequestPerIP CodeLimit
	VerifyPerAddress, VerifyPerIP   CodeLimit
}

// DefaultCodeLimits: 5 codes per address per 15 minutes, and at most 20
// wrong or right checks per address per hour (with 5 per code, guessing a
// 6-digit code succeeds with odds of about 1 in 50,000 per hour).
var DefaultCodeLimits = CodeLimits{
	RequestPerAddress: CodeLimit{5, 15 * time.Minute},
	RequestPerIP:      CodeLimit{30, time.Hour},
	VerifyPerAddress:  CodeLimit{20, time.Hour},
	VerifyPerIP:       CodeLimit{60, time.Hour},
}

// EmailCodeOptions configure EmailCodes; all but Clock and Limits are
// required.
type EmailCodeOptions struct {
	DB      *sqlstore.DB
	Vault   *vault.Vault
	Keyring *keys.Keyring
	Audit   *audit.Log
	Outbox  *mail.Outbox
	Catalog *i18n.Catalog
	Clock   func() time.Time
	Limits  *CodeLimits // DefaultCodeLimits when nil
}

// EmailCodes signs data subjects in with a one-time code mailed to the
// address the vault holds for them.
type EmailCodes struct {
	db     *sqlstore.DB
	vault  *vault.Vault
	kr     *keys.Keyring
	audit  *audit.Log
	outbox *mail.Outbox
	cat    *i18n.Catalog
	now    func() time.Time
	limits CodeLimits
}

// NewEmailCodes returns the e-mail code sign-in.
func NewEmailCodes(o EmailCodeOptions) (*EmailCodes, error) {
	if o.DB == nil || o.Vault == nil || o.Keyring == nil || o.Audit == nil || o.Outbox == nil || o.Catalog == nil {
		return nil, errors.New("auth: e-mail codes need a database, vault, keyring, audit log, outbox and catalog")
	}
	c := &EmailCodes{db: o.DB, vault: o.Vault, kr: o.Keyring, audit: o.Audit, outbox: o.Outbox, cat: o.Catalog,
		now: o.Clock, limits: DefaultCodeLimits}
	if c.now == nil {
		c.now = time.Now
	}
	if o.Limits != nil {
		c.limits = *o.Limits
	}
	return c, nil
}

// errCodeRefused is the one answer to a wrong, used, expired or
// exhausted code, to a code for an unknown address, and to a malformed
// one: the caller learns nothing about which.
var errCodeRefused = errcode.E(errcode.Unauthorized, "the code is wrong or has expired; request a new code")

// errCodeLimited is the answer once a rate limit is reached, the same for
// known and unknown addresses.
var errCodeLimited = errcode.E(errcode.RateLimited, "too many attempts; please wait and try again later")

// CodeLimitError is the error of a request refused by a rate limit: an
// errcode RateLimited error (errcode.Of sees it) that also says when the
// limit resets, for Retry-After.
type CodeLimitError struct {
	RetryAfter time.Duration
}

func (e *CodeLimitError) Error() string { return errCodeLimited.Error() }
func (e *CodeLimitError) Unwrap() error { return errCodeLimited }

// RequestCode mails a sign-in code to email if a subject holds that
// address. The answer (nil) and the work done (a blind-index lookup, a
// code row, a rate-limit count and an audit event in one transaction) are
// the same whether or not the address is known, so it cannot be used to
// find out who has an account; only a known address also gets mail
// queued. lang picks the mail's language (an i18n tag; English when
// unsupported). ip is the client's address, used only as an HMAC for the
// per-IP limit. Errors: Invalid for a malformed address, RateLimited once
// a limit is reached.
func (c *EmailCodes) RequestCode(ctx context.Context, email, ip, lang string) error {
	norm, err := keys.NormalizeEmail(email)
	if err != nil {
		return errcode.Field("email", "enter a valid e-mail address")
	}
	subjectID, found, err := c.vault.SubjectID(ctx, vault.KindEmail, norm)
	if err != nil {
		return fmt.Errorf("request code: %w", err)
	}
	code, err := codeRandom()
	if err != nil {
		return err
	}
	now := c.now()
	addr := c.kr.BlindIndex("email-code", norm)
	target := c.kr.AuditTarget(vault.KindEmail, norm)
	id := ids.New("ecd_")
	var limited time.Duration
	err = c.db.Write(ctx, func(tx *sqlstore.Tx) error {
		var err error
		limited, err = c.codeAllow(ctx, tx, now, "code.request", hex.EncodeToString(addr), ip, c.limits.RequestPerAddress, c.limits.RequestPerIP)
		if err != nil {
			return err
		}
		if limited > 0 {
			return c.codeAudit(ctx, tx, "subject.code.request", target, "rate_limited")
		}
		us := sqlstore.Micros(now)
		// Retire earlier codes of this address: only the latest works.
		if _, err := tx.ExecContext(ctx, "UPDATE email_codes SET used_at = $1 WHERE addr = $2 AND used_at IS NULL", us, addr); err != nil {
			return err
		}
		var subject any // NULL: a code for an unknown address never verifies
		if found {
			subject = subjectID
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO email_codes (id, addr, subject_id, code_hash, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, addr, subject, c.codeHash(id, code), sqlstore.Micros(now.Add(CodeTTL)), us); err != nil {
			return err
		}
		result := "unknown_address"
		if found {
			l := c.cat.Localizer(lang)
			if _, err := c.outbox.Queue(ctx, tx, mail.Message{
				Kind: codeMailKind, To: norm,
				Subject: l.T("mail.code.subject"),
				Text:    l.T("mail.code.text", code, int(CodeTTL/time.Minute)),
			}); err != nil {
				return err
			}
			result = "sent"
		}
		return c.codeAudit(ctx, tx, "subject.code.request", target, result)
	})
	if err != nil {
		return fmt.Errorf("request code: %w", err)
	}
	if limited > 0 {
		return &CodeLimitError{RetryAfter: limited}
	}
	return nil
}

// VerifyCode checks a code for email and, if it is the latest code mailed
// there, unused, unexpired and within its attempts, uses it up and returns
// the subject. Every check counts against the per-address and per-IP
// limits, and a code is burnt after CodeMaxAttempts wrong tries. Every
// outcome is audited. Errors: Unauthorized (one answer for every kind of
// wrong), RateLimited.
func (c *EmailCodes) VerifyCode(ctx context.Context, email, code, ip string) (SubjectSignIn, error) {
	norm, err := keys.NormalizeEmail(email)
	if err != nil {
		return SubjectSignIn{}, errCodeRefused
	}
	now := c.now()
	us := sqlstore.Micros(now)
	addr := c.kr.BlindIndex("email-code", norm)
	target := c.kr.AuditTarget(vault.KindEmail, norm)
	var (
		out     SubjectSignIn
		refused bool
		limited time.Duration
	)
	err = c.db.Write(ctx, func(tx *sqlstore.Tx) error {
		var err error
		limited, err = c.codeAllow(ctx, tx, now, "code.verify", hex.EncodeToString(addr), ip, c.limits.VerifyPerAddress, c.limits.VerifyPerIP)
		if err != nil {
			return err
		}
		if limited > 0 {
			return c.codeAudit(ctx, tx, "subject.code.verify", target, "rate_limited")
		}
		var (
			id       string
			subject  sql.NullString
			hash     []byte
			attempts int
		)
		err = tx.QueryRowContext(ctx, `SELECT id, subject_id, code_hash, attempts FROM email_codes
			WHERE addr = $1 AND used_at IS NULL AND expires_at > $2 ORDER BY created_at DESC LIMIT 1`, addr, us).
			Scan(&id, &subject, &hash, &attempts)
		if errors.Is(err, sql.ErrNoRows) {
			refused = true
			// Still do the HMAC, so that no code on file costs the same.
			c.codeHash("", code)
			return c.codeAudit(ctx, tx, "subject.code.verify", target, "no_code")
		}
		if err != nil {
			return err
		}
		attempts++
		match := codeWellFormed(code) && keys.Equal(c.codeHash(id, code), hash)
		switch {
		case match && subject.Valid:
			if _, err := tx.ExecContext(ctx, "UPDATE email_codes SET attempts = $1, used_at = $2 WHERE id = $3", attempts, us, id); err != nil {
				return err
			}
			out = SubjectSignIn{SubjectID: subject.String, Level: VerifiedByEmailCode}
			return c.codeAudit(ctx, tx, "subject.signin.email_code", c.kr.AuditTarget("subject", subject.String), "ok")
		default:
			refused = true
			var used any // a code is burnt after its last allowed attempt
			if attempts >= CodeMaxAttempts {
				used = us
			}
			if _, err := tx.ExecContext(ctx, "UPDATE email_codes SET attempts = $1, used_at = $2 WHERE id = $3", attempts, used, id); err != nil {
				return err
			}
			return c.codeAudit(ctx, tx, "subject.code.verify", target, "wrong_code")
		}
	})
	switch {
	case err != nil:
		return SubjectSignIn{}, fmt.Errorf("verify code: %w", err)
	case limited > 0:
		return SubjectSignIn{}, &CodeLimitError{RetryAfter: limited}
	case refused:
		return SubjectSignIn{}, errCodeRefused
	}
	return out, nil
}

// codeHash binds a code to its row under the token key: the 6 digits alone
// could be brute-forced from a stolen database, their keyed HMAC cannot.
func (c *EmailCodes) codeHash(id, code string) []byte {
	return c.kr.HashSecret("email-code\x00" + id + "\x00" + code)
}

func codeWellFormed(code string) bool {
	if len(code) != codeDigits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// codeRandom returns codeDigits uniformly random decimal digits.
func codeRandom() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("code: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

func (c *EmailCodes) codeAudit(ctx context.Context, tx *sqlstore.Tx, action, target, result string) error {
	_, err := c.audit.Append(ctx, tx, audit.Event{Actor: "portal", Action: action, Purpose: "security", Target: target, Result: result})
	return err
}

// codeAllow counts one hit on the per-address and the per-IP limit of
// prefix; it returns 0 if both still allow it, else how long until they
// do (at least a second).
func (c *EmailCodes) codeAllow(ctx context.Context, tx *sqlstore.Tx, now time.Time, prefix, addrKey, ip string, perAddr, perIP CodeLimit) (time.Duration, error) {
	waitAddr, err := codeCountHit(ctx, tx, prefix+".addr:"+addrKey, perAddr.Max, perAddr.Window, now)
	if err != nil {
		return 0, err
	}
	waitIP, err := codeCountHit(ctx, tx, prefix+".ip:"+hex.EncodeToString(c.kr.BlindIndex("client-ip", ip)), perIP.Max, perIP.Window, now)
	if err != nil {
		return 0, err
	}
	return max(waitAddr, waitIP), nil
}

// codeCountHit counts one hit on a fixed-window counter in the database and
// returns 0 while it is within limit per window, else the time until the
// window ends (at least a second). One statement reads and increments, so
// concurrent replicas cannot both take the last slot. name must hold no
// personal data (use an HMAC). A limit of 0 disables the counter.
func codeCountHit(ctx context.Context, tx *sqlstore.Tx, name string, limit int, window time.Duration, now time.Time) (time.Duration, error) {
	if limit <= 0 {
		return 0, nil
	}
	var (
		hits  int
		start int64
	)
	err := tx.QueryRowContext(ctx, `INSERT INTO code_rate_limits (name, window_start, hits) VALUES ($1, $2, 1)
		ON CONFLICT (name) DO UPDATE SET
			hits = CASE WHEN code_rate_limits.window_start <= $3 THEN 1 ELSE code_rate_limits.hits + 1 END,
			window_start = CASE WHEN code_rate_limits.window_start <= $3 THEN $2 ELSE code_rate_limits.window_start END
		RETURNING hits, window_start`, name, sqlstore.Micros(now), sqlstore.Micros(now.Add(-window))).Scan(&hits, &start)
	if err != nil {
		return 0, fmt.Errorf("rate limit: %w", err)
	}
	if hits <= limit {
		return 0, nil
	}
	return max(time.Second, sqlstore.FromMicros(start).Add(window).Sub(now)).Round(time.Second), nil
}

// codeCounterMaxAge is how long a rate-limit counter is kept after its
// window began: longer than any window.
const codeCounterMaxAge = 24 * time.Hour

// Sweep deletes expired codes (with the blind index of their address) and
// old rate-limit counters. The server runs it every minute.
func (c *EmailCodes) Sweep(ctx context.Context) error {
	now := c.now()
	return c.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM email_codes WHERE expires_at < $1", sqlstore.Micros(now)); err != nil {
			return fmt.Errorf("sweep codes: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM code_rate_limits WHERE window_start < $1", sqlstore.Micros(now.Add(-codeCounterMaxAge))); err != nil {
			return fmt.Errorf("sweep rate limits: %w", err)
		}
		return nil
	})
}
