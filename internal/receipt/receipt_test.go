package receipt

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gdprd/gdprd/internal/keys"
)

func newSigner(t *testing.T, fill byte) *Signer {
	t.Helper()
	kr, err := keys.NewKeyring(bytes.Repeat([]byte{fill}, keys.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(kr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignVerifyThroughJWKS(t *testing.T) {
	s := newSigner(t, 1)
	srv := httptest.NewServer(JWKSHandler(s.KeySet()))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || !set.Keys[0].IsPublic() || set.Keys[0].Algorithm != "EdDSA" || set.Keys[0].KeyID == "" {
		t.Fatalf("served key set = %+v", set)
	}

	token, err := s.Sign(map[string]string{"hello": "world"})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]string
	if err := Verify(token, set, &claims); err != nil || claims["hello"] != "world" {
		t.Fatalf("Verify = %v, %v", claims, err)
	}

	t.Run("tampered payload", func(t *testing.T) {
		parts := strings.Split(token, ".")
		parts[1] = strings.TrimRight(parts[1], "=") + "x"
		if err := Verify(strings.Join(parts, "."), set, &claims); !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("other key", func(t *testing.T) {
		if err := Verify(token, newSigner(t, 2).KeySet(), &claims); !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		if err := Verify("not.a.jws", set, &claims); !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})
}
