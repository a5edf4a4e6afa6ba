package auth_test

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/i18n"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/mail"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

// signinRig is a vault, audit log and outbox on one engine, with the
// sign-in services of data subjects built over them.
type signinRig struct {
	db     *sqlstore.DB
	kr     *keys.Keyring
	clock  *clock
	vault  *vault.Vault
	audit  *audit.Log
	sealer *mail.KeySealer
	codes  *auth.EmailCodes
}

func newSigninRig(t *testing.T, e sqlstore.Engine, limits *auth.CodeLimits) *signinRig {
	t.Helper()
	ctx := t.Context()
	r := &signinRig{db: sqltest.Open(t, e, "main"), clock: &clock{now: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}}
	keysDB := sqltest.Open(t, e, "keys")
	var err error
	if r.kr, err = keys.NewKeyring([]byte(strings.Repeat("s", 32))); err != nil {
		t.Fatal(err)
	}
	ks, err := vault.OpenKeyStore(ctx, keysDB, r.kr, r.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	r.audit = audit.New(audit.Options{Clock: r.clock.Now})
	if r.vault, err = vault.New(ctx, vault.Options{DB: r.db, KeyStore: ks, Keyring: r.kr, Audit: r.audit, Clock: r.clock.Now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.vault.Close)
	sk, err := r.kr.ServiceKey("mail-outbox")
	if err != nil {
		t.Fatal(err)
	}
	r.sealer = mail.NewKeySealer(sk)
	outbox, err := mail.New(r.db, mail.Options{Sealer: r.sealer, Clock: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	r.codes, err = auth.NewEmailCodes(auth.EmailCodeOptions{DB: r.db, Vault: r.vault, Keyring: r.kr, Audit: r.audit,
		Outbox: outbox, Catalog: cat, Clock: r.clock.Now, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *signinRig) subject(t *testing.T, n vault.NewSubject) string {
	t.Helper()
	s, err := r.vault.Create(t.Context(), vault.Actor{Name: "test", Purpose: "service-delivery"}, n)
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// queuedMail is a message as the outbox holds it, opened with its key.
type queuedMail struct {
	To, Subject, Text string
}

// mails returns every message still queued, oldest first.
func (r *signinRig) mails(t *testing.T) []queuedMail {
	t.Helper()
	rows, err := r.db.Read().QueryContext(t.Context(), "SELECT id, kind, key_id, sealed FROM mail_messages WHERE sealed IS NOT NULL ORDER BY created_at, id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []queuedMail
	for rows.Next() {
		var id, kind, keyID string
		var sealed []byte
		if err := rows.Scan(&id, &kind, &keyID, &sealed); err != nil {
			t.Fatal(err)
		}
		plain, err := r.sealer.Open(sealed, keyID, "mail_messages", id, kind)
		if err != nil {
			t.Fatalf("queued mail does not open: %v", err)
		}
		var m queuedMail
		if err := json.Unmarshal(plain, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func (r *signinRig) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := r.db.Read().QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// events returns the audit events from seq on.
func (r *signinRig) events(t *testing.T, action string) []audit.Event {
	t.Helper()
	rows, err := r.db.Read().QueryContext(t.Context(), "SELECT actor, action, target, result FROM audit_events WHERE action = $1 ORDER BY seq", action)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		var e audit.Event
		if err := rows.Scan(&e.Actor, &e.Action, &e.Target, &e.Result); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

var codeInMail = regexp.MustCompile(`\b(\d{6})\b`)

// lastCode returns the code in the newest queued mail to addr.
func (r *signinRig) lastCode(t *testing.T, addr string) string {
	t.Helper()
	ms := r.mails(t)
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].To == addr {
			m := codeInMail.FindStringSubmatch(ms[i].Text)
			if m == nil {
				t.Fatalf("no code in mail %q", ms[i].Text)
			}
			return m[1]
		}
	}
	t.Fatalf("no mail to %s", addr)
	return ""
}

func wantErrCode(t *testing.T, err error, want errcode.Code) {
	t.Helper()
	if got := errcode.Of(err); err == nil || got != want {
		t.Fatalf("error %v (code %s), want %s", err, got, want)
	}
}

// otherCode returns a well-formed code that is not code.
func otherCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func TestEmailCodeSignIn(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		r := newSigninRig(t, e, nil)
		ctx := t.Context()
		ada := r.subject(t, vault.NewSubject{Email: "ada@example.org"})

		if err := r.codes.RequestCode(ctx, " Ada@Example.ORG", "192.0.2.1", "de"); err != nil {
			t.Fatal(err)
		}
		ms := r.mails(t)
		if len(ms) != 1 || ms[0].To != "ada@example.org" || ms[0].Subject != "Ihr Anmeldecode" || !strings.Contains(ms[0].Text, "10 Minuten") {
			t.Fatalf("queued mail = %+v, want one German code mail to the stored address", ms)
		}
		code := r.lastCode(t, "ada@example.org")
		if n := r.count(t, "SELECT COUNT(*) FROM email_codes WHERE code_hash = $1", []byte(code)); n != 0 {
			t.Fatal("the code is stored in clear")
		}

		t.Run("wrong code refused", func(t *testing.T) {
			_, err := r.codes.VerifyCode(ctx, "ada@example.org", otherCode(code), "192.0.2.1")
			wantErrCode(t, err, errcode.Unauthorized)
		})
		t.Run("right code signs in", func(t *testing.T) {
			got, err := r.codes.VerifyCode(ctx, "ADA@example.org", code, "192.0.2.1")
			if err != nil {
				t.Fatal(err)
			}
			if got != (auth.SubjectSignIn{SubjectID: ada, Level: auth.VerifiedByEmailCode}) {
				t.Fatalf("VerifyCode = %+v", got)
			}
		})
		t.Run("code is single use", func(t *testing.T) {
			_, err := r.codes.VerifyCode(ctx, "ada@example.org", code, "192.0.2.1")
			wantErrCode(t, err, errcode.Unauthorized)
		})
		t.Run("audited without plaintext", func(t *testing.T) {
			ok := r.events(t, "subject.signin.email_code")
			if len(ok) != 1 || ok[0].Target != r.kr.AuditTarget("subject", ada) || ok[0].Result != "ok" {
				t.Fatalf("sign-in events = %+v", ok)
			}
			req := r.events(t, "subject.code.request")
			if len(req) != 1 || req[0].Result != "sent" || req[0].Target != r.kr.AuditTarget(vault.KindEmail, "ada@example.org") {
				t.Fatalf("request events = %+v", req)
			}
			failed := r.events(t, "subject.code.verify")
			if len(failed) != 2 {
				t.Fatalf("failed checks audited %d times, want 2", len(failed))
			}
			var all strings.Builder
			for _, a := range []string{"subject.code.request", "subject.code.verify", "subject.signin.email_code"} {
				for _, ev := range r.events(t, a) {
					all.WriteString(ev.Actor + ev.Target + ev.Result)
				}
			}
			if strings.Contains(all.String(), "ada") || strings.Contains(all.String(), code) {
				t.Fatalf("audit holds plaintext: %s", all.String())
			}
		})
	})
}

func TestEmailCodeRules(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := t.Context()
		verify := func(r *signinRig, code string) error {
			_, err := r.codes.VerifyCode(ctx, "ada@example.org", code, "192.0.2.1")
			return err
		}
		tests := []struct {
			name string
			// after gets the code mailed and may spend attempts or time;
			// then the right code is tried and must fail.
			after func(t *testing.T, r *signinRig, code string) string
		}{
			{"expired after 10 minutes", func(t *testing.T, r *signinRig, code string) string {
				r.clock.Add(auth.CodeTTL + time.Second)
				return code
			}},
			{"burnt after 5 wrong attempts", func(t *testing.T, r *signinRig, code string) string {
				for range auth.CodeMaxAttempts {
					wantErrCode(t, verify(r, otherCode(code)), errcode.Unauthorized)
				}
				return code
			}},
			{"replaced by a newer code", func(t *testing.T, r *signinRig, code string) string {
				// Ask again while the new code happens to equal the old one
				// (1 in a million), so the old code is really replaced. The
				// clock moves on first: mails are ordered by creation time.
				for i := 0; ; i++ {
					r.clock.Add(time.Second)
					if err := r.codes.RequestCode(ctx, "ada@example.org", "192.0.2.1", "en"); err != nil {
						t.Fatal(err)
					}
					if r.lastCode(t, "ada@example.org") != code {
						break
					}
					if i == 2 {
						t.Fatal("three new codes all equal the old one")
					}
				}
				return code
			}},
			{"malformed code", func(t *testing.T, r *signinRig, code string) string { return code + "0" }},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := newSigninRig(t, e, nil)
				r.subject(t, vault.NewSubject{Email: "ada@example.org"})
				if err := r.codes.RequestCode(ctx, "ada@example.org", "192.0.2.1", "en"); err != nil {
					t.Fatal(err)
				}
				code := r.lastCode(t, "ada@example.org")
				wantErrCode(t, verify(r, tc.after(t, r, code)), errcode.Unauthorized)
			})
		}
		t.Run("4 wrong attempts still leave the code usable", func(t *testing.T) {
			r := newSigninRig(t, e, nil)
			r.subject(t, vault.NewSubject{Email: "ada@example.org"})
			if err := r.codes.RequestCode(ctx, "ada@example.org", "192.0.2.1", "en"); err != nil {
				t.Fatal(err)
			}
			code := r.lastCode(t, "ada@example.org")
			for range auth.CodeMaxAttempts - 1 {
				wantErrCode(t, verify(r, otherCode(code)), errcode.Unauthorized)
			}
			r.clock.Add(auth.CodeTTL - time.Second)
			if err := verify(r, code); err != nil {
				t.Fatalf("the fifth attempt within 10 minutes was refused: %v", err)
			}
		})
		t.Run("bad address refused, nothing written", func(t *testing.T) {
			r := newSigninRig(t, e, nil)
			wantErrCode(t, r.codes.RequestCode(ctx, "not an address", "192.0.2.1", "en"), errcode.Invalid)
			if n := r.count(t, "SELECT COUNT(*) FROM email_codes"); n != 0 {
				t.Fatalf("%d code rows written for a malformed address", n)
			}
		})
	})
}

func TestEmailCodeNoEnumeration(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		r := newSigninRig(t, e, nil)
		ctx := t.Context()
		r.subject(t, vault.NewSubject{Email: "ada@example.org"})
		codes := func() int { return r.count(t, "SELECT COUNT(*) FROM email_codes") }
		events := func() int { return r.count(t, "SELECT COUNT(*) FROM audit_events") }

		c0, e0 := codes(), events()
		errKnown := r.codes.RequestCode(ctx, "ada@example.org", "192.0.2.1", "en")
		c1, e1 := codes(), events()
		errUnknown := r.codes.RequestCode(ctx, "nobody@example.org", "192.0.2.1", "en")
		c2, e2 := codes(), events()
		if errKnown != nil || errUnknown != nil {
			t.Fatalf("answers differ or fail: known %v, unknown %v", errKnown, errUnknown)
		}
		if c1-c0 != c2-c1 || e1-e0 != e2-e1 {
			t.Fatalf("work differs: code rows +%d/+%d, audit events +%d/+%d", c1-c0, c2-c1, e1-e0, e2-e1)
		}
		if ms := r.mails(t); len(ms) != 1 || ms[0].To != "ada@example.org" {
			t.Fatalf("mail to an unknown address queued: %+v", ms)
		}
		if got := r.events(t, "subject.code.request"); len(got) != 2 || got[1].Result != "unknown_address" {
			t.Fatalf("request events = %+v", got)
		}
		// A guessed code for the unknown address is refused like a wrong one.
		for _, guess := range []string{"000000", "123456"} {
			_, err := r.codes.VerifyCode(ctx, "nobody@example.org", guess, "192.0.2.1")
			wantErrCode(t, err, errcode.Unauthorized)
		}
	})
}

func TestEmailCodeRateLimits(t *testing.T) {
	limits := &auth.CodeLimits{
		RequestPerAddress: auth.CodeLimit{Max: 3, Window: 15 * time.Minute},
		RequestPerIP:      auth.CodeLimit{Max: 5, Window: time.Hour},
		VerifyPerAddress:  auth.CodeLimit{Max: 4, Window: time.Hour},
		VerifyPerIP:       auth.CodeLimit{Max: 100, Window: time.Hour},
	}
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := t.Context()
		t.Run("per address, known and unknown alike", func(t *testing.T) {
			r := newSigninRig(t, e, limits)
			r.subject(t, vault.NewSubject{Email: "ada@example.org"})
			for n, addr := range []string{"ada@example.org", "nobody@example.org"} {
				ip := []string{"192.0.2.10", "192.0.2.11"}[n] // within the IP limit
				for i := range 3 {
					if err := r.codes.RequestCode(ctx, addr, ip, "en"); err != nil {
						t.Fatalf("request %d: %v", i+1, err)
					}
					r.clock.Add(time.Second)
				}
				// From another IP: the address limit, not the IP limit, bites.
				err := r.codes.RequestCode(ctx, addr, "198.51.100.7", "en")
				wantErrCode(t, err, errcode.RateLimited)
				var le *auth.CodeLimitError
				// The window began 3 requests (3 s) ago.
				if !errors.As(err, &le) || le.RetryAfter != 15*time.Minute-3*time.Second {
					t.Fatalf("limit error %#v, want Retry-After of the rest of the window", err)
				}
			}
			if n := len(r.mails(t)); n != 3 {
				t.Fatalf("%d mails queued, want 3", n)
			}
			if got := r.events(t, "subject.code.request"); got[len(got)-1].Result != "rate_limited" {
				t.Fatalf("limited request not audited as such: %+v", got[len(got)-1])
			}
			r.clock.Add(15 * time.Minute)
			if err := r.codes.RequestCode(ctx, "ada@example.org", "198.51.100.7", "en"); err != nil {
				t.Fatalf("after the window: %v", err)
			}
		})
		t.Run("per IP across addresses", func(t *testing.T) {
			r := newSigninRig(t, e, limits)
			for i := range 5 {
				if err := r.codes.RequestCode(ctx, "p"+string(rune('a'+i))+"@example.org", "192.0.2.20", "en"); err != nil {
					t.Fatal(err)
				}
			}
			wantErrCode(t, r.codes.RequestCode(ctx, "pz@example.org", "192.0.2.20", "en"), errcode.RateLimited)
			if err := r.codes.RequestCode(ctx, "pz@example.org", "192.0.2.21", "en"); err != nil {
				t.Fatalf("another IP was limited too: %v", err)
			}
		})
		t.Run("verification per address, even with the right code", func(t *testing.T) {
			r := newSigninRig(t, e, limits)
			r.subject(t, vault.NewSubject{Email: "ada@example.org"})
			if err := r.codes.RequestCode(ctx, "ada@example.org", "192.0.2.1", "en"); err != nil {
				t.Fatal(err)
			}
			code := r.lastCode(t, "ada@example.org")
			for range 4 {
				_, err := r.codes.VerifyCode(ctx, "ada@example.org", otherCode(code), "192.0.2.1")
				wantErrCode(t, err, errcode.Unauthorized)
			}
			_, err := r.codes.VerifyCode(ctx, "ada@example.org", code, "192.0.2.1")
			wantErrCode(t, err, errcode.RateLimited)
			if got := r.events(t, "subject.signin.email_code"); len(got) != 0 {
				t.Fatalf("signed in past the limit: %+v", got)
			}
		})
	})
}

