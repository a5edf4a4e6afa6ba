package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// putData seals value for (id, cat) under a fresh key and replaces the
// stored row. The previous version's key is tombstoned (and destroyed by
// the caller after commit), so a replaced value is shredded too: no backup
// keeps a readable old version.
func (v *Vault) putData(ctx context.Context, tx *sqlstore.Tx, id, cat string, value []byte, dk *keys.DataKey, st *storedSubject, retired *[]string, us int64) error {
	sealed, err := dk.Seal(value, "subject_data", id, cat)
	if err != nil {
		return err
	}
	if old, ok := st.data[cat]; ok {
		if err := tombstone(ctx, tx, us, old.keyID); err != nil {
			return err
		}
		*retired = append(*retired, old.keyID)
		_, err = tx.ExecContext(ctx, "UPDATE subject_data SET key_id = $1, sealed = $2, updated_at = $3 WHERE subject_id = $4 AND category = $5",
			dk.ID(), sealed, us, id, cat)
	} else {
		_, err = tx.ExecContext(ctx, "INSERT INTO subject_data (subject_id, category, key_id, sealed, updated_at) VALUES ($1, $2, $3, $4, $5)",
			id, cat, dk.ID(), sealed, us)
	}
	return err
}

// tombstone records that keyIDs are to be destroyed, in one statement.
func tombstone(ctx context.Context, tx *sqlstore.Tx, us int64, keyIDs ...string) error {
	if len(keyIDs) == 0 {
		return nil
	}
	query, args := valuesInsert("INSERT INTO key_tombstones (key_id, at) VALUES ", " ON CONFLICT (key_id) DO NOTHING", keyIDs, us)
	_, err := tx.ExecContext(ctx, query, args...)
	return err
}

// valuesInsert builds a multi-row insert of (id, extra) pairs.
func valuesInsert(head, tail string, ids []string, extra any) (string, []any) {
	var sb strings.Builder
	sb.WriteString(head)
	args := make([]any, 0, 2*len(ids))
	for i, id := range ids {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "($%d, $%d)", 2*i+1, 2*i+2)
		args = append(args, id, extra)
	}
	sb.WriteString(tail)
	return sb.String(), args
}

// PutData replaces one category of a subject's data.
func (v *Vault) PutData(ctx context.Context, a Actor, id, cat string, value json.RawMessage) error {
	if err := v.checkCategory(ctx, cat); err != nil {
		return err
	}
	if err := checkObject(value); err != nil {
		return errcode.Field("data", "%v", err)
	}
	if !ValidSubjectID(id) {
		return notFound()
	}
	dks, err := v.ks.Take(ctx, 1)
	if err != nil {
		return err
	}
	var retired []string
	now := sqlstore.Micros(v.now())
	target := v.target(id)
	err = v.db.Write(ctx, func(tx *sqlstore.Tx) error {
		retired = nil
		st, err := v.mustLoad(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := v.putData(ctx, tx, id, cat, compact(value), dks[0], st, &retired, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE subjects SET updated_at = $1 WHERE id = $2", now, id); err != nil {
			return err
		}
		subjectKeys, err := v.ks.Open(ctx, st.keyID)
		if err != nil {
			return err
		}
		return v.appendAudit(ctx, tx, a, "subject.data.put", target, "ok", subjectKeys[st.keyID], map[string]any{"category": cat, "replaced": len(retired) > 0})
	})
	if err != nil {
		v.ks.DestroyRelaxed(context.WithoutCancel(ctx), dks[0].ID())
		return err
	}
	v.ks.DestroyRelaxed(context.WithoutCancel(ctx), retired...)
	return nil
}

// GetData returns one category of a subject's data, audited like Get.
func (v *Vault) GetData(ctx context.Context, a Actor, id, cat string) (json.RawMessage, error) {
	if err := v.checkCategory(ctx, cat); err != nil {
		return nil, err
	}
	s, err := v.read(ctx, a, id, "subject.data.read")
	if err != nil {
		return nil, err
	}
	d, ok := s.Data[cat]
	if !ok {
		return nil, errcode.E(errcode.NotFound, "this subject has no %s data", cat)
	}
	return d, nil
}
