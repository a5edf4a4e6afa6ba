package export

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
)

// tokenBytes is the entropy of a link token: 256 bits, far beyond online
// guessing, which is why a fast keyed hash is enough to store it.
const tokenBytes = 32

// DownloadPrefix is the path under which links are served; the token
// follows it.
const DownloadPrefix = "/download/"

// Link is a download link as created. Token is known only to the caller
// that created it: the database holds its keyed hash.
type Link struct {
	ID        string    `json:"id"`
	SubjectID string    `json:"subject_id"`
	Kind      Kind      `json:"kind"`
	Token     string    `json:"-"`
	ExpiresAt time.Time `json:"expires_at"`
}

// linkOptions is what a link stores sealed: how to encrypt the package.
type linkOptions struct {
	Recipient string `json:"recipient,omitempty"`
}

func linkAD(id string) []string { return []string{"export_link", id} }

// CreateLink issues a single-use link to the package of kind for subject,
// valid for the configured lifetime (24 h by default). A passphrase cannot
// be bound to a link (it would have to be stored); an age recipient can,
// and is stored sealed with the subject's key. The creation is audited in
// the same transaction; refusals change nothing and are audited.
func (e *Exporter) CreateLink(ctx context.Context, a vault.Actor, subjectID string, kind Kind, enc Encryption) (Link, error) {
	l, err := e.createLink(ctx, a, subjectID, kind, enc)
	if _, coded := errcode.As(err); coded {
		return Link{}, e.auditRefusal(ctx, a, "export.link.create", subjectID, err)
	}
	return l, err
}

func (e *Exporter) createLink(ctx context.Context, a vault.Actor, subjectID string, kind Kind, enc Encryption) (Link, error) {
	if a.Name == "" {
		return Link{}, errors.New("export: the actor needs a name")
	}
	if !kind.valid() {
		return Link{}, errcode.Field("kind", "the package kind is access or export")
	}
	if enc.Passphrase != "" {
		return Link{}, errcode.Field("encryption.passphrase", "a link cannot carry a passphrase; encrypt to the person's age public key instead, or give the passphrase when downloading at once")
	}
	if _, err := enc.recipients(); err != nil {
		return Link{}, err
	}
	if !vault.ValidSubjectID(subjectID) {
		return Link{}, errcode.E(errcode.NotFound, "no such subject")
	}
	token, err := keys.RandomToken(tokenBytes)
	if err != nil {
		return Link{}, err
	}
	now := e.now()
	l := Link{ID: ids.New("exl_"), SubjectID: subjectID, Kind: kind, Token: token,
		ExpiresAt: sqlstore.FromMicros(sqlstore.Micros(now.Add(e.ttl)))}
	var sealed []byte
	var keyID string
	if enc.Recipient != "" {
		b, err := json.Marshal(linkOptions{Recipient: enc.Recipient})
		if err != nil {
			return Link{}, err
		}
		if sealed, keyID, err = e.vault.Seal(ctx, subjectID, b, linkAD(l.ID)...); err != nil {
			return Link{}, fmt.Errorf("export: seal link options: %w", err)
		}
	}
	err = e.db.Write(ctx, func(tx *sqlstore.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM subjects WHERE id = $1", subjectID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return errcode.E(errcode.NotFound, "no such subject")
		}
		if err != nil {
			return fmt.Errorf("export: check subject: %w", err)
		}
		var opts any
		if sealed != nil {
			opts = sealed
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO export_links (token_hash, id, subject_id, kind, sealed_options, options_key_id,
			created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			e.kr.HashSecret(token), l.ID, subjectID, string(kind), opts, keyID, a.Name,
			sqlstore.Micros(now), sqlstore.Micros(l.ExpiresAt))
		if err != nil {
			return fmt.Errorf("export: store link: %w", err)
		}
		return e.appendAudit(ctx, tx, a, "export.link.create", subjectID, "ok")
	})
	if err != nil {
		return Link{}, err
	}
	return l, nil
}

