package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"sync"
	"testing"
)

// referenceHKDF is RFC 5869 HKDF-SHA256 for a 32-byte output with an empty
// salt, written out independently of crypto/hkdf so that a change to the
// derivation (a renamed info string, a salt) is caught.
func referenceHKDF(master []byte, info string) []byte {
	extract := hmac.New(sha256.New, make([]byte, sha256.Size))
	extract.Write(master)
	prk := extract.Sum(nil)
	expand := hmac.New(sha256.New, prk)
	expand.Write([]byte(info))
	expand.Write([]byte{1})
	return expand.Sum(nil)
}

func referenceHMAC(key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// TestDerivationMatchesDocumentedInfoStrings pins every subkey to HKDF-SHA256
// of the master key with its documented info string. Breaking this makes all
// stored indexes, hashes and wrapped keys unusable.
func TestDerivationMatchesDocumentedInfoStrings(t *testing.T) {
	master := testMaster(0x42)
	k := newTestKeyring(t, 0x42)

	t.Run("blind index", func(t *testing.T) {
		want := referenceHMAC(referenceHKDF(master, "gdprd blind-index v1"), []byte("email\x00a@b.c"))
		if got := k.BlindIndex("email", "a@b.c"); !bytes.Equal(got, want) {
			t.Errorf("BlindIndex = %x, want %x", got, want)
		}
	})
	t.Run("audit target", func(t *testing.T) {
		want := hex.EncodeToString(referenceHMAC(referenceHKDF(master, "gdprd audit-target v1"), []byte("subject\x00s1")))
		if got := k.AuditTarget("subject", "s1"); got != want {
			t.Errorf("AuditTarget = %s, want %s", got, want)
		}
	})
	t.Run("token", func(t *testing.T) {
		want := referenceHMAC(referenceHKDF(master, "gdprd token v1"), []byte("secret"))
		if got := k.HashSecret("secret"); !bytes.Equal(got, want) {
			t.Errorf("HashSecret = %x, want %x", got, want)
		}
	})
	t.Run("checkpoint signing", func(t *testing.T) {
		want := ed25519.NewKeyFromSeed(referenceHKDF(master, "gdprd checkpoint-signing v1")).Public().(ed25519.PublicKey)
		if got := k.CheckpointPublicKey(); !got.Equal(want) {
			t.Errorf("CheckpointPublicKey = %x, want %x", got, want)
		}
	})
	t.Run("kek wrap", func(t *testing.T) {
		id, wrapped, err := k.NewKEK()
		if err != nil {
			t.Fatal(err)
		}
		block, err := aes.NewCipher(referenceHKDF(master, "gdprd kek-wrap v1"))
		if err != nil {
			t.Fatal(err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			t.Fatal(err)
		}
		if wrapped[0] != 0x01 {
			t.Fatalf("version byte = %#x, want 0x01", wrapped[0])
		}
		kek, err := gcm.Open(nil, wrapped[1:13], wrapped[13:], []byte("gdprd/kek/"+id))
		if err != nil {
			t.Fatalf("wrapped KEK does not open with AES-256-GCM under the kek-wrap subkey, AD gdprd/kek/<id>: %v", err)
		}
		if len(kek) != KeySize {
			t.Errorf("KEK is %d bytes, want %d", len(kek), KeySize)
		}
	})
}

func TestSubkeysAreDistinct(t *testing.T) {
	master := testMaster(3)
	k := newTestKeyring(t, 3)
	keys := map[string][]byte{
		"master": master,
		"blind":  k.blindKey,
		"audit":  k.auditKey,
		"token":  k.tokenKey,
		"signer": k.signer.Seed(),
	}
	seen := map[string]string{}
	for name, key := range keys {
		if other, dup := seen[string(key)]; dup {
			t.Errorf("%s and %s keys are equal", name, other)
		}
		seen[string(key)] = name
	}
}

func TestNewKEKAndLoadKEK(t *testing.T) {
	k := newTestKeyring(t, 1)
	id, wrapped, err := k.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^kek_[0-9a-f]{16}$`).MatchString(id) {
		t.Errorf("KEK id %q does not match kek_ + 16 hex digits", id)
	}
	if !k.HasKEK(id) {
		t.Error("NewKEK did not load the KEK into the ring")
	}
	id2, _, err := k.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	if id2 == id {
		t.Error("two NewKEK calls returned the same id")
	}

	// A fresh keyring from the same master (a restart) loads the KEK and
	// opens data keys made before.
	keyID, dkWrapped, dk, err := k.NewDataKey(id)
	if err != nil {
		t.Fatal(err)
	}
	sealed := mustSeal(t, dk, []byte("persisted"), "f")

	restarted := newTestKeyring(t, 1)
	if restarted.HasKEK(id) {
		t.Fatal("fresh keyring claims to have a KEK before LoadKEK")
	}
	if err := restarted.LoadKEK(id, wrapped); err != nil {
		t.Fatalf("LoadKEK: %v", err)
	}
	if !restarted.HasKEK(id) {
		t.Error("HasKEK false after LoadKEK")
	}
	reopened, err := restarted.OpenDataKey(id, keyID, dkWrapped)
	if err != nil {
		t.Fatalf("OpenDataKey after restart: %v", err)
	}
	if got, err := reopened.Open(sealed, "f"); err != nil || string(got) != "persisted" {
		t.Errorf("Open after restart = %q, %v", got, err)
	}
}

func TestLoadKEKFailures(t *testing.T) {
	k := newTestKeyring(t, 1)
	id, wrapped, err := k.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	otherID, _, err := k.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(wrapped)
	tampered[len(tampered)-1] ^= 1

	tests := []struct {
		name    string
		ring    *Keyring
		id      string
		wrapped []byte
	}{
		{"other master key", newTestKeyring(t, 2), id, wrapped},
		{"other KEK id", newTestKeyring(t, 1), otherID, wrapped},
		{"tampered", newTestKeyring(t, 1), id, tampered},
		{"truncated", newTestKeyring(t, 1), id, wrapped[:20]},
		{"empty", newTestKeyring(t, 1), id, nil},
		{"malformed id", newTestKeyring(t, 1), "dk_" + id[4:], wrapped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.ring.LoadKEK(tt.id, tt.wrapped); err == nil {
				t.Fatal("LoadKEK succeeded")
			}
			if tt.ring.HasKEK(tt.id) {
				t.Error("failed LoadKEK left the KEK in the ring")
			}
		})
	}
}

func TestNewDataKey(t *testing.T) {
	k := newTestKeyring(t, 1)
	if _, _, _, err := k.NewDataKey("kek_0000000000000000"); !errors.Is(err, ErrUnknownKEK) {
		t.Errorf("NewDataKey with unknown KEK: err = %v, want ErrUnknownKEK", err)
	}
	kekID, _, err := k.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	keyID, wrapped, dk, err := k.NewDataKey(kekID)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^dk_[0-9a-f]{32}$`).MatchString(keyID) {
		t.Errorf("data key id %q does not match dk_ + 32 hex digits", keyID)
	}
	if dk.ID() != keyID {
		t.Errorf("DataKey.ID() = %q, want %q", dk.ID(), keyID)
	}
	if want := 1 + 12 + KeySize + 16; len(wrapped) != want {
		t.Errorf("wrapped data key is %d bytes, want %d", len(wrapped), want)
	}
	keyID2, _, _, err := k.NewDataKey(kekID)
	if err != nil {
		t.Fatal(err)
	}
	if keyID2 == keyID {
		t.Error("two data keys share an id")
	}
}

func TestOpenDataKeyFailures(t *testing.T) {
	k := newTestKeyring(t, 1)
	kekID, _, err := k.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	otherKEK, _, err := k.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	keyID, wrapped, _, err := k.NewDataKey(kekID)
	if err != nil {
		t.Fatal(err)
	}
	otherKeyID, _, _, err := k.NewDataKey(kekID)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name         string
		kekID, keyID string
		wrapped      []byte
		want         error
	}{
		{"wrong KEK", otherKEK, keyID, wrapped, ErrUnwrap},
		{"wrong key id", kekID, otherKeyID, wrapped, ErrUnwrap},
		{"unknown KEK", "kek_ffffffffffffffff", keyID, wrapped, ErrUnknownKEK},
		{"tampered", kekID, keyID, append(bytes.Clone(wrapped[:len(wrapped)-1]), wrapped[len(wrapped)-1]^1), ErrUnwrap},
		{"truncated", kekID, keyID, wrapped[:10], ErrUnwrap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dk, err := k.OpenDataKey(tt.kekID, tt.keyID, tt.wrapped)
			if !errors.Is(err, tt.want) || dk != nil {
				t.Errorf("OpenDataKey = %v, %v; want nil, %v", dk, err, tt.want)
			}
		})
	}
	t.Run("swapped ids", func(t *testing.T) {
		if _, err := k.OpenDataKey(keyID, kekID, wrapped); err == nil {
			t.Error("OpenDataKey accepted the KEK id and the data key id swapped")
		}
	})
}

