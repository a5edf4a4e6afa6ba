package keys

// SealStaff encrypts a staff account's secret (their e-mail address,
// their TOTP secret, an enrolment in progress) with AES-256-GCM under the
// "staff" service key, bound to its place by the ad parts (for example
// "staff", id, "email"). Staff are not data subjects of the vault, so
// these values cannot use a subject's data key; deleting the staff row
// deletes them.
func (k *Keyring) SealStaff(plaintext []byte, ad ...string) []byte {
	b, _ := k.staffKey().Seal(plaintext, ad...)
	return b
}

// OpenStaff reverses SealStaff with the same ad parts.
func (k *Keyring) OpenStaff(sealed []byte, ad ...string) ([]byte, error) {
	return k.staffKey().Open(sealed, ad...)
}

func (k *Keyring) staffKey() *DataKey {
	dk, err := k.ServiceKey("staff")
	if err != nil {
		panic("keys: staff key: " + err.Error()) // "staff" is a valid name
	}
	return dk
}
