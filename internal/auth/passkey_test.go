package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/auth/passkeytest"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

const passkeyOrigin = "https://privacy.example.test"

// staffSession starts a staff session of id at level and returns it.
func (env *staffEnv) staffSession(t *testing.T, id, level string) *auth.Session {
	t.Helper()
	ctx := context.Background()
	token, err := env.sess.Create(ctx, auth.NewSession{Kind: auth.SessionStaff, Principal: id, Level: level})
	if err != nil {
		t.Fatal(err)
	}
	s, err := env.sess.Get(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (env *staffEnv) passkeys(t *testing.T) *auth.Passkeys {
	t.Helper()
	p, err := auth.NewPasskeys(env.staff, passkeyOrigin, "gdprd test")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// registered enrols a member and registers one passkey on a.
func (env *staffEnv) registered(t *testing.T, p *auth.Passkeys, email string, a *passkeytest.Authenticator) *auth.StaffMember {
	t.Helper()
	ctx := context.Background()
	id, _, _ := env.enrolled(t, email, auth.RoleSupport)
	m, err := env.staff.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	sess := env.staffSession(t, id, auth.LevelMFA)
	opts, err := p.BeginRegistration(ctx, sess, m)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.FinishRegistration(ctx, sess, m, "Laptop", resp); err != nil {
		t.Fatalf("register: %v", err)
	}
	return m
}

func TestPasskeyRegisterListSignInRemove(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		env := newStaffEnv(t, e)
		p := env.passkeys(t)
		a := passkeytest.New(passkeyOrigin)
		m := env.registered(t, p, "ada@example.test", a)

		if has, err := p.Has(ctx, m.ID); err != nil || !has {
			t.Fatalf("Has = %v, %v", has, err)
		}
		list, err := p.List(ctx, m.ID)
		if err != nil || len(list) != 1 {
			t.Fatalf("List = %v, %v", list, err)
		}
		k := list[0]
		if k.Name != "Laptop" || strings.Join(k.Transports, ",") != "internal" || len(k.AAGUID) != 16 || !k.LastUsed.IsZero() {
			t.Fatalf("passkey = %+v", k)
		}
		// The name is sealed, not stored in plaintext.
		var sealed []byte
		if err := env.db.Read().QueryRowContext(ctx, "SELECT name_sealed FROM staff_passkeys WHERE id = $1", k.ID).Scan(&sealed); err != nil || strings.Contains(string(sealed), "Laptop") {
			t.Fatalf("name stored in plaintext or missing: %v", err)
		}

		sess := env.staffSession(t, m.ID, auth.LevelPassword)
		opts, err := p.BeginLogin(ctx, sess, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		env.clock.now = env.clock.now.Add(time.Minute)
		if err := p.FinishLogin(ctx, sess, m.ID, resp, auth.Attempt{IP: "192.0.2.1"}); err != nil {
			t.Fatalf("sign in with passkey: %v", err)
		}
		list, _ = p.List(ctx, m.ID)
		if list[0].SignCount != 1 || list[0].LastUsed.IsZero() {
			t.Fatalf("after use: %+v", list[0])
		}

		// Another member cannot remove it; its owner can.
		other, _, _ := env.enrolled(t, "bob@example.test", auth.RoleSupport)
		om, _ := env.staff.Get(ctx, other)
		if err := p.Remove(ctx, om, k.ID); errcode.Of(err) != errcode.NotFound {
			t.Fatalf("other member's remove = %v", err)
		}
		if err := p.Remove(ctx, m, k.ID); err != nil {
			t.Fatal(err)
		}
		if has, _ := p.Has(ctx, m.ID); has {
			t.Fatal("passkey still there after removal")
		}
		got := strings.Join(auditActions(t, env.db), "\n")
		for _, want := range []string{"staff.passkey.register ok:" + k.ID, "staff.signin.passkey ok:passkey", "staff.passkey.remove not_found", "staff.passkey.remove ok:" + k.ID} {
			if !strings.Contains(got, want) {
				t.Errorf("audit log lacks %q:\n%s", want, got)
			}
		}
	})
}

// tamper flips a byte of one base64url field of the response.
func tamper(t *testing.T, resp []byte, field string) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(resp, &v); err != nil {
		t.Fatal(err)
	}
	r := v["response"].(map[string]any)
	b, err := base64.RawURLEncoding.DecodeString(r[field].(string))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x01
	r[field] = base64.RawURLEncoding.EncodeToString(b)
	out, _ := json.Marshal(v)
	return out
}

func TestPasskeySignInRefusals(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		env := newStaffEnv(t, e)
		p := env.passkeys(t)
		a := passkeytest.New(passkeyOrigin)
		m := env.registered(t, p, "ada@example.test", a)
		b := passkeytest.New(passkeyOrigin)
		env.registered(t, p, "bob@example.test", b)
		at := auth.Attempt{IP: "192.0.2.9"}

		begin := func(t *testing.T, sess *auth.Session) []byte {
			t.Helper()
			opts, err := p.BeginLogin(ctx, sess, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			return opts
		}
		// A good assertion kept for the replay case.
		sess := env.staffSession(t, m.ID, auth.LevelPassword)
		good, err := a.Get(begin(t, sess))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.FinishLogin(ctx, sess, m.ID, good, at); err != nil {
			t.Fatalf("good assertion refused: %v", err)
		}

		cases := []struct {
			name   string
			answer func(t *testing.T, sess *auth.Session) []byte
			reason string
		}{
			{"challenge used twice", func(t *testing.T, sess *auth.Session) []byte { return good }, "no_challenge"},
			{"replayed assertion to a new challenge", func(t *testing.T, sess *auth.Session) []byte { begin(t, sess); return good }, "not_verified"},
			{"tampered signature", func(t *testing.T, sess *auth.Session) []byte {
				r, _ := a.Get(begin(t, sess))
				return tamper(t, r, "signature")
			}, "not_verified"},
			{"tampered authenticator data", func(t *testing.T, sess *auth.Session) []byte {
				r, _ := a.Get(begin(t, sess))
				return tamper(t, r, "authenticatorData")
			}, "not_verified"},
			{"another member's credential", func(t *testing.T, sess *auth.Session) []byte {
				r, err := b.GetWith(begin(t, sess), 0)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}, "not_verified"},
			{"wrong origin", func(t *testing.T, sess *auth.Session) []byte {
				opts := begin(t, sess)
				a.Origin = "https://phish.example.test"
				defer func() { a.Origin = passkeyOrigin }()
				r, _ := a.Get(opts)
				return r
			}, "not_verified"},
			{"malformed", func(t *testing.T, sess *auth.Session) []byte { begin(t, sess); return []byte(`{"id":`) }, "malformed"},
			{"no ceremony in this session", func(t *testing.T, _ *auth.Session) []byte {
				other := env.staffSession(t, m.ID, auth.LevelPassword)
				r, _ := a.Get(begin(t, other))
				return r
			}, "no_challenge"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				// Failures add growing delays: let them pass.
				env.clock.now = env.clock.now.Add(5 * time.Minute)
				s := env.staffSession(t, m.ID, auth.LevelPassword)
				if c.name == "challenge used twice" {
					s = sess // the session whose challenge the good assertion used
				}
				sess := s
				before, _ := p.List(ctx, m.ID)
				err := p.FinishLogin(ctx, sess, m.ID, c.answer(t, sess), at)
				if !errors.Is(err, auth.ErrSignIn) {
					t.Fatalf("FinishLogin = %v, want ErrSignIn", err)
				}
				after, _ := p.List(ctx, m.ID)
				if after[0].SignCount != before[0].SignCount || !after[0].LastUsed.Equal(before[0].LastUsed) {
					t.Fatal("a refused assertion changed the passkey")
				}
				acts := auditActions(t, env.db)
				if last := acts[len(acts)-1]; last != "staff.signin.passkey failed:"+c.reason {
					t.Fatalf("last audit event = %q, want failed:%s", last, c.reason)
				}
			})
		}
	})
}

