// Package consent is gdprd's consent register: the purposes of processing
// with their legal basis, the versioned notices people are shown, and an
// append-only record of every consent given, withdrawn or objected to and
// every notice accepted, each with its proof.
//
// The records are the authority (GDPR Art. 7(1): the controller must be able
// to demonstrate consent). The current state per subject and purpose is
// derived from them; a cache of it (consent_state) is written in the same
// transaction as each record so checks cost one indexed read, and Rebuild
// recomputes it from the records at any time.
//
// Every change is audited in the same transaction (fail closed). Proof of a
// consent (the person's IP address and user agent) and the details of
// consent audit events are sealed with the subject's data key through the
// injected Sealer, so erasing the subject erases them too; the records
// themselves go with the subject row (ON DELETE CASCADE).
package consent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Actor says who acts and under which declared purpose; both go into the
// audit log. Name is "subject:<id>", "staff:<id>", "apikey:<id>" or
// "system", as for the vault.
type Actor struct {
	Name    string
	Purpose string
}

// Sealer seals and opens small values with a subject's own data key, so
// that erasing the subject (destroying the key) makes every sealed copy
// unreadable. The vault holds the keys; consent never sees key material.
//
// Seal must bind the ad parts as associated data exactly as
// keys.DataKey.Seal does: consent seals the details of its audit events
// with ad ("audit", target), which is how the vault's OpenAuditDetails opens
// them. A subject that does not exist (or was erased) is an errcode
// NotFound error.
type Sealer interface {
	Seal(ctx context.Context, subjectID string, plaintext []byte, ad ...string) (sealed []byte, keyID string, err error)
	Open(ctx context.Context, subjectID, keyID string, sealed []byte, ad ...string) ([]byte, error)
}

// Targets names objects in the audit log without plaintext; the keyring
// (keys.Keyring.AuditTarget) satisfies it, so consent events about a
// subject carry the same target as the vault's and show up in the
// subject's audit trail.
type Targets interface {
	AuditTarget(kind, id string) string
}

// Options configure a Register.
type Options struct {
	DB      *sqlstore.DB
	Audit   *audit.Log
	Sealer  Sealer
	Targets Targets
	// Clock returns the current time (time.Now when nil).
	Clock func() time.Time
	// Languages every purpose must be named and described in, because the
	// portal shows purposes in each of them; English and German when empty.
	Languages []string
	// CacheDecisions keeps consent-check decisions in memory. Set it only
	// when this process makes every write to the database (SQLite under
	// one `gdprd serve`), and route the vault's erasures and restrictions
	// to Invalidate; see decisionCache.
	CacheDecisions bool
}

// Register is the consent register. It holds no state beyond its options,
// so one Register serves all goroutines and several replicas may share a
// database.
type Register struct {
	db      *sqlstore.DB
	audit   *audit.Log
	sealer  Sealer
	targets Targets
	clock   func() time.Time
	langs   []string
	cache   *decisionCache // nil: every check reads the database
}

// New returns a Register over o.
func New(o Options) (*Register, error) {
	if o.DB == nil || o.Audit == nil || o.Sealer == nil || o.Targets == nil {
		return nil, fmt.Errorf("consent: DB, Audit, Sealer and Targets are required")
	}
	r := &Register{db: o.DB, audit: o.Audit, sealer: o.Sealer, targets: o.Targets, clock: o.Clock,
		langs: slices.Clone(o.Languages)}
	if r.clock == nil {
		r.clock = time.Now
	}
	if len(r.langs) == 0 {
		r.langs = []string{"en", "de"}
	}
	if o.CacheDecisions {
		r.cache = newDecisionCache()
	}
	for _, l := range r.langs {
		if !langPattern.MatchString(l) {
			return nil, fmt.Errorf("consent: language %q is not a language tag", l)
		}
	}
	return r, nil
}

// Invalidate tells the register that a subject changed outside it (erased,
// restricted or unrestricted in the vault), after the change committed.
func (r *Register) Invalidate(subjectID string) {
	if r.cache != nil {
		r.cache.forget(subjectID)
	}
}

// invalidateAll follows a committed change that may alter every decision.
func (r *Register) invalidateAll() {
	if r.cache != nil {
		r.cache.clear()
	}
}

// now reads the clock at the precision the database stores, so a time
// returned to the caller equals the one read back later.
func (r *Register) now() time.Time {
	return sqlstore.FromMicros(sqlstore.Micros(r.clock()))
}

// subjectTarget is how the audit log names a subject: the same HMAC the
// vault uses.
func (r *Register) subjectTarget(subjectID string) string {
	return r.targets.AuditTarget("subject", subjectID)
}

// auditPlain appends an event that carries no personal data (purpose and
// notice administration) inside tx.
func (r *Register) auditPlain(ctx context.Context, tx *sqlstore.Tx, a Actor, action, target string) error {
	if _, err := r.audit.Append(ctx, tx, audit.Event{
		Actor: a.Name, Action: action, Purpose: a.Purpose, Target: target, Result: "ok",
	}); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// sealDetails seals audit details with the subject's key under the same
// associated data the vault uses, so the vault can open them for the
// subject's access export and erasure makes them unreadable.
func (r *Register) sealDetails(ctx context.Context, subjectID, target string, details any) ([]byte, string, error) {
	b, err := json.Marshal(details)
	if err != nil {
		return nil, "", err
	}
	return r.sealer.Seal(ctx, subjectID, b, "audit", target)
}

// subjectNotFound is the answer for unknown and erased subjects alike.
func subjectNotFound() error { return errcode.E(errcode.NotFound, "no such subject") }

// validText reports whether s can be stored identically on both engines:
// PostgreSQL TEXT holds neither NUL bytes nor invalid UTF-8.
func validText(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
