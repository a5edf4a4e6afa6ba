package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"regexp"
)

// servicePattern keeps service names short constants chosen by the
// programmer ("mail-outbox"); they become part of the key ID.
var servicePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ServiceKey returns the data key a gdprd capability uses to seal what it
// keeps for itself rather than for one subject: queued mail, webhook
// signing secrets, hand-off secrets. It is derived from the master key
// (HKDF, one subkey per name), so every replica holding the master key
// derives the same key without storing it anywhere, and values sealed by
// one replica open on another. Its ID is "sk_<name>_v1".
func (k *Keyring) ServiceKey(name string) (*DataKey, error) {
	if !servicePattern.MatchString(name) {
		return nil, fmt.Errorf("keys: service key name %q is not valid", name)
	}
	key, err := hkdf.Key(sha256.New, k.service, nil, name, KeySize)
	if err != nil {
		return nil, fmt.Errorf("keys: hkdf: %w", err)
	}
	defer clear(key)
	return newDataKey("sk_"+name+"_v1", key)
}
