package auth_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

const testAudience = "https://privacy.example.com/privacy"

func newHandoff(t *testing.T, r *signinRig) *auth.Handoff {
	t.Helper()
	h, err := auth.NewHandoff(auth.HandoffOptions{DB: r.db, Vault: r.vault, Keyring: r.kr, Audit: r.audit,
		Audience: testAudience, Clock: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sign makes a compact JWS of claims with alg and key, as a host
// application's JWT library would.
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsigned makes a token with alg "none", which no JOSE library should
// produce but an attacker can.
func unsigned(claims any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(c) + "."
}

func TestHandoffVerify(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		r := newSigninRig(t, e, nil)
		h := newHandoff(t, r)
		ctx := t.Context()
		ada := r.subject(t, vault.NewSubject{ExternalID: "cust-42"})

		hsKey, hsSecret, err := h.CreateHS256(ctx, "shop", "operator:test")
		if err != nil {
			t.Fatal(err)
		}
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		edKey, err := h.CreateEdDSA(ctx, "forum", pub, "operator:test")
		if err != nil {
			t.Fatal(err)
		}
		_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
		revokedKey, revokedSecret, _ := h.CreateHS256(ctx, "old-app", "operator:test")
		if err := h.Revoke(ctx, revokedKey.ID, "operator:test"); err != nil {
			t.Fatal(err)
		}

		now := r.clock.Now()
		claims := func(iss string, edit func(c *jwt.Claims)) *jwt.Claims {
			c := &jwt.Claims{Issuer: iss, Subject: "cust-42", Audience: jwt.Audience{testAudience},
				IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute)), ID: ids.New("jti_")}
			if edit != nil {
				edit(c)
			}
			return c
		}
		hs := func(edit func(c *jwt.Claims)) string {
			return sign(t, jose.HS256, []byte(hsSecret), hsKey.ID, claims("shop", edit))
		}
		ed := func(edit func(c *jwt.Claims)) string {
			return sign(t, jose.EdDSA, priv, "", claims("forum", edit))
		}
		replayed := hs(nil)
		if _, err := h.Verify(ctx, replayed); err != nil {
			t.Fatalf("first use of a good token: %v", err)
		}

		refused := []struct {
			name, token, reason string
		}{
			{"replayed", replayed, "replayed"},
			{"expired", hs(func(c *jwt.Claims) {
				c.IssuedAt = jwt.NewNumericDate(now.Add(-5 * time.Minute))
				c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute))
			}), "expired"},
			{"wrongly signed (HS256, other secret)", sign(t, jose.HS256, []byte(strings.Repeat("x", 48)), "", claims("shop", nil)), "bad_signature"},
			{"wrongly signed (EdDSA, other key)", sign(t, jose.EdDSA, otherPriv, "", claims("forum", nil)), "bad_signature"},
			{"tampered claims", func() string {
				p := strings.Split(hs(nil), ".")
				c, _ := json.Marshal(claims("shop", func(c *jwt.Claims) { c.Subject = "cust-43" }))
				return p[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + p[2]
			}(), "bad_signature"},
			{"wrong audience", hs(func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://evil.example/privacy"} }), "wrong_audience"},
			{"no audience", hs(func(c *jwt.Claims) { c.Audience = nil }), "wrong_audience"},
			{"alg none", unsigned(claims("shop", nil)), "malformed"},
			{"HS256 signed with the EdDSA public key", sign(t, jose.HS256, []byte(pub), "", claims("forum", nil)), "wrong_algorithm"},
			{"EdDSA for an HS256 application", sign(t, jose.EdDSA, priv, "", claims("shop", nil)), "wrong_algorithm"},
			{"lifetime over 5 minutes", hs(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(5*time.Minute + time.Second)) }), "lifetime_too_long"},
			{"no expiry", hs(func(c *jwt.Claims) { c.Expiry = nil }), "missing_expiry"},
			{"no issued-at", hs(func(c *jwt.Claims) { c.IssuedAt = nil }), "missing_expiry"},
			{"not yet valid", hs(func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute)) }), "not_yet_valid"},
			{"no jti", hs(func(c *jwt.Claims) { c.ID = "" }), "missing_jti"},
			{"unknown external id", hs(func(c *jwt.Claims) { c.Subject = "cust-404" }), "unknown_subject"},
			{"unknown issuer", sign(t, jose.HS256, []byte(hsSecret), "", claims("other-app", nil)), "unknown_issuer"},
			{"revoked key", sign(t, jose.HS256, []byte(revokedSecret), "", claims("old-app", nil)), "unknown_issuer"},
			{"kid of another key", sign(t, jose.HS256, []byte(hsSecret), edKey.ID, claims("shop", nil)), "unknown_issuer"},
			{"garbage", "not.a.token", "malformed"},
		}
		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				before := len(r.events(t, "subject.signin.handoff"))
				got, err := h.Verify(ctx, tc.token)
				if errcode.Of(err) != errcode.Unauthorized || got.SubjectID != "" {
					t.Fatalf("Verify = %+v, %v; want refused", got, err)
				}
				ev := r.events(t, "subject.signin.handoff")
				if len(ev) != before+1 || ev[len(ev)-1].Result != tc.reason {
					t.Fatalf("audit = %+v, want one more event with result %q", ev[before:], tc.reason)
				}
				if strings.Contains(ev[len(ev)-1].Target, "cust-") {
					t.Fatalf("audit target holds the external id: %q", ev[len(ev)-1].Target)
				}
			})
		}

		t.Run("good EdDSA token accepted once", func(t *testing.T) {
			tok := ed(nil)
			got, err := h.Verify(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if got != (auth.SubjectSignIn{SubjectID: ada, Level: auth.VerifiedByHandoff}) {
				t.Fatalf("Verify = %+v", got)
			}
			if _, err := h.Verify(ctx, tok); errcode.Of(err) != errcode.Unauthorized {
				t.Fatalf("second use: %v", err)
			}
		})
		t.Run("replay refused by another replica", func(t *testing.T) {
			tok := hs(nil)
			if _, err := newHandoff(t, r).Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
			if _, err := newHandoff(t, r).Verify(ctx, tok); errcode.Of(err) != errcode.Unauthorized {
				t.Fatalf("replay on a second instance: %v", err)
			}
		})
		t.Run("success audited by subject HMAC", func(t *testing.T) {
			n := 0
			for _, ev := range r.events(t, "subject.signin.handoff") {
				if ev.Result == "ok" {
					n++
					if ev.Target != r.kr.AuditTarget("subject", ada) {
						t.Errorf("success target %q", ev.Target)
					}
				}
			}
			if n != 3 {
				t.Fatalf("%d successful hand-offs audited, want 3", n)
			}
		})
		t.Run("keys listed without secrets", func(t *testing.T) {
			list, err := h.Keys(ctx)
			if err != nil || len(list) != 3 {
				t.Fatalf("Keys = %+v, %v", list, err)
			}
			b, _ := json.Marshal(list)
			revoked := 0
			for _, k := range list {
				if k.RevokedAt != nil {
					revoked++
					if k.ID != revokedKey.ID {
						t.Errorf("key %s listed as revoked", k.ID)
					}
				}
			}
			if strings.Contains(string(b), hsSecret) || revoked != 1 {
				t.Fatalf("list = %s", b)
			}
			var sealed []byte
			r.db.Read().QueryRowContext(ctx, "SELECT sealed FROM handoff_keys WHERE id = $1", hsKey.ID).Scan(&sealed)
			if len(sealed) == 0 || strings.Contains(string(sealed), hsSecret) {
				t.Fatal("HS256 secret not sealed")
			}
		})
		t.Run("bad keys refused", func(t *testing.T) {
			if _, _, err := h.CreateHS256(ctx, "Bad App", "operator:test"); errcode.Of(err) != errcode.Invalid {
				t.Errorf("bad app name: %v", err)
			}
			if _, err := h.CreateEdDSA(ctx, "x", ed25519.PublicKey{1, 2, 3}, "operator:test"); errcode.Of(err) != errcode.Invalid {
				t.Errorf("short public key: %v", err)
			}
		})
	})
}
