package keys

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// ReceiptAlg is the JWS algorithm of receipts: Ed25519 (RFC 8037).
const ReceiptAlg = jose.EdDSA

// The receipt key is a sibling of the checkpoint key, derived from the
// master key under its own HKDF info: receipts go to data subjects and
// are verified by anyone against /.well-known/jwks.json, while checkpoint
// signatures pin the audit log; one key per job keeps a mistake in one
// from forging the other. Like every subkey it survives restarts and
// restores as long as the master key does, so old receipts keep verifying.

// ReceiptSigner returns a go-jose signer backed by the receipt key. It
// signs without ever handing out the private key: go-jose sees only the
// OpaqueSigner interface.
func (k *Keyring) ReceiptSigner() jose.OpaqueSigner { return receiptSigner{k} }

// ReceiptJWK returns the public receipt key as a JWK with its key id, alg
// and use set, for publishing in a JWK set. It holds no private material.
func (k *Keyring) ReceiptJWK() jose.JSONWebKey {
	pub := append(ed25519.PublicKey(nil), k.receipt.Public().(ed25519.PublicKey)...)
	return jose.JSONWebKey{Key: pub, KeyID: receiptKeyID(pub), Algorithm: string(ReceiptAlg), Use: "sig"}
}

// receiptKeyID is the RFC 7638 thumbprint of the public key, base64url:
// stable for as long as the master key is, and computable by any verifier.
func receiptKeyID(pub ed25519.PublicKey) string {
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		// Thumbprint only fails on key types it does not know.
		panic("keys: receipt key thumbprint: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

type receiptSigner struct{ k *Keyring }

func (s receiptSigner) Public() *jose.JSONWebKey {
	jwk := s.k.ReceiptJWK()
	return &jwk
}

func (s receiptSigner) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{ReceiptAlg} }

func (s receiptSigner) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != ReceiptAlg {
		return nil, fmt.Errorf("keys: receipts are signed with %s, not %s", ReceiptAlg, alg)
	}
	return ed25519.Sign(s.k.receipt, payload), nil
}
