// Package vault is gdprd's personal-data vault: data subjects, their
// identifiers (found by blind index, stored sealed) and their personal data
// by category, each sealed under a data key of its own that lives in the
// separate key store. Every access is audited in the same transaction as
// the change it describes; erasure destroys keys so that no copy of the
// data stays readable.
package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/gdprd/gdprd/internal/ids"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Identifier kinds. Each is unique across subjects.
const (
	KindExternalID = "external_id"
	KindEmail      = "email"
	KindPhone      = "phone"
)

// Actor says who touches personal data and why; both go into the audit log.
type Actor struct {
	Name    string // "apikey:ak_…", "staff:…", "subject:…", "system"
	Purpose string // a declared purpose slug
}

// Subject is a data subject as the vault returns it, decrypted.
type Subject struct {
	ID         string                     `json:"id"`
	ExternalID string                     `json:"external_id,omitempty"`
	Email      string                     `json:"email,omitempty"`
	Phone      string                     `json:"phone,omitempty"`
	Data       map[string]json.RawMessage `json:"data"`
	Restricted bool                       `json:"restricted"`
	CreatedAt  time.Time                  `json:"created_at"`
	UpdatedAt  time.Time                  `json:"updated_at"`
}

// LogValue keeps a subject's personal data out of logs: only the
// pseudonymous id is ever logged.
func (s Subject) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.String("personal_data", "[redacted]"))
}

// NewSubject is the input of Create.
type NewSubject struct {
	ExternalID string
	Email      string
	Phone      string
	Data       map[string]json.RawMessage
}

// LogValue redacts, like Subject's.
func (n NewSubject) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Vault is safe for concurrent use.
type Vault struct {
	db    *sqlstore.DB
	ks    *KeyStore
	kr    *keys.Keyring
	audit *audit.Log
	now   func() time.Time
	// reads records the audit events of reads and refusals, coalescing
	// concurrent ones; Relaxed by default (on disk within 200 ms),
	// Durable when the operator asks.
	reads *audit.Recorder

	mu         sync.RWMutex
	categories map[string]bool
	purposes   map[string]bool

	// changed is told about each subject erased or restricted, after the
	// change committed, so in-memory views elsewhere (the consent check's
	// decision cache) drop what they hold about it.
	changed atomic.Pointer[func(subjectID string)]
}

// OnSubjectChange registers fn to be called after a subject is erased or
// its restriction changes. Register it before serving; a later call
// replaces the earlier fn.
func (v *Vault) OnSubjectChange(fn func(subjectID string)) { v.changed.Store(&fn) }

func (v *Vault) subjectChanged(id string) {
	if fn := v.changed.Load(); fn != nil {
		(*fn)(id)
	}
}

// Options configure a Vault.
type Options struct {
	DB       *sqlstore.DB
	KeyStore *KeyStore
	Keyring  *keys.Keyring
	Audit    *audit.Log
	Clock    func() time.Time
	// DurableReadAudit makes the audit event of every read durable before
	// the data is returned, at the cost of one fsync per read.
	DurableReadAudit bool
}

// New returns a Vault and re-applies any pending key tombstones.
func New(ctx context.Context, o Options) (*Vault, error) {
	v := &Vault{db: o.DB, ks: o.KeyStore, kr: o.Keyring, audit: o.Audit, now: o.Clock}
	if v.now == nil {
		v.now = time.Now
	}
	if err := v.ApplyTombstones(ctx); err != nil {
		return nil, err
	}
	d := sqlstore.Relaxed
	if o.DurableReadAudit {
		d = sqlstore.Durable
	}
	v.reads = o.Audit.NewRecorder(o.DB, d)
	return v, nil
}

// Close stops the read-audit recorder after writing what it holds; call it
// before closing the database.
func (v *Vault) Close() { v.reads.Close() }

// KeyStore exposes the key store, for `gdprd keys rotate`.
func (v *Vault) KeyStore() *KeyStore { return v.ks }

// ValidSubjectID reports whether id has the shape of a subject id; other
// strings are answered as not found without touching the database.
func ValidSubjectID(id string) bool { return ids.Valid("sub_", id) }

