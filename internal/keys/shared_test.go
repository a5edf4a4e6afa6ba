package keys

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"testing"
)

func TestSharedKeyMAC(t *testing.T) {
	kr, _ := NewKeyring(bytes.Repeat([]byte{3}, KeySize))
	key := []byte("shared with the receiver")
	sealed, keyID, err := kr.SealSharedKey("webhook", key, "webhook_endpoints", "whe_1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, key) {
		t.Fatal("sealed key contains the key")
	}
	want := hmac.New(sha256.New, key)
	want.Write([]byte("id.123.body"))
	got, err := kr.SharedKeyMAC("webhook", keyID, sealed, []string{"webhook_endpoints", "whe_1"}, []byte("id.123."), []byte("body"))
	if err != nil || !bytes.Equal(got, want.Sum(nil)) {
		t.Fatalf("SharedKeyMAC = %x, %v; want the HMAC-SHA256 under the shared key", got, err)
	}
	for name, tc := range map[string]struct {
		service, keyID string
		ad             []string
	}{
		"other row":     {"webhook", keyID, []string{"webhook_endpoints", "whe_2"}},
		"other service": {"handoff", keyID, []string{"webhook_endpoints", "whe_1"}},
		"other key id":  {"webhook", "sk_old_v0", []string{"webhook_endpoints", "whe_1"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := kr.SharedKeyMAC(tc.service, tc.keyID, sealed, tc.ad, []byte("x")); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("err = %v, want ErrDecrypt", err)
			}
		})
	}
}
