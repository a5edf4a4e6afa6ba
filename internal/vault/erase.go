package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Receipt says what an erasure removed. It names categories and identifier
// kinds, never values.
type Receipt struct {
	SubjectID     string    `json:"subject_id"`
	ErasedAt      time.Time `json:"erased_at"`
	Scope         string    `json:"scope"` // "subject" or "category"
	Identifiers   []string  `json:"identifiers"`
	Categories    []string  `json:"categories"`
	KeysDestroyed int       `json:"keys_destroyed"`
	AuditSeq      int64     `json:"audit_seq"`
}

// Erase removes a subject entirely. In one durable transaction it deletes
// the rows, records tombstones for every data key and appends the audit
// event; then it destroys the keys in the key store (crypto-shredding), so
// copies of the data elsewhere (backups, WAL, old database files, sealed
// audit details) can no longer be decrypted. A crash between the two steps
// is repaired by ApplyTombstones at the next start.
func (v *Vault) Erase(ctx context.Context, a Actor, id string) (*Receipt, error) {
	if !ValidSubjectID(id) {
		return nil, notFound()
	}
	now := v.now().UTC().Truncate(time.Microsecond)
	us := sqlstore.Micros(now)
	var r *Receipt
	var keyIDs []string
	err := v.db.Write(ctx, func(tx *sqlstore.Tx) error {
		r = &Receipt{SubjectID: id, ErasedAt: now, Scope: "subject", Identifiers: []string{}, Categories: []string{}}
		keyIDs = keyIDs[:0]
		// Each DELETE says what it removed, so the receipt and the
		// tombstones name exactly the rows this transaction erased. The
		// children go first: deleting the subject would cascade to them
		// silently.
		if err := collect(ctx, tx, "DELETE FROM subject_data WHERE subject_id = $1 RETURNING category, key_id", id, func(c, k string) {
			r.Categories = append(r.Categories, c)
			keyIDs = append(keyIDs, k)
		}); err != nil {
			return err
		}
		if err := collect(ctx, tx, "DELETE FROM subject_identifiers WHERE subject_id = $1 RETURNING kind, ''", id, func(kind, _ string) {
			r.Identifiers = append(r.Identifiers, kind)
		}); err != nil {
			return err
		}
		var subjectKey string
		err := tx.QueryRowContext(ctx, "DELETE FROM subjects WHERE id = $1 RETURNING key_id", id).Scan(&subjectKey)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound() // rolls back the (empty) deletes above
		}
		if err != nil {
			return err
		}
		keyIDs = append(keyIDs, subjectKey)
		sort.Strings(r.Categories)
		sort.Strings(r.Identifiers)
		if err := tombstone(ctx, tx, us, keyIDs...); err != nil {
			return err
		}
		// The subject's key is going: the event carries no sealed details.
		r.AuditSeq, err = v.appendAuditSeq(ctx, tx, a, "subject.erase", v.target(id), "ok", nil, nil)
		return err
	})
	v.subjectChanged(id) // also on error: the delete may have committed
	if err != nil {
		return nil, err
	}
	if err := v.ks.DestroyRelaxed(context.WithoutCancel(ctx), keyIDs...); err != nil {
		return nil, fmt.Errorf("erase: rows deleted, key destruction pending (retried at start-up): %w", err)
	}
	r.KeysDestroyed = len(keyIDs)
	return r, nil
}

// collect runs a two-column query and hands each row to fn.
func collect(ctx context.Context, q sqlstore.Querier, query, arg string, fn func(a, b string)) error {
	rows, err := q.QueryContext(ctx, query, arg)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return err
		}
		fn(a, b)
	}
	return rows.Err()
}

// EraseCategory removes one category of a subject's data and shreds its key.
func (v *Vault) EraseCategory(ctx context.Context, a Actor, id, cat string) (*Receipt, error) {
	if err := v.checkCategory(ctx, cat); err != nil {
		return nil, err
	}
	if !ValidSubjectID(id) {
		return nil, notFound()
	}
	now := v.now().UTC().Truncate(time.Microsecond)
	us := sqlstore.Micros(now)
	var keyID string
	var seq int64
	err := v.db.Write(ctx, func(tx *sqlstore.Tx) error {
		st, err := v.mustLoad(ctx, tx, id)
		if err != nil {
			return err
		}
		d, ok := st.data[cat]
		if !ok {
			return errcode.E(errcode.NotFound, "this subject has no %s data", cat)
		}
		keyID = d.keyID
		if err := tombstone(ctx, tx, us, keyID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM subject_data WHERE subject_id = $1 AND category = $2", id, cat); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE subjects SET updated_at = $1 WHERE id = $2", us, id); err != nil {
			return err
		}
		subjectKeys, err := v.ks.Open(ctx, st.keyID)
		if err != nil {
			return err
		}
		seq, err = v.appendAuditSeq(ctx, tx, a, "subject.data.erase", v.target(id), "ok", subjectKeys[st.keyID], map[string]any{"category": cat})
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := v.ks.DestroyRelaxed(context.WithoutCancel(ctx), keyID); err != nil {
		return nil, fmt.Errorf("erase category: key destruction pending (retried at start-up): %w", err)
	}
	return &Receipt{SubjectID: id, ErasedAt: now, Scope: "category", Identifiers: []string{}, Categories: []string{cat}, KeysDestroyed: 1, AuditSeq: seq}, nil
}

// ApplyTombstones destroys every data key that an erasure recorded, in case
// a crash came between the erasure's commit and the key destruction, or a
// key-store backup older than the erasure was restored.
func (v *Vault) ApplyTombstones(ctx context.Context) error {
	rows, err := v.db.Read().QueryContext(ctx, "SELECT key_id FROM key_tombstones")
	if err != nil {
		return fmt.Errorf("read tombstones: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for start := 0; start < len(ids); start += 500 {
		if err := v.ks.Destroy(ctx, ids[start:min(start+500, len(ids))]...); err != nil {
			return fmt.Errorf("apply tombstones: %w", err)
		}
	}
	return nil
}
