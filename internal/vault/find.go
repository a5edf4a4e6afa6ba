package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SubjectID finds the subject holding an identifier by its blind index
// alone, without opening any personal data: sign-in (an e-mail code, a
// hand-off token naming an external ID) needs to know who, not what. found
// is false for an unknown or erased subject. A malformed value is an
// Invalid error. The caller audits the sign-in it makes of the answer.
func (v *Vault) SubjectID(ctx context.Context, kind, value string) (id string, found bool, err error) {
	norm, err := normalise(kind, value)
	if err != nil {
		return "", false, err
	}
	err = v.db.Read().QueryRowContext(ctx, "SELECT subject_id FROM subject_identifiers WHERE kind = $1 AND blind = $2",
		kind, v.kr.BlindIndex(kind, norm)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find subject: %w", err)
	}
	return id, true, nil
}
