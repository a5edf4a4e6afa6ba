package keys

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestReceiptSigner(t *testing.T) {
	k := newTestKeyring(t, 1)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: ReceiptAlg, Key: k.ReceiptSigner()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	jwk := k.ReceiptJWK()
	if got := parsed.Signatures[0].Header.KeyID; got != jwk.KeyID || got == "" {
		t.Errorf("kid = %q, want %q", got, jwk.KeyID)
	}
	payload, err := parsed.Verify(jwk)
	if err != nil || string(payload) != `{"x":1}` {
		t.Fatalf("Verify = %q, %v", payload, err)
	}
	if _, err := parsed.Verify(newTestKeyring(t, 2).ReceiptJWK()); err == nil {
		t.Error("another master key's receipt key verifies the signature")
	}
	if k.ReceiptJWK().KeyID != newTestKeyring(t, 1).ReceiptJWK().KeyID {
		t.Error("key id not stable across keyrings with the same master")
	}
	if jwk.Key.(ed25519.PublicKey).Equal(k.CheckpointPublicKey()) {
		t.Error("receipt key is the checkpoint key")
	}
	if _, err := k.ReceiptSigner().SignPayload([]byte("x"), jose.RS256); err == nil {
		t.Error("signed with another algorithm")
	}
	b, err := json.Marshal(jwk)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"d"`) || !jwk.IsPublic() {
		t.Errorf("published JWK holds private material: %s", b)
	}
}
