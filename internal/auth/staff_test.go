package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// fastParams keep tests quick; every sign-in path still runs one
// verification with them (the dummy hash is made with the same ones).
var fastParams = keys.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const staffPassword = "correct horse battery staple 42"

type staffEnv struct {
	db    *sqlstore.DB
	kr    *keys.Keyring
	clock *clock
	staff *auth.Staff
	sess  *auth.Sessions
}

func newStaffEnv(t *testing.T, e sqlstore.Engine) *staffEnv {
	t.Helper()
	db := sqltest.Open(t, e, "main")
	kr, err := keys.NewKeyring([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	st, err := auth.NewStaff(auth.StaffOptions{DB: db, Keys: kr, Audit: audit.New(audit.Options{Clock: c.Now}), Clock: c.Now, Password: fastParams})
	if err != nil {
		t.Fatal(err)
	}
	return &staffEnv{db: db, kr: kr, clock: c, staff: st, sess: auth.NewSessions(db, kr, c.Now, nil)}
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolled creates and enrols a member, returning id, TOTP secret and
// recovery codes.
func (env *staffEnv) enrolled(t *testing.T, email string, role auth.Role) (string, string, []string) {
	t.Helper()
	ctx := context.Background()
	m, token, err := env.staff.Create(ctx, email, role, "operator:test")
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.staff.StartEnrolment(ctx, token)
	if err != nil || got.ID != m.ID {
		t.Fatalf("start enrolment: %v %v", got, err)
	}
	k, err := auth.NewTOTP("gdprd", email)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := env.staff.HashPassword(staffPassword)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := env.staff.CompleteEnrolment(ctx, m.ID, hash, k.Secret, code(t, k.Secret, env.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	env.clock.Add(30 * time.Second) // the enrolment code's step is used up
	return m.ID, k.Secret, codes
}

func auditActions(t *testing.T, db *sqlstore.DB) []string {
	t.Helper()
	rows, err := db.Read().QueryContext(context.Background(), "SELECT action, result FROM audit_events ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, r string
		if err := rows.Scan(&a, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, a+" "+r)
	}
	return out
}

func TestStaffEnrolmentAndSignIn(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		env := newStaffEnv(t, e)
		m, token, err := env.staff.Create(ctx, "Ada@Example.org", auth.RoleOwner, "operator:cli")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := env.staff.Create(ctx, "ada@example.org", auth.RoleDPO, "operator:cli"); errcode.Of(err) != errcode.Conflict {
			t.Fatalf("duplicate e-mail: %v, want conflict", err)
		}
		// The e-mail is personal data: neither it nor the token is stored in clear.
		var raw []byte
		if err := env.db.Read().QueryRowContext(ctx, "SELECT email_sealed FROM staff WHERE id = $1", m.ID).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "example.org") {
			t.Fatal("e-mail stored in clear")
		}
		// Not enrolled: no sign-in, even with a password that will be right.
		if _, err := env.staff.SignInPassword(ctx, "ada@example.org", staffPassword, auth.Attempt{IP: "192.0.2.1"}); !errors.Is(err, auth.ErrSignIn) {
			t.Fatalf("unenrolled sign-in: %v", err)
		}
		env.clock.Add(25 * time.Hour)
		if _, err := env.staff.StartEnrolment(ctx, token); errcode.Of(err) != errcode.Gone {
			t.Fatalf("expired link: %v, want gone", err)
		}
		token, err = env.staff.NewEnrolment(ctx, m.ID, "operator:cli")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.staff.StartEnrolment(ctx, token); err != nil {
			t.Fatal(err)
		}
		if _, err := env.staff.StartEnrolment(ctx, token); errcode.Of(err) != errcode.Gone {
			t.Fatalf("reused link: %v, want gone", err)
		}
		if err := env.staff.CheckPassword("ada@example.org is me", &auth.StaffMember{Email: "ada@example.org"}); err == nil {
			t.Fatal("password containing the e-mail accepted")
		}
		k, _ := auth.NewTOTP("gdprd", "ada@example.org")
		hash, _ := env.staff.HashPassword(staffPassword)
		if _, err := env.staff.CompleteEnrolment(ctx, m.ID, hash, k.Secret, "000000"); errcode.Of(err) != errcode.Invalid {
			t.Fatalf("wrong first code: %v", err)
		}
		codes, err := env.staff.CompleteEnrolment(ctx, m.ID, hash, k.Secret, code(t, k.Secret, env.clock.Now()))
		if err != nil || len(codes) != 10 {
			t.Fatalf("enrol: %v %d", err, len(codes))
		}
		ip := auth.Attempt{IP: "192.0.2.1"}
		id, err := env.staff.SignInPassword(ctx, " ADA@example.org", staffPassword, ip)
		if err != nil || id != m.ID {
			t.Fatalf("sign in: %q %v", id, err)
		}
		// The enrolment code's step is spent: replaying it is refused.
		if err := env.staff.SignInCode(ctx, id, code(t, k.Secret, env.clock.Now()), ip); !errors.Is(err, auth.ErrSignIn) {
			t.Fatalf("replayed enrolment code: %v", err)
		}
		env.clock.Add(30 * time.Second)
		c := code(t, k.Secret, env.clock.Now())
		if err := env.staff.SignInCode(ctx, id, c, ip); err != nil {
			t.Fatalf("code: %v", err)
		}
		if err := env.staff.SignInCode(ctx, id, c, ip); !errors.Is(err, auth.ErrSignIn) {
			t.Fatalf("replayed code accepted: %v", err)
		}
		// A recovery code works once, in any spelling.
		rc := strings.ToLower(strings.ReplaceAll(codes[3], "-", " "))
		if err := env.staff.SignInCode(ctx, id, rc, ip); err != nil {
			t.Fatalf("recovery code: %v", err)
		}
		if err := env.staff.SignInCode(ctx, id, codes[3], ip); !errors.Is(err, auth.ErrSignIn) {
			t.Fatalf("recovery code reused: %v", err)
		}
		if err := env.staff.SetRole(ctx, m.ID, auth.RoleSupport, "staff:x"); errcode.Of(err) != errcode.Invalid {
			t.Fatalf("demoting the last owner: %v", err)
		}
		list, err := env.staff.List(ctx)
		if err != nil || len(list) != 1 || list[0].Email != "ada@example.org" || !list[0].Enrolled {
			t.Fatalf("list: %+v %v", list, err)
		}
		got := strings.Join(auditActions(t, env.db), "\n")
		for _, want := range []string{"staff.create ok:owner", "staff.signin.password failed", "staff.enrolment.start refused",
			"staff.enrolment.issue ok", "staff.2fa.enrol ok", "staff.signin.password ok", "staff.signin.code failed",
			"staff.signin.code ok:totp", "staff.signin.code ok:recovery"} {
			if !strings.Contains(got, want) {
				t.Errorf("audit log lacks %q:\n%s", want, got)
			}
		}
	})
}

func TestStaffRoleChangeEndsSessions(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		env := newStaffEnv(t, e)
		env.enrolled(t, "owner@example.org", auth.RoleOwner)
		id, _, _ := env.enrolled(t, "sam@example.org", auth.RoleSupport)
		tok, err := env.sess.Create(ctx, auth.NewSession{Kind: auth.SessionStaff, Principal: id, Level: auth.LevelMFA})
		if err != nil {
			t.Fatal(err)
		}
		if err := env.staff.SetRole(ctx, id, auth.RoleDPO, "staff:owner"); err != nil {
			t.Fatal(err)
		}
		if _, err := env.sess.Get(ctx, tok); !errors.Is(err, auth.ErrNoSession) {
			t.Fatalf("session survived a role change: %v", err)
		}
		m, _ := env.staff.Get(ctx, id)
		if m.Role != auth.RoleDPO {
			t.Fatalf("role %s", m.Role)
		}
		if !strings.Contains(strings.Join(auditActions(t, env.db), "\n"), "staff.role ok:support->dpo") {
			t.Fatal("role change not audited")
		}
	})
}