// validToken reports whether s has the shape of a link token, so that
// other strings are answered without touching the database.
func validToken(s string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == tokenBytes
}

// linkActor is the audit actor of a download: the link, since whoever
// holds it is not otherwise known.
func linkActor(id string) vault.Actor { return vault.Actor{Name: "link:" + id, Purpose: Purpose} }

// Redeem uses up the link with token and returns it. Exactly one caller
// wins a link: the UPDATE that sets used_at also checks that it was unset
// and that the link has not expired, and the database serialises it. An
// unknown or malformed token is NotFound; a used or expired link is Gone.
// The use is audited in the same transaction; refusals are audited too.
func (e *Exporter) Redeem(ctx context.Context, token string) (Link, Encryption, error) {
	miss := errcode.E(errcode.NotFound, "no such download link")
	if !validToken(token) {
		return Link{}, Encryption{}, e.auditRefusal(ctx, vault.Actor{Name: "link:unknown", Purpose: Purpose}, "export.link.use", "", miss)
	}
	hash := e.kr.HashSecret(token)
	now := e.now()
	var (
		l       Link
		kind    string
		sealed  []byte
		keyID   string
		expires int64
	)
	err := e.db.Write(ctx, func(tx *sqlstore.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE export_links SET used_at = $1
			WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1
			RETURNING id, subject_id, kind, sealed_options, options_key_id, expires_at`,
			sqlstore.Micros(now), hash).Scan(&l.ID, &l.SubjectID, &kind, &sealed, &keyID, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotRedeemed
		}
		if err != nil {
			return fmt.Errorf("export: redeem link: %w", err)
		}
		l.Kind, l.ExpiresAt = Kind(kind), sqlstore.FromMicros(expires)
		return e.appendAudit(ctx, tx, linkActor(l.ID), "export.link.use", l.SubjectID, "ok")
	})
	if errors.Is(err, errNotRedeemed) {
		return Link{}, Encryption{}, e.whyNot(ctx, hash, now, miss)
	}
	if err != nil {
		return Link{}, Encryption{}, err
	}
	var enc Encryption
	if sealed != nil {
		plain, err := e.vault.Open(ctx, l.SubjectID, keyID, sealed, linkAD(l.ID)...)
		if err != nil {
			return Link{}, Encryption{}, fmt.Errorf("export: open link options: %w", err)
		}
		var o linkOptions
		if err := json.Unmarshal(plain, &o); err != nil {
			return Link{}, Encryption{}, fmt.Errorf("export: link options: %w", err)
		}
		enc.Recipient = o.Recipient
	}
	return l, enc, nil
}

var errNotRedeemed = errors.New("link not redeemable")

// whyNot explains, and audits, a link that could not be redeemed.
func (e *Exporter) whyNot(ctx context.Context, hash []byte, now time.Time, miss error) error {
	var (
		id, subjectID string
		expires       int64
		used          sql.NullInt64
	)
	err := e.db.Read().QueryRowContext(ctx, `SELECT id, subject_id, expires_at, used_at FROM export_links WHERE token_hash = $1`,
		hash).Scan(&id, &subjectID, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return e.auditRefusal(ctx, vault.Actor{Name: "link:unknown", Purpose: Purpose}, "export.link.use", "", miss)
	}
	if err != nil {
		return fmt.Errorf("export: read link: %w", err)
	}
	refusal := errcode.E(errcode.Gone, "this download link has expired; ask for a new one")
	if used.Valid {
		refusal = errcode.E(errcode.Gone, "this download link has already been used; ask for a new one")
	}
	return e.auditRefusal(ctx, linkActor(id), "export.link.use", subjectID, refusal)
}

// Download redeems the link with token and prepares its package, ready to
// be streamed with Stream. The vault read is audited as the link's.
func (e *Exporter) Download(ctx context.Context, token string) (*Package, error) {
	l, enc, err := e.Redeem(ctx, token)
	if err != nil {
		return nil, err
	}
	return e.Prepare(ctx, linkActor(l.ID), Request{SubjectID: l.SubjectID, Kind: l.Kind, Encryption: enc})
}