// TestRewrap is the core of KEK rotation (security target CR-6): the data
// key moves to the new KEK and data sealed before stays readable.
func TestRewrap(t *testing.T) {
	k := newTestKeyring(t, 1)
	oldKEK, oldKEKWrapped, err := k.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	keyID, wrapped, dk, err := k.NewDataKey(oldKEK)
	if err != nil {
		t.Fatal(err)
	}
	sealed := mustSeal(t, dk, []byte("sealed before rotation"), "subject_data", "s1")

	newKEK, newKEKWrapped, err := k.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	rewrapped, err := k.Rewrap(oldKEK, newKEK, keyID, wrapped)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if bytes.Equal(rewrapped, wrapped) {
		t.Fatal("Rewrap returned the old wrapped bytes")
	}

	// After a restart only the new KEK is needed.
	restarted := newTestKeyring(t, 1)
	if err := restarted.LoadKEK(newKEK, newKEKWrapped); err != nil {
		t.Fatal(err)
	}
	reopened, err := restarted.OpenDataKey(newKEK, keyID, rewrapped)
	if err != nil {
		t.Fatalf("OpenDataKey under the new KEK: %v", err)
	}
	got, err := reopened.Open(sealed, "subject_data", "s1")
	if err != nil || string(got) != "sealed before rotation" {
		t.Fatalf("data sealed before rotation: Open = %q, %v", got, err)
	}

	if err := restarted.LoadKEK(oldKEK, oldKEKWrapped); err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.OpenDataKey(oldKEK, keyID, rewrapped); !errors.Is(err, ErrUnwrap) {
		t.Errorf("rewrapped key opened under the old KEK: err = %v, want ErrUnwrap", err)
	}

	t.Run("failures", func(t *testing.T) {
		otherKeyID, _, _, err := k.NewDataKey(oldKEK)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name                string
			oldID, newID, keyID string
			wrapped             []byte
			want                error
		}{
			{"wrong old KEK", newKEK, newKEK, keyID, wrapped, ErrUnwrap},
			{"wrong key id", oldKEK, newKEK, otherKeyID, wrapped, ErrUnwrap},
			{"unknown new KEK", oldKEK, "kek_0123456789abcdef", keyID, wrapped, ErrUnknownKEK},
			{"unknown old KEK", "kek_0123456789abcdef", newKEK, keyID, wrapped, ErrUnknownKEK},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				out, err := k.Rewrap(tt.oldID, tt.newID, tt.keyID, tt.wrapped)
				if !errors.Is(err, tt.want) || out != nil {
					t.Errorf("Rewrap = %x, %v; want nil, %v", out, err, tt.want)
				}
			})
		}
	})
}

// TestKeyringConcurrentUse runs the mutating and reading paths in parallel;
// it is meaningful under -race.
func TestKeyringConcurrentUse(t *testing.T) {
	k := newTestKeyring(t, 1)
	kekID, _, err := k.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				id, wrapped, err := k.NewKEK()
				if err != nil {
					errs <- err
					return
				}
				if err := k.LoadKEK(id, wrapped); err != nil {
					errs <- err
					return
				}
				keyID, dkWrapped, dk, err := k.NewDataKey(kekID)
				if err != nil {
					errs <- err
					return
				}
				sealed, _ := dk.Seal([]byte("x"), "f")
				again, err := k.OpenDataKey(kekID, keyID, dkWrapped)
				if err != nil {
					errs <- err
					return
				}
				if _, err := again.Open(sealed, "f"); err != nil {
					errs <- err
					return
				}
				_ = k.HasKEK(id)
				_ = k.BlindIndex("email", string(rune('a'+i)))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