// TestStaffLockout: 25 wrong codes in a row lock the account for the
// hour; from the 21st on even the right code is refused, with exactly the
// answer a wrong code gets; delays grow in between.
func TestStaffLockout(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		env := newStaffEnv(t, e)
		id, secret, _ := env.enrolled(t, "eve@example.org", auth.RoleSupport)
		ip := auth.Attempt{IP: "198.51.100.7"}
		var delays []time.Duration
		for i := range 25 {
			for {
				err := env.staff.SignInCode(ctx, id, "000000", ip)
				var rl *auth.RateLimitError
				if errors.As(err, &rl) {
					if errcode.Of(err) != errcode.RateLimited {
						t.Fatal("rate limit is not coded")
					}
					delays = append(delays, rl.RetryAfter)
					env.clock.Add(rl.RetryAfter)
					continue
				}
				if !errors.Is(err, auth.ErrSignIn) {
					t.Fatalf("wrong code %d: %v", i, err)
				}
				break
			}
			env.clock.Add(time.Second)
		}
		if len(delays) == 0 || delays[len(delays)-1] <= delays[0] {
			t.Errorf("delays do not grow: %v", delays)
		}
		// Locked: the right code gets the wrong-code answer.
		env.clock.Add(30 * time.Second)
		err := env.staff.SignInCode(ctx, id, code(t, secret, env.clock.Now()), ip)
		if !errors.Is(err, auth.ErrSignIn) || err.Error() != auth.ErrSignIn.Error() {
			t.Fatalf("locked account answered %v", err)
		}
		if _, err := env.staff.SignInPassword(ctx, "eve@example.org", staffPassword, ip); !errors.Is(err, auth.ErrSignIn) {
			t.Fatalf("locked account took its password: %v", err)
		}
		if !strings.Contains(strings.Join(auditActions(t, env.db), "\n"), "staff.lockout locked") {
			t.Fatal("lockout not audited")
		}
		// An hour after the last failure the lock is over.
		env.clock.Add(time.Hour + time.Minute)
		if err := env.staff.SignInCode(ctx, id, code(t, secret, env.clock.Now()), ip); err != nil {
			t.Fatalf("after the hour: %v", err)
		}
	})
}

