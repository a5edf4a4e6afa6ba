package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// infoStaffSeal derives the key that seals staff accounts' own secrets
// (their e-mail address, their TOTP secret, an enrolment in progress).
// Staff are not data subjects of the vault, so these values cannot use a
// subject's data key; deleting the staff row deletes them.
const infoStaffSeal = "gdprd staff-seal v1"

// staffKeyID names the staff sealing key in associated data.
const staffKeyID = "staff-v1"

// staffKey derives the staff sealing key from the token key (itself an
// HKDF output of the master key), so the Keyring needs no new field.
func (k *Keyring) staffKey() *DataKey {
	key, err := hkdf.Key(sha256.New, k.tokenKey, nil, infoStaffSeal, KeySize)
	if err != nil {
		panic("keys: hkdf: " + err.Error())
	}
	dk, err := newDataKey(staffKeyID, key)
	clear(key)
	if err != nil {
		panic("keys: staff key: " + err.Error())
	}
	return dk
}

// SealStaff encrypts a staff account's secret with AES-256-GCM, bound to
// its place by the ad parts (for example "staff", id, "email").
func (k *Keyring) SealStaff(plaintext []byte, ad ...string) []byte {
	b, _ := k.staffKey().Seal(plaintext, ad...)
	return b
}

// OpenStaff reverses SealStaff with the same ad parts.
func (k *Keyring) OpenStaff(sealed []byte, ad ...string) ([]byte, error) {
	return k.staffKey().Open(sealed, ad...)
}
