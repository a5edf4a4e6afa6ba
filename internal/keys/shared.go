package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// SealSharedKey seals an HMAC key that gdprd shares with another system: a
// webhook endpoint's signing secret, a host application's hand-off secret.
// The other side gets the key once, when it is created; gdprd keeps it
// sealed under the service key of service (see ServiceKey) and uses it
// only through SharedKeyMAC, so that after creation the key never leaves
// this package. ad binds the sealed key to its row.
func (k *Keyring) SealSharedKey(service string, key []byte, ad ...string) (sealed []byte, keyID string, err error) {
	sk, err := k.ServiceKey(service)
	if err != nil {
		return nil, "", err
	}
	sealed, err = sk.Seal(key, ad...)
	return sealed, sk.ID(), err
}

// SharedKeyMAC returns HMAC-SHA256, under a key sealed by SealSharedKey,
// of the concatenated msg parts. It fails with ErrDecrypt if the sealed
// key does not open with the same service, key ID and ad.
func (k *Keyring) SharedKeyMAC(service, keyID string, sealed []byte, ad []string, msg ...[]byte) ([]byte, error) {
	sk, err := k.ServiceKey(service)
	if err != nil {
		return nil, err
	}
	if keyID != sk.ID() {
		return nil, fmt.Errorf("%w: shared key sealed by unknown key %q", ErrDecrypt, keyID)
	}
	key, err := sk.Open(sealed, ad...)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	h := hmac.New(sha256.New, key)
	for _, m := range msg {
		h.Write(m)
	}
	return h.Sum(nil), nil
}
