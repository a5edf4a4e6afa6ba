package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gdprd/gdprd/internal/errcode"
)

// Seal seals plaintext with the subject's own data key, for records that
// other capabilities keep about a person (consent proof, request
// evidence): erasing the subject then erases them too. ad binds the
// ciphertext to its place. An unknown or erased subject is NotFound.
func (v *Vault) Seal(ctx context.Context, subjectID string, plaintext []byte, ad ...string) (sealed []byte, keyID string, err error) {
	if !ValidSubjectID(subjectID) {
		return nil, "", notFound()
	}
	err = v.db.Read().QueryRowContext(ctx, "SELECT key_id FROM subjects WHERE id = $1", subjectID).Scan(&keyID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", notFound()
	}
	if err != nil {
		return nil, "", fmt.Errorf("seal: %w", err)
	}
	dks, err := v.ks.Open(ctx, keyID)
	if err != nil {
		return nil, "", err
	}
	dk, ok := dks[keyID]
	if !ok {
		return nil, "", notFound()
	}
	sealed, err = dk.Seal(plaintext, ad...)
	return sealed, keyID, err
}

// Open opens what Seal sealed. Once the subject is erased its key is gone
// and the answer is Gone.
func (v *Vault) Open(ctx context.Context, subjectID, keyID string, sealed []byte, ad ...string) ([]byte, error) {
	dks, err := v.ks.Open(ctx, keyID)
	if err != nil {
		return nil, err
	}
	dk, ok := dks[keyID]
	if !ok {
		return nil, errcode.E(errcode.Gone, "erased with its subject")
	}
	return dk.Open(sealed, ad...)
}
