package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
)

// KeySize is the size in bytes of the master key, of every KEK and of every
// data key: all are AES-256 keys or HKDF inputs of the same strength.
const KeySize = 32

// HKDF info strings. Each purpose gets its own subkey so that a weakness or
// leak in one use (say, an HMAC oracle on blind indexes) says nothing about
// the others. Changing any of these makes existing data unreadable, so they
// are versioned and never edited.
const (
	infoBlindIndex  = "gdprd blind-index v1"
	infoAuditTarget = "gdprd audit-target v1"
	infoCheckpoint  = "gdprd checkpoint-signing v1"
	infoToken       = "gdprd token v1"
	infoKEKWrap     = "gdprd kek-wrap v1"
	infoSystemKeys  = "gdprd system-keys v1"
)

// Prefixes of the associated data used when wrapping keys. Binding the key ID
// into the AD means a wrapped key copied onto another row fails to unwrap.
const (
	adKEKPrefix = "gdprd/kek/"
	adDEKPrefix = "gdprd/dek/"
)

// formatV1 is the first byte of every wrapped key and sealed value. It leaves
// room for a future format without guessing from lengths.
const formatV1 byte = 0x01

// ErrUnknownKEK is returned when a data key refers to a KEK that has not been
// loaded with LoadKEK or created with NewKEK.
var ErrUnknownKEK = errors.New("keys: unknown KEK")

// ErrUnwrap is returned when a wrapped key does not open: wrong KEK, wrong
// key ID, wrong master key or corrupted bytes. The causes are deliberately
// not told apart.
var ErrUnwrap = errors.New("keys: cannot unwrap key")

// Keyring holds the subkeys derived from the master key and the KEKs loaded
// so far. The master key itself is not kept once the subkeys are derived.
//
// A Keyring is safe for concurrent use. Create one with LoadMaster or
// NewKeyring; the zero value is not usable.
type Keyring struct {
	blindKey  []byte
	auditKey  []byte
	tokenKey  []byte
	systemKey []byte // root of SystemKey
	signer    ed25519.PrivateKey
	publicKey ed25519.PublicKey
	kekWrap   cipher.AEAD

	mu   sync.RWMutex
	keks map[string]cipher.AEAD // KEK ID -> AES-256-GCM under that KEK
}

// NewKeyring derives all subkeys from a 32-byte master key. Production code
// gets a Keyring from LoadMaster; NewKeyring exists for tests and tools that
// already hold the key. The caller's slice is not retained.
func NewKeyring(master []byte) (*Keyring, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("keys: master key must be %d bytes, got %d", KeySize, len(master))
	}
	derive := func(info string) []byte {
		// HKDF-SHA256 only fails for lengths above 255*32 bytes.
		k, err := hkdf.Key(sha256.New, master, nil, info, KeySize)
		if err != nil {
			panic("keys: hkdf: " + err.Error())
		}
		return k
	}

	seed := derive(infoCheckpoint)
	signer := ed25519.NewKeyFromSeed(seed)
	clear(seed)

	wrapKey := derive(infoKEKWrap)
	wrap, err := newAEAD(wrapKey)
	clear(wrapKey)
	if err != nil {
		return nil, err
	}

	return &Keyring{
		blindKey:  derive(infoBlindIndex),
		auditKey:  derive(infoAuditTarget),
		tokenKey:  derive(infoToken),
		systemKey: derive(infoSystemKeys),
		signer:    signer,
		publicKey: signer.Public().(ed25519.PublicKey),
		kekWrap:   wrap,
		keks:      make(map[string]cipher.AEAD),
	}, nil
}

// NewKEK creates a random key-encryption key, loads it into the ring and
// returns its ID with the wrapped form to persist. The wrapped form is only
// readable with the same master key.
func (k *Keyring) NewKEK() (id string, wrapped []byte, err error) {
	id = "kek_" + randomHex(8)
	key := make([]byte, KeySize)
	rand.Read(key)
	defer clear(key)

	wrapped = seal(k.kekWrap, key, []byte(adKEKPrefix+id))
	aead, err := newAEAD(key)
	if err != nil {
		return "", nil, err
	}
	k.mu.Lock()
	k.keks[id] = aead
	k.mu.Unlock()
	return id, wrapped, nil
}

