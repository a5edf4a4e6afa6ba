// Package export builds a person's access package (GDPR Art. 15) and
// portability package (Art. 20): a ZIP with one CSV per data category, a
// JSON file of everything, and a README, optionally encrypted with age.
// The package is streamed to an io.Writer as it is built, so a large
// export costs the server the size of one subject's data, not the size of
// the archive. It also issues and redeems the signed, single-use, expiring
// links through which staff-initiated and large exports are fetched.
//
// The data is read through the vault with an audited read under the
// purpose "dsr-access"; every package built and every link created or used
// is an audit event about the subject.
package export

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"filippo.io/age"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
)

// Purpose is the purpose every read of an export is audited under.
const Purpose = "dsr-access"

// Kind is which right a package answers.
type Kind string

const (
	// Access is the Art. 15 package: the data and the Art. 15(1)(a)-(h)
	// and 15(2) information.
	Access Kind = "access"
	// Portability is the Art. 20 package. For now it holds the same data
	// files as Access; narrowing it to data "provided by" the person
	// (WP242) needs the provenance per field that the vault does not
	// record yet.
	Portability Kind = "export"
)

func (k Kind) valid() bool { return k == Access || k == Portability }

// Encryption says what, if anything, a package is encrypted to with age.
// At most one of the two is set.
type Encryption struct {
	// Passphrase encrypts with age's scrypt recipient; decrypt with
	// `age -d` and the passphrase.
	Passphrase string `json:"-"`
	// Recipient is an age X25519 public key ("age1…"); decrypt with the
	// matching identity.
	Recipient string `json:"recipient,omitempty"`
}

// minPassphrase is the shortest passphrase accepted: scrypt slows guessing
// but cannot save a passphrase of a few characters.
const minPassphrase = 10

// recipients checks e and returns the age recipients it names, none when
// the package is not encrypted.
func (e Encryption) recipients() ([]age.Recipient, error) {
	switch {
	case e.Passphrase != "" && e.Recipient != "":
		return nil, errcode.Field("encryption", "encrypt with a passphrase or to a recipient's age public key, not both")
	case e.Passphrase != "":
		if len([]rune(e.Passphrase)) < minPassphrase {
			return nil, errcode.Field("encryption.passphrase", "a passphrase has at least %d characters", minPassphrase)
		}
		r, err := age.NewScryptRecipient(e.Passphrase)
		if err != nil {
			return nil, errcode.Wrap(err, errcode.Invalid, "the passphrase cannot be used")
		}
		return []age.Recipient{r}, nil
	case e.Recipient != "":
		r, err := age.ParseX25519Recipient(e.Recipient)
		if err != nil {
			return nil, &errcode.Error{Code: errcode.Invalid, Field: "encryption.recipient",
				Message: "the recipient is not an age X25519 public key (age1…)", Err: err}
		}
		return []age.Recipient{r}, nil
	}
	return nil, nil
}

// Options configure an Exporter.
type Options struct {
	DB      *sqlstore.DB
	Vault   *vault.Vault
	Consent *consent.Register
	Audit   *audit.Log
	Keyring *keys.Keyring
	// Info is the operator's Art. 15 information.
	Info Info
	// LinkTTL is how long a download link lives (DefaultLinkTTL when zero).
	LinkTTL time.Duration
	Clock   func() time.Time
}

// DefaultLinkTTL is the life of a download link unless configured.
const DefaultLinkTTL = 24 * time.Hour

// Exporter builds packages and manages download links. It holds no state
// beyond its options and is safe for concurrent use.
type Exporter struct {
	db      *sqlstore.DB
	vault   *vault.Vault
	consent *consent.Register
	audit   *audit.Log
	kr      *keys.Keyring
	info    Info
	ttl     time.Duration
	clock   func() time.Time
}

// New returns an Exporter over o.
func New(o Options) (*Exporter, error) {
	if o.DB == nil || o.Vault == nil || o.Consent == nil || o.Audit == nil || o.Keyring == nil {
		return nil, errors.New("export: DB, Vault, Consent, Audit and Keyring are required")
	}
	if o.LinkTTL < 0 {
		return nil, fmt.Errorf("export: negative link lifetime %v", o.LinkTTL)
	}
	e := &Exporter{db: o.DB, vault: o.Vault, consent: o.Consent, audit: o.Audit, kr: o.Keyring,
		info: o.Info, ttl: o.LinkTTL, clock: o.Clock}
	if e.ttl == 0 {
		e.ttl = DefaultLinkTTL
	}
	if e.clock == nil {
		e.clock = time.Now
	}
	e.info.Recipients = slices.Clone(e.info.Recipients)
	e.info.AutomatedDecisions = slices.Clone(e.info.AutomatedDecisions)
	return e, nil
}

func (e *Exporter) now() time.Time { return sqlstore.FromMicros(sqlstore.Micros(e.clock())) }

func (e *Exporter) target(subjectID string) string { return e.kr.AuditTarget("subject", subjectID) }

// appendAudit writes one audit event about subjectID in tx, fail-closed.
func (e *Exporter) appendAudit(ctx context.Context, tx *sqlstore.Tx, a vault.Actor, action, subjectID, result string) error {
	_, err := e.audit.Append(ctx, tx, audit.Event{Actor: a.Name, Action: action, Purpose: a.Purpose,
		Target: e.target(subjectID), Result: result})
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// auditRefusal records a refused export operation; the refusal is returned
// with any failure to audit it joined.
func (e *Exporter) auditRefusal(ctx context.Context, a vault.Actor, action, subjectID string, refusal error) error {
	target := ""
	if vault.ValidSubjectID(subjectID) {
		target = e.target(subjectID)
	}
	err := e.db.WriteWith(ctx, sqlstore.Relaxed, func(tx *sqlstore.Tx) error {
		_, err := e.audit.Append(ctx, tx, audit.Event{Actor: a.Name, Action: action, Purpose: a.Purpose,
			Target: target, Result: string(errcode.Of(refusal))})
		return err
	})
	if err != nil {
		return errors.Join(refusal, fmt.Errorf("audit refused %s: %w", action, err))
	}
	return refusal
}