func TestEmailCodeOfErasedSubjectRefused(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		r := newSigninRig(t, e, nil)
		ctx := t.Context()
		ada := r.subject(t, vault.NewSubject{Email: "ada@example.org"})
		if err := r.codes.RequestCode(ctx, "ada@example.org", "192.0.2.1", "en"); err != nil {
			t.Fatal(err)
		}
		code := r.lastCode(t, "ada@example.org")
		if _, err := r.vault.Erase(ctx, vault.Actor{Name: "test", Purpose: "dsr"}, ada); err != nil {
			t.Fatal(err)
		}
		_, err := r.codes.VerifyCode(ctx, "ada@example.org", code, "192.0.2.1")
		wantErrCode(t, err, errcode.Unauthorized)
	})
}

// TestEmailCodeRequestTiming: the median time of a code request is within
// 5 ms for a known and an unknown address (200 attempts each, interleaved),
// so response time does not reveal who has an account.
func TestEmailCodeRequestTiming(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("timing test (always runs under CI)")
	}
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		r := newSigninRig(t, e, &auth.CodeLimits{}) // no limits: they would end the run early
		ctx := t.Context()
		r.subject(t, vault.NewSubject{Email: "ada@example.org"})
		const n = 200
		known, unknown := make([]time.Duration, 0, n), make([]time.Duration, 0, n)
		for range n {
			for _, tc := range []struct {
				addr string
				into *[]time.Duration
			}{{"ada@example.org", &known}, {"nobody@example.org", &unknown}} {
				start := time.Now()
				if err := r.codes.RequestCode(ctx, tc.addr, "192.0.2.1", "en"); err != nil {
					t.Fatal(err)
				}
				*tc.into = append(*tc.into, time.Since(start))
			}
		}
		mk, mu := median(known), median(unknown)
		t.Logf("median request time: known %s, unknown %s", mk, mu)
		if d := (mk - mu).Abs(); d > 5*time.Millisecond {
			t.Fatalf("medians differ by %s (known %s, unknown %s)", d, mk, mu)
		}
	})
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestSweepForgetsExpiredCodesAndTokenIDs(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		r := newSigninRig(t, e, nil)
		ctx := t.Context()
		if err := r.codes.RequestCode(ctx, "nobody@example.org", "192.0.2.1", "en"); err != nil {
			t.Fatal(err)
		}
		h := newHandoff(t, r)
		sweepAll := func() {
			if err := r.codes.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if err := h.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		err := r.db.Write(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO handoff_jtis (jti, expires_at) VALUES ($1, $2)", []byte("j1"), sqlstore.Micros(r.clock.Now().Add(time.Minute)))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		counts := func() [3]int {
			return [3]int{r.count(t, "SELECT COUNT(*) FROM email_codes"), r.count(t, "SELECT COUNT(*) FROM code_rate_limits"), r.count(t, "SELECT COUNT(*) FROM handoff_jtis")}
		}
		sweepAll()
		if got := counts(); got != [3]int{1, 2, 1} {
			t.Fatalf("before expiry: codes, counters, token ids = %v, want all kept", got)
		}
		r.clock.Add(auth.CodeTTL + time.Second)
		sweepAll()
		if got := counts(); got != [3]int{0, 2, 0} {
			t.Fatalf("after expiry: %v, want codes and token ids gone", got)
		}
		r.clock.Add(24 * time.Hour)
		sweepAll()
		if got := counts(); got != [3]int{0, 0, 0} {
			t.Fatalf("a day later: %v, want the counters gone", got)
		}
	})
}