// LoadKEK unwraps a KEK persisted by the caller and keeps it in memory so
// that data keys wrapped by it can be opened. Loading the same ID twice
// replaces the previous entry.
func (k *Keyring) LoadKEK(id string, wrapped []byte) error {
	if !validID(id, "kek_", 8) {
		return errors.New("keys: malformed KEK id")
	}
	key, err := open(k.kekWrap, wrapped, []byte(adKEKPrefix+id))
	if err != nil {
		return fmt.Errorf("%w: KEK %s", ErrUnwrap, id)
	}
	defer clear(key)
	if len(key) != KeySize {
		return fmt.Errorf("%w: KEK %s has wrong length", ErrUnwrap, id)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.keks[id] = aead
	k.mu.Unlock()
	return nil
}

// HasKEK reports whether the KEK with this ID is loaded.
func (k *Keyring) HasKEK(id string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	_, ok := k.keks[id]
	return ok
}

// kek returns the AEAD of a loaded KEK.
func (k *Keyring) kek(id string) (cipher.AEAD, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	aead, ok := k.keks[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKEK, id)
	}
	return aead, nil
}

// NewDataKey creates a random data key for one subject, wrapped by the given
// KEK. The caller persists keyID and wrapped next to the subject; deleting
// them later makes everything sealed with dk unreadable.
func (k *Keyring) NewDataKey(kekID string) (keyID string, wrapped []byte, dk *DataKey, err error) {
	kek, err := k.kek(kekID)
	if err != nil {
		return "", nil, nil, err
	}
	keyID = "dk_" + randomHex(16)
	key := make([]byte, KeySize)
	rand.Read(key)
	defer clear(key)

	dk, err = newDataKey(keyID, key)
	if err != nil {
		return "", nil, nil, err
	}
	wrapped = seal(kek, key, []byte(adDEKPrefix+keyID))
	return keyID, wrapped, dk, nil
}

// OpenDataKey unwraps a data key persisted by NewDataKey or Rewrap. It fails
// with ErrUnwrap if the wrapped bytes belong to another key ID or KEK.
func (k *Keyring) OpenDataKey(kekID, keyID string, wrapped []byte) (*DataKey, error) {
	key, err := k.unwrapDEK(kekID, keyID, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return newDataKey(keyID, key)
}

// Rewrap re-wraps a data key under another KEK, for key rotation. The data
// sealed with the data key is untouched and stays readable, since the data
// key itself does not change.
func (k *Keyring) Rewrap(oldKEKID, newKEKID, keyID string, wrapped []byte) ([]byte, error) {
	newKEK, err := k.kek(newKEKID)
	if err != nil {
		return nil, err
	}
	key, err := k.unwrapDEK(oldKEKID, keyID, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return seal(newKEK, key, []byte(adDEKPrefix+keyID)), nil
}

// unwrapDEK returns the raw data key; callers must clear it.
func (k *Keyring) unwrapDEK(kekID, keyID string, wrapped []byte) ([]byte, error) {
	if !validID(keyID, "dk_", 16) {
		return nil, errors.New("keys: malformed data key id")
	}
	kek, err := k.kek(kekID)
	if err != nil {
		return nil, err
	}
	key, err := open(kek, wrapped, []byte(adDEKPrefix+keyID))
	if err != nil {
		return nil, fmt.Errorf("%w: data key %s", ErrUnwrap, keyID)
	}
	if len(key) != KeySize {
		clear(key)
		return nil, fmt.Errorf("%w: data key %s has wrong length", ErrUnwrap, keyID)
	}
	return key, nil
}

// newAEAD returns AES-256-GCM with a random 96-bit nonce generated on each
// Seal and carried in front of the ciphertext.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return aead, nil
}

// seal returns formatV1 || nonce || ciphertext || tag.
func seal(aead cipher.AEAD, plaintext, ad []byte) []byte {
	out := make([]byte, 1, 1+len(plaintext)+aead.Overhead())
	out[0] = formatV1
	return aead.Seal(out, nil, plaintext, ad)
}

// open reverses seal. It never returns partial plaintext.
func open(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < 1+aead.Overhead() || sealed[0] != formatV1 {
		return nil, ErrDecrypt
	}
	pt, err := aead.Open(nil, nil, sealed[1:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// randomHex returns n random bytes as lower-case hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// validID reports whether id is prefix followed by exactly n bytes in
// lower-case hex. IDs end up in associated data, and checking their shape
// catches callers that swap the KEK ID and the data key ID.
func validID(id, prefix string, n int) bool {
	if len(id) != len(prefix)+2*n || id[:len(prefix)] != prefix {
		return false
	}
	return isLowerHex(id[len(prefix):])
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