func TestStaffIPLimit(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		env := newStaffEnv(t, e)
		ip := auth.Attempt{IP: "203.0.113.9"}
		for i := range auth.DefaultLimits.IPAttempts {
			// Different unknown accounts each time: only the address limit can bite.
			if _, err := env.staff.SignInPassword(ctx, "nobody"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+"@example.org", "x", ip); !errors.Is(err, auth.ErrSignIn) {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		_, err := env.staff.SignInPassword(ctx, "another@example.org", "x", ip)
		var rl *auth.RateLimitError
		if !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
			t.Fatalf("61st attempt in a minute: %v", err)
		}
		if _, err := env.staff.SignInPassword(ctx, "another@example.org", "x", auth.Attempt{IP: "203.0.113.10"}); !errors.Is(err, auth.ErrSignIn) {
			t.Fatalf("another address is limited too: %v", err)
		}
		env.clock.Add(time.Minute)
		if _, err := env.staff.SignInPassword(ctx, "another@example.org", "x", ip); !errors.Is(err, auth.ErrSignIn) {
			t.Fatalf("after the minute: %v", err)
		}
	})
}

func TestSessions(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		env := newStaffEnv(t, e)
		s := env.sess
		tok, err := s.Create(ctx, auth.NewSession{Kind: auth.SessionStaff, Principal: "stf_1", Level: auth.LevelPassword, Pending: []byte("secret work")})
		if err != nil {
			t.Fatal(err)
		}
		var stored int
		env.db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM sessions WHERE token_hash = $1", []byte(tok)).Scan(&stored)
		if stored != 0 {
			t.Fatal("session token stored in clear")
		}
		sess, err := s.Get(ctx, tok)
		if err != nil || string(sess.Pending) != "secret work" || sess.Fresh(env.clock.Now(), 5*time.Minute) {
			t.Fatalf("get: %+v %v", sess, err)
		}
		// Sign-in completes: a new token, the old one is dead.
		tok2, err := s.Rotate(ctx, sess, auth.LevelMFA, true)
		if err != nil || tok2 == tok {
			t.Fatalf("rotate: %v", err)
		}
		if _, err := s.Get(ctx, tok); !errors.Is(err, auth.ErrNoSession) {
			t.Fatal("old token still works after rotation")
		}
		// Idle timeout: 29 minutes apart is fine, and each request restarts the clock.
		for range 3 {
			env.clock.Add(29 * time.Minute)
			if sess, err = s.Get(ctx, tok2); err != nil {
				t.Fatalf("within idle: %v", err)
			}
		}
		if sess.Fresh(env.clock.Now(), 5*time.Minute) || sess.Level != auth.LevelMFA || sess.Pending != nil {
			t.Fatalf("session after rotate: %+v", sess)
		}
		env.clock.Add(30 * time.Minute)
		if _, err := s.Get(ctx, tok2); !errors.Is(err, auth.ErrNoSession) {
			t.Fatal("idle timeout not honoured")
		}
		// Absolute timeout: active every 20 minutes, still ends at 12 h.
		tok3, _ := s.Create(ctx, auth.NewSession{Kind: auth.SessionStaff, Principal: "stf_1", Level: auth.LevelMFA})
		start := env.clock.Now()
		for env.clock.Now().Sub(start) < 12*time.Hour-20*time.Minute {
			env.clock.Add(20 * time.Minute)
			if _, err := s.Get(ctx, tok3); err != nil {
				t.Fatalf("at %s: %v", env.clock.Now().Sub(start), err)
			}
		}
		env.clock.Add(20 * time.Minute)
		if _, err := s.Get(ctx, tok3); !errors.Is(err, auth.ErrNoSession) {
			t.Fatal("absolute timeout not honoured")
		}
		// Sign out everywhere.
		a, _ := s.Create(ctx, auth.NewSession{Kind: auth.SessionStaff, Principal: "stf_2", Level: auth.LevelMFA})
		b, _ := s.Create(ctx, auth.NewSession{Kind: auth.SessionStaff, Principal: "stf_2", Level: auth.LevelMFA})
		other, _ := s.Create(ctx, auth.NewSession{Kind: auth.SessionSubject, Principal: "stf_2", Level: "email"})
		if n, err := s.EndAll(ctx, auth.SessionStaff, "stf_2"); err != nil || n != 2 {
			t.Fatalf("end all: %d %v", n, err)
		}
		for _, tk := range []string{a, b} {
			if _, err := s.Get(ctx, tk); !errors.Is(err, auth.ErrNoSession) {
				t.Fatal("session survived sign out everywhere")
			}
		}
		if sub, err := s.Get(ctx, other); err != nil || sub.Kind != auth.SessionSubject || sub.Level != "email" {
			t.Fatalf("subject session: %+v %v", sub, err)
		}
	})
}

// TestStaffPasswordRehash: a hash made with weaker parameters than the
// store's is replaced at the next successful sign-in.
func TestStaffPasswordRehash(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		env := newStaffEnv(t, e)
		id, _, _ := env.enrolled(t, "old@example.org", auth.RoleDPO)
		stronger := fastParams
		stronger.Memory, stronger.Time = 256, 2
		st, err := auth.NewStaff(auth.StaffOptions{DB: env.db, Keys: env.kr, Audit: audit.New(audit.Options{Clock: env.clock.Now}), Clock: env.clock.Now, Password: stronger})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.SignInPassword(ctx, "old@example.org", staffPassword, auth.Attempt{IP: "192.0.2.3"}); err != nil {
			t.Fatal(err)
		}
		var hash string
		env.db.Read().QueryRowContext(ctx, "SELECT password_hash FROM staff WHERE id = $1", id).Scan(&hash)
		if !strings.Contains(hash, "$m=256,t=2,") {
			t.Fatalf("hash not upgraded: %s", hash[:30])
		}
		if _, err := st.SignInPassword(ctx, "old@example.org", staffPassword, auth.Attempt{IP: "192.0.2.3"}); err != nil {
			t.Fatalf("sign-in with the upgraded hash: %v", err)
		}
	})
}
