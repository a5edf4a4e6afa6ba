package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"regexp"
)

var systemKeyName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,40}$`)

// SystemKey returns the data key for one named use that has no subject of
// its own to hold a key, such as the proof of an anonymous widget visitor's
// choice. It is derived from the master key, so it needs no storage and is
// the same on every replica; its ID is "sys_<name>", bound into every seal.
//
// Values sealed with a system key cannot be crypto-shredded one by one:
// callers delete the rows instead, and keep in them only what may outlive
// a single erasure (truncated addresses, not whole identifiers).
func (k *Keyring) SystemKey(name string) (*DataKey, error) {
	if !systemKeyName.MatchString(name) {
		return nil, fmt.Errorf("keys: system key name %q: want lower-case letters, digits and dashes", name)
	}
	key, err := hkdf.Key(sha256.New, k.systemKey, nil, "gdprd system-key/"+name, KeySize)
	if err != nil {
		return nil, fmt.Errorf("keys: derive system key: %w", err)
	}
	defer clear(key)
	return newDataKey("sys_"+name, key)
}
