package mail

import (
	"errors"

	"github.com/gdprd/gdprd/internal/keys"
)

// KeySealer is a Sealer over data keys from the key hierarchy: it seals
// with the current key and opens with whichever key sealed a value, so
// the outbox key can be replaced while messages sealed with the old one
// are still waiting.
type KeySealer struct {
	current *keys.DataKey
	byID    map[string]*keys.DataKey
}

// NewKeySealer seals with current and also opens values sealed by older.
func NewKeySealer(current *keys.DataKey, older ...*keys.DataKey) *KeySealer {
	s := &KeySealer{current: current, byID: map[string]*keys.DataKey{current.ID(): current}}
	for _, k := range older {
		s.byID[k.ID()] = k
	}
	return s
}

// Seal encrypts plaintext with the current key (AES-256-GCM).
func (s *KeySealer) Seal(plaintext []byte, ad ...string) ([]byte, string, error) {
	sealed, err := s.current.Seal(plaintext, ad...)
	if err != nil {
		return nil, "", err
	}
	return sealed, s.current.ID(), nil
}

// Open decrypts a value sealed by one of the sealer's keys.
func (s *KeySealer) Open(sealed []byte, keyID string, ad ...string) ([]byte, error) {
	k, ok := s.byID[keyID]
	if !ok {
		return nil, errors.New("mail: unknown outbox key")
	}
	return k.Open(sealed, ad...)
}
