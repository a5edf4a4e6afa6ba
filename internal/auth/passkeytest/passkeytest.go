// Package passkeytest is a software WebAuthn authenticator for tests: it
// answers the options a relying party sends with the JSON a browser would
// post back (attestation "none", ES256 keys, user verification done), so
// that passkey ceremonies and their refusals can be tested without a
// browser. Origin is what the client data claims; tests change it to
// play a phishing site.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator holds credentials made by Create.
type Authenticator struct {
	Origin string
	// Counter is the signature counter sent next (incremented per use).
	Counter uint32
	creds   []credential
}

type credential struct {
	id   []byte
	rpID string
	user []byte
	key  *ecdsa.PrivateKey
}

// New returns an authenticator whose client data names origin.
func New(origin string) *Authenticator { return &Authenticator{Origin: origin} }

var b64 = base64.RawURLEncoding

// b64bytes decodes base64url with or without padding.
type b64bytes []byte

func (b *b64bytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	v, err := base64.RawURLEncoding.DecodeString(trimPad(s))
	*b = v
	return err
}

func trimPad(s string) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return s
}

func clientData(typ string, challenge []byte, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": b64.EncodeToString(challenge), "origin": origin, "crossOrigin": false})
	return b
}

const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

func authData(rpID string, flags byte, count uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append([]byte{}, h[:]...)
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, attested...)
}

// Create answers navigator.credentials.create options (the JSON the
// server sent) with a new credential, as the JSON of a
// PublicKeyCredential.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o struct {
		PublicKey struct {
			Challenge b64bytes `json:"challenge"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
			User struct {
				ID b64bytes `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("creation options: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	rand.Read(id)
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	raw := pub.Bytes() // 0x04 || X || Y
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
	if err != nil {
		return nil, err
	}
	attested := make([]byte, 16) // AAGUID: zero
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(id)))
	attested = append(attested, id...)
	attested = append(attested, cose...)
	ad := authData(o.PublicKey.RP.ID, flagUP|flagUV|flagAT, a.Counter, attested)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		return nil, err
	}
	a.creds = append(a.creds, credential{id: id, rpID: o.PublicKey.RP.ID, user: o.PublicKey.User.ID, key: key})
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(id), "rawId": b64.EncodeToString(id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData("webauthn.create", o.PublicKey.Challenge, a.Origin)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
	})
}

// Get answers navigator.credentials.get options with an assertion by the
// first allowed credential this authenticator holds.
func (a *Authenticator) Get(options []byte) ([]byte, error) { return a.get(options, nil) }

// GetWith answers with the credential of a's i-th Create, allowed or not
// (to play a member presenting someone else's passkey).
func (a *Authenticator) GetWith(options []byte, i int) ([]byte, error) {
	if i >= len(a.creds) {
		return nil, errors.New("no such credential")
	}
	return a.get(options, &a.creds[i])
}

func (a *Authenticator) get(options []byte, use *credential) ([]byte, error) {
	var o struct {
		PublicKey struct {
			Challenge b64bytes `json:"challenge"`
			RPID      string   `json:"rpId"`
			Allow     []struct {
				ID b64bytes `json:"id"`
			} `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("request options: %w", err)
	}
	if use == nil {
	find:
		for _, al := range o.PublicKey.Allow {
			for i := range a.creds {
				if string(a.creds[i].id) == string(al.ID) {
					use = &a.creds[i]
					break find
				}
			}
		}
	}
	if use == nil {
		return nil, errors.New("no allowed credential held")
	}
	a.Counter++
	ad := authData(o.PublicKey.RPID, flagUP|flagUV, a.Counter, nil)
	cd := clientData("webauthn.get", o.PublicKey.Challenge, a.Origin)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, use.key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(use.id), "rawId": b64.EncodeToString(use.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(use.user),
		},
	})
}
