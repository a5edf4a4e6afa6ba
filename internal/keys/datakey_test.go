package keys

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestSealOpenRoundTrip(t *testing.T) {
	_, dk := newTestDataKey(t)
	tests := []struct {
		name      string
		plaintext []byte
		ad        []string
	}{
		{"empty plaintext", []byte{}, []string{"subject_data", "s1", "email"}},
		{"no ad parts", []byte("hello"), nil},
		{"unicode", []byte("Zoë Müller, 東京"), []string{"subject_data", "s1", "name"}},
		{"binary", []byte{0, 1, 2, 255}, []string{"audit_payload", "e42"}},
		{"large", bytes.Repeat([]byte("x"), 1<<16), []string{"export"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed := mustSeal(t, dk, tt.plaintext, tt.ad...)
			if want := 1 + 12 + len(tt.plaintext) + 16; len(sealed) != want {
				t.Errorf("sealed length = %d, want %d", len(sealed), want)
			}
			if sealed[0] != 0x01 {
				t.Errorf("version byte = %#x, want 0x01", sealed[0])
			}
			if len(tt.plaintext) >= 4 && bytes.Contains(sealed, tt.plaintext) {
				t.Error("sealed output contains the plaintext")
			}
			got, err := dk.Open(sealed, tt.ad...)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %q, want %q", got, tt.plaintext)
			}
		})
	}
}

// TestOpenDetectsEverySingleByteChange is security target CR-2: changing any
// one byte of a stored ciphertext must give ErrDecrypt, never a plaintext.
func TestOpenDetectsEverySingleByteChange(t *testing.T) {
	_, dk := newTestDataKey(t)
	const values = 1000
	var tried, rejected, wrongPlaintext int
	for i := range values {
		plaintext := fmt.Appendf(nil, "value-%05d", i) // 11 bytes, 40 sealed
		ad := []string{"subject_data", fmt.Sprint("subject-", i), "email"}
		sealed := mustSeal(t, dk, plaintext, ad...)
		for pos := range sealed {
			tampered := bytes.Clone(sealed)
			tampered[pos] ^= byte(1 + (i+pos)%255) // vary the flipped bits, never 0
			tried++
			got, err := dk.Open(tampered, ad...)
			switch {
			case errors.Is(err, ErrDecrypt) && got == nil:
				rejected++
			case err == nil:
				wrongPlaintext++
			}
		}
	}
	if want := values * 40; tried != want {
		t.Fatalf("tried %d changes, want %d", tried, want)
	}
	if rejected != tried || wrongPlaintext != 0 {
		t.Errorf("%d of %d single-byte changes rejected with ErrDecrypt, %d opened to a plaintext; want all rejected",
			rejected, tried, wrongPlaintext)
	}
}

func TestOpenRejectsTruncationAndExtension(t *testing.T) {
	_, dk := newTestDataKey(t)
	sealed := mustSeal(t, dk, []byte("some personal data"), "f")
	for n := range len(sealed) {
		if got, err := dk.Open(sealed[:n], "f"); !errors.Is(err, ErrDecrypt) || got != nil {
			t.Errorf("prefix of %d bytes: got %q, %v; want ErrDecrypt", n, got, err)
		}
	}
	if _, err := dk.Open(append(bytes.Clone(sealed), 0), "f"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("extended ciphertext: err = %v, want ErrDecrypt", err)
	}
}

// TestOpenRejectsMovedCiphertext is security target CR-3: a ciphertext only
// opens in the place it was sealed for, with its subject's key.
func TestOpenRejectsMovedCiphertext(t *testing.T) {
	k, dkA := newTestDataKey(t)
	kekID, _, err := k.NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	_, _, dkB, err := k.NewDataKey(kekID)
	if err != nil {
		t.Fatal(err)
	}
	original := []string{"subject_data", "subject-A", "email", "row-1"}
	sealed := mustSeal(t, dkA, []byte("a@example.org"), original...)

	if _, err := dkA.Open(sealed, original...); err != nil {
		t.Fatalf("control: Open in the original place failed: %v", err)
	}
	tests := []struct {
		name string
		key  *DataKey
		ad   []string
	}{
		{"other row", dkA, []string{"subject_data", "subject-A", "email", "row-2"}},
		{"other field", dkA, []string{"subject_data", "subject-A", "phone", "row-1"}},
		{"other subject, same key", dkA, []string{"subject_data", "subject-B", "email", "row-1"}},
		{"other table", dkA, []string{"audit_payload", "subject-A", "email", "row-1"}},
		{"other subject's key, same ad", dkB, original},
		{"other subject's key and ad", dkB, []string{"subject_data", "subject-B", "email", "row-1"}},
		{"missing ad part", dkA, original[:3]},
		{"extra ad part", dkA, append(append([]string{}, original...), "x")},
		{"no ad", dkA, nil},
		{"reordered ad", dkA, []string{"subject_data", "email", "subject-A", "row-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.key.Open(sealed, tt.ad...)
			if !errors.Is(err, ErrDecrypt) || got != nil {
				t.Errorf("Open = %q, %v; want nil, ErrDecrypt", got, err)
			}
		})
	}
}