func TestPasskeyRegistrationRefusals(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		env := newStaffEnv(t, e)
		p := env.passkeys(t)
		id, _, _ := env.enrolled(t, "ada@example.test", auth.RoleOwner)
		m, _ := env.staff.Get(ctx, id)
		sess := env.staffSession(t, id, auth.LevelMFA)
		a := passkeytest.New(passkeyOrigin)

		opts, _ := p.BeginRegistration(ctx, sess, m)
		a.Origin = "https://phish.example.test"
		resp, _ := a.Create(opts)
		if _, err := p.FinishRegistration(ctx, sess, m, "Phone", resp); !errors.Is(err, auth.ErrPasskey) {
			t.Fatalf("wrong origin: %v", err)
		}
		a.Origin = passkeyOrigin
		opts, _ = p.BeginRegistration(ctx, sess, m)
		resp, _ = a.Create(opts)
		if _, err := p.FinishRegistration(ctx, sess, m, "", resp); errcode.Of(err) != errcode.Invalid {
			t.Fatalf("empty name: %v", err)
		}
		if _, err := p.FinishRegistration(ctx, sess, m, "Phone", tamper(t, resp, "clientDataJSON")); !errors.Is(err, auth.ErrPasskey) {
			t.Fatalf("tampered: %v", err)
		}
		// The challenge was used by the tampered answer: the right one
		// now finds none.
		if _, err := p.FinishRegistration(ctx, sess, m, "Phone", resp); !errors.Is(err, auth.ErrPasskey) {
			t.Fatalf("challenge used twice: %v", err)
		}
		if has, _ := p.Has(ctx, id); has {
			t.Fatal("a refused registration stored a passkey")
		}
		got := strings.Join(auditActions(t, env.db), "\n")
		for _, want := range []string{"staff.passkey.register failed:not_verified", "staff.passkey.register failed:no_challenge"} {
			if !strings.Contains(got, want) {
				t.Errorf("audit log lacks %q:\n%s", want, got)
			}
		}
	})
}
