// Package receipt signs and verifies the receipts gdprd gives people: a
// consent receipt for each grant or withdrawal, an erasure receipt for each
// erasure. A receipt is a JWS in compact form (RFC 7515) signed with
// Ed25519 (EdDSA, RFC 8037) by the receipt key that internal/keys derives
// from the master key; its key id is in the JWS header, and the public key
// is published at /.well-known/jwks.json so that the person, their lawyer
// or a supervisory authority can check a receipt without asking gdprd.
package receipt

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"
)

// JWKSPath is where the public keys are published.
const JWKSPath = "/.well-known/jwks.json"

// KeySource is what internal/keys.Keyring offers: a signer that never
// reveals its private key, and the public key as a JWK.
type KeySource interface {
	ReceiptSigner() jose.OpaqueSigner
	ReceiptJWK() jose.JSONWebKey
}

// Signer signs receipts. It is safe for concurrent use.
type Signer struct {
	signer jose.Signer
	jwk    jose.JSONWebKey
}

// NewSigner returns a Signer over ks.
func NewSigner(ks KeySource) (*Signer, error) {
	jwk := ks.ReceiptJWK()
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), jwk.KeyID)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: ks.ReceiptSigner()}, opts)
	if err != nil {
		return nil, fmt.Errorf("receipt signer: %w", err)
	}
	return &Signer{signer: s, jwk: jwk}, nil
}

// Sign returns claims, marshalled as JSON, as a compact JWS.
func (s *Signer) Sign(claims any) (string, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("receipt claims: %w", err)
	}
	jws, err := s.signer.Sign(b)
	if err != nil {
		return "", fmt.Errorf("sign receipt: %w", err)
	}
	return jws.CompactSerialize()
}

// KeySet returns the public keys that verify this Signer's receipts.
// There is one today; after a master key change an operator would publish
// the old key beside the new one, which is why it is a set.
func (s *Signer) KeySet() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{s.jwk}}
}

// ErrInvalid is returned by Verify for a receipt that is malformed, signed
// by an unknown key or with another algorithm, or whose signature fails.
var ErrInvalid = errors.New("receipt: invalid signature")

// Verify checks a compact JWS against a key set (as served at JWKSPath)
// and unmarshals its claims into out. Only EdDSA is accepted, and the key
// is chosen by the kid header.
func Verify(compact string, set jose.JSONWebKeySet, out any) error {
	jws, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil || len(jws.Signatures) != 1 {
		return ErrInvalid
	}
	candidates := set.Key(jws.Signatures[0].Header.KeyID)
	if len(candidates) == 0 {
		return fmt.Errorf("%w: unknown key id", ErrInvalid)
	}
	payload, err := jws.Verify(candidates[0])
	if err != nil {
		return ErrInvalid
	}
	if err := json.Unmarshal(payload, out); err != nil {
		return fmt.Errorf("receipt claims: %w", err)
	}
	return nil
}

// JWKSHandler serves the key set as application/jwk-set+json (RFC 7517
// section 8.5). It is public and cacheable: the keys only change with the
// master key.
func JWKSHandler(set jose.JSONWebKeySet) http.Handler {
	body, err := json.Marshal(set)
	if err != nil {
		panic("receipt: marshal JWK set: " + err.Error())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(body)
	})
}