// normalise returns the normalised value of an identifier of kind.
func normalise(kind, value string) (string, error) {
	var (
		n   string
		err error
	)
	switch kind {
	case KindEmail:
		n, err = keys.NormalizeEmail(value)
	case KindPhone:
		n, err = keys.NormalizePhone(value)
	case KindExternalID:
		n, err = keys.NormalizeExternalID(value)
	default:
		return "", errcode.Field(kind, "unknown identifier kind")
	}
	if err != nil {
		// The normaliser's reason ("missing country code…") helps the
		// client; its package prefix does not. The value itself is never
		// repeated: it is personal data.
		reason := err.Error()
		if i := strings.LastIndex(reason, ": "); i >= 0 {
			reason = reason[i+2:]
		}
		return "", &errcode.Error{Code: errcode.Invalid, Field: kind, Message: kind + " is not valid: " + reason, Err: err}
	}
	return n, nil
}

func (v *Vault) target(id string) string { return v.kr.AuditTarget("subject", id) }

// sealDetails seals audit details with the subject's key, so that erasing
// the subject also erases them from the audit log.
func sealDetails(dk *keys.DataKey, target string, details any) ([]byte, string, error) {
	if dk == nil || details == nil {
		return nil, "", nil
	}
	b, err := json.Marshal(details)
	if err != nil {
		return nil, "", err
	}
	sealed, err := dk.Seal(b, "audit", target)
	if err != nil {
		return nil, "", err
	}
	return sealed, dk.ID(), nil
}

// OpenAuditDetails decrypts the sealed details of an audit event, for the
// subject's own access export and for investigations. It fails once the
// subject has been erased.
func (v *Vault) OpenAuditDetails(ctx context.Context, e audit.Event) (json.RawMessage, error) {
	if e.KeyID == "" || len(e.Details) == 0 {
		return nil, nil
	}
	ks, err := v.ks.Open(ctx, e.KeyID)
	if err != nil {
		return nil, err
	}
	dk, ok := ks[e.KeyID]
	if !ok {
		return nil, errcode.E(errcode.Gone, "the details of this event were erased with their subject")
	}
	return dk.Open(e.Details, "audit", e.Target)
}

// appendAudit writes one audit event in tx.
func (v *Vault) appendAudit(ctx context.Context, tx *sqlstore.Tx, a Actor, action, target, result string, dk *keys.DataKey, details any) error {
	_, err := v.appendAuditSeq(ctx, tx, a, action, target, result, dk, details)
	return err
}

// appendAuditSeq is appendAudit that also returns the event's sequence
// number, for receipts that point at their audit event.
func (v *Vault) appendAuditSeq(ctx context.Context, tx *sqlstore.Tx, a Actor, action, target, result string, dk *keys.DataKey, details any) (int64, error) {
	sealed, keyID, err := sealDetails(dk, target, details)
	if err != nil {
		return 0, fmt.Errorf("seal audit details: %w", err)
	}
	seq, err := v.audit.Append(ctx, tx, audit.Event{
		Actor: a.Name, Action: action, Purpose: a.Purpose, Target: target,
		Result: result, KeyID: keyID, Details: sealed,
	})
	if err != nil {
		return 0, fmt.Errorf("audit %s: %w", action, err)
	}
	return seq, nil
}

// auditOnly records an access that changed nothing (a read, a miss). The
// caller returns the data only after this succeeds.
func (v *Vault) auditOnly(ctx context.Context, a Actor, action, target, result string, dk *keys.DataKey, details any) error {
	sealed, keyID, err := sealDetails(dk, target, details)
	if err != nil {
		return fmt.Errorf("seal audit details: %w", err)
	}
	_, err = v.reads.Record(ctx, audit.Event{
		Actor: a.Name, Action: action, Purpose: a.Purpose, Target: target,
		Result: result, KeyID: keyID, Details: sealed,
	})
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// Audit records an administrative action that touches no subject (API key
// creation, key rotation…), fail-closed like every other event.
func (v *Vault) Audit(ctx context.Context, a Actor, action, target, result string) error {
	return v.db.Write(ctx, func(tx *sqlstore.Tx) error {
		return v.appendAudit(ctx, tx, a, action, target, result, nil, nil)
	})
}
