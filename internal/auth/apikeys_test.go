package auth_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// flipLast changes the last character of a secret.
func flipLast(s string) string {
	last := byte('A')
	if s[len(s)-1] == 'A' {
		last = 'B'
	}
	return s[:len(s)-1] + string(last)
}

func newStore(t *testing.T, db *sqlstore.DB, c *clock) *auth.APIKeys {
	t.Helper()
	kr, err := keys.NewKeyring([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewAPIKeys(db, kr, audit.New(audit.Options{Clock: c.Now}), c.Now)
}

func TestAPIKeys(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		db := sqltest.Open(t, e, "main")
		c := &clock{now: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
		server, operator := newStore(t, db, c), newStore(t, db, c) // two processes on one database

		k, secret, err := operator.Create(ctx, auth.NewKey{Name: "shop", Scopes: []string{auth.ScopeVaultRead}, Rate: 5, Actor: "operator:cli"})
		if err != nil {
			t.Fatal(err)
		}
		var stored int
		db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM api_keys WHERE secret_hash = $1", []byte(secret)).Scan(&stored)
		if stored != 0 {
			t.Fatal("the secret is stored in plaintext")
		}
		got, err := server.Authenticate(ctx, secret)
		if err != nil || got.ID != k.ID || !got.Has(auth.ScopeVaultRead) || got.Has(auth.ScopeVaultWrite) || got.Purpose != "service-delivery" {
			t.Fatalf("authenticate: %+v, %v", got, err)
		}
		for name, bad := range map[string]string{
			"tampered":  flipLast(secret),
			"malformed": "not-a-key",
			"empty":     "",
		} {
			if _, err := server.Authenticate(ctx, bad); errcode.Of(err) != errcode.Unauthorized {
				t.Errorf("%s key: %v, want unauthorized", name, err)
			}
		}

		// Revoked in another process: refused within AuthCacheTTL, not later.
		if err := operator.Revoke(ctx, k.ID, "operator:cli"); err != nil {
			t.Fatal(err)
		}
		c.Add(auth.AuthCacheTTL + time.Millisecond)
		if _, err := server.Authenticate(ctx, secret); errcode.Of(err) != errcode.Unauthorized {
			t.Fatalf("revoked key accepted after the cache TTL: %v", err)
		}
		if err := operator.Revoke(ctx, k.ID, "operator:cli"); errcode.Of(err) != errcode.NotFound {
			t.Errorf("second revoke: %v, want not found", err)
		}

		// Revoked in the same process: refused at once.
		_, s2, err := server.Create(ctx, auth.NewKey{Name: "app", Scopes: []string{auth.ScopeVaultWrite}})
		if err != nil {
			t.Fatal(err)
		}
		k2, err := server.Authenticate(ctx, s2)
		if err != nil {
			t.Fatal(err)
		}
		if err := server.Revoke(ctx, k2.ID, "staff:owner"); err != nil {
			t.Fatal(err)
		}
		if _, err := server.Authenticate(ctx, s2); errcode.Of(err) != errcode.Unauthorized {
			t.Fatalf("key revoked in this process still accepted: %v", err)
		}

		// Create and revoke are audited; both keys are listed.
		var events int
		db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_events WHERE action IN ('apikey.create', 'apikey.revoke')").Scan(&events)
		if events != 4 {
			t.Errorf("%d audit events for 2 creations and 2 revocations", events)
		}
		list, err := server.List(ctx)
		if err != nil || len(list) != 2 || list[0].RevokedAt == nil || list[1].RevokedAt == nil {
			t.Errorf("list: %+v, %v", list, err)
		}
	})
}

func TestCreateRejects(t *testing.T) {
	db := sqltest.Open(t, sqlstore.SQLite, "main")
	s := newStore(t, db, &clock{now: time.Now()})
	for name, n := range map[string]auth.NewKey{
		"no name":         {Scopes: []string{auth.ScopeVaultRead}},
		"no scope":        {Name: "x"},
		"unknown scope":   {Name: "x", Scopes: []string{"vault:everything"}},
		"negative rate":   {Name: "x", Scopes: []string{auth.ScopeVaultRead}, Rate: -1},
		"unknown purpose": {Name: "x", Scopes: []string{auth.ScopeVaultRead}, Purpose: "mind-reading"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := s.Create(context.Background(), n); errcode.Of(err) != errcode.Invalid {
				t.Fatalf("err = %v, want invalid", err)
			}
		})
	}
	var n int
	db.Read().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM api_keys").Scan(&n)
	if n != 0 {
		t.Fatalf("%d keys stored by refused creations", n)
	}
}