func TestOpenRejectsSwappedRows(t *testing.T) {
	_, dk := newTestDataKey(t)
	row1 := mustSeal(t, dk, []byte("Alice"), "subject_data", "s1", "name", "1")
	row2 := mustSeal(t, dk, []byte("Bob"), "subject_data", "s1", "name", "2")
	if _, err := dk.Open(row2, "subject_data", "s1", "name", "1"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("row 2 ciphertext opened as row 1: err = %v", err)
	}
	if _, err := dk.Open(row1, "subject_data", "s1", "name", "2"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("row 1 ciphertext opened as row 2: err = %v", err)
	}
}

// TestAssociatedDataIsLengthPrefixed checks that splitting the same bytes
// differently between ad parts gives a different binding.
func TestAssociatedDataIsLengthPrefixed(t *testing.T) {
	_, dk := newTestDataKey(t)
	tests := []struct {
		name       string
		seal, open []string
	}{
		{"moved boundary", []string{"ab", "c"}, []string{"a", "bc"}},
		{"empty trailing part", []string{"a", ""}, []string{"a"}},
		{"empty leading part", []string{"", "a"}, []string{"a"}},
		{"joined parts", []string{"subject", "42"}, []string{"subject42"}},
		{"separator inside part", []string{"a\x00b"}, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if bytes.Equal(dk.associatedData(tt.seal), dk.associatedData(tt.open)) {
				t.Fatalf("associated data for %q and %q is identical", tt.seal, tt.open)
			}
			sealed := mustSeal(t, dk, []byte("v"), tt.seal...)
			if _, err := dk.Open(sealed, tt.open...); !errors.Is(err, ErrDecrypt) {
				t.Errorf("sealed with %q, opened with %q: err = %v, want ErrDecrypt", tt.seal, tt.open, err)
			}
		})
	}
}

func TestAssociatedDataIncludesKeyID(t *testing.T) {
	_, dk := newTestDataKey(t)
	ad := dk.associatedData([]string{"subject_data"})
	if !bytes.Contains(ad, []byte(dk.ID())) {
		t.Errorf("associated data %q does not contain the key ID %q", ad, dk.ID())
	}
}

// TestSealNoncesAreUnique seals 100,000 values and checks no nonce repeats
// (security target CR-4 in miniature).
func TestSealNoncesAreUnique(t *testing.T) {
	_, dk := newTestDataKey(t)
	const n = 100_000
	seen := make(map[[12]byte]struct{}, n)
	plaintext := []byte("same plaintext every time")
	for range n {
		sealed := mustSeal(t, dk, plaintext, "f")
		seen[[12]byte(sealed[1:13])] = struct{}{}
	}
	if len(seen) != n {
		t.Errorf("%d distinct nonces in %d seals", len(seen), n)
	}
}

// FuzzOpen feeds arbitrary bytes to Open: it must never panic and never
// return a plaintext together with an error, or accept forged input.
func FuzzOpen(f *testing.F) {
	k := newTestKeyring(f, 1)
	kekID, _, err := k.NewKEK()
	if err != nil {
		f.Fatal(err)
	}
	_, _, dk, err := k.NewDataKey(kekID)
	if err != nil {
		f.Fatal(err)
	}
	valid, err := dk.Seal([]byte("seed"), "f")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{}, "f")
	f.Add([]byte{0x01}, "f")
	f.Add(bytes.Repeat([]byte{0x01}, 29), "f")
	f.Add(valid, "f")
	f.Add(valid, "g")
	f.Add(valid[:len(valid)-1], "f")
	f.Add(append([]byte{0x02}, valid[1:]...), "f")
	f.Fuzz(func(t *testing.T, sealed []byte, ad string) {
		got, err := dk.Open(sealed, ad)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) || got != nil {
				t.Fatalf("Open = %q, %v; want nil, ErrDecrypt", got, err)
			}
			return
		}
		// Only the genuine ciphertext may open.
		if !bytes.Equal(sealed, valid) || ad != "f" {
			t.Fatalf("forged input opened to %q", got)
		}
	})
}
