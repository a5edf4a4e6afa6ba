package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/password"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Role is what a staff member may do in the console.
type Role string

// The staff roles. The console's route table says what each may reach;
// auditor is read-only.
const (
	RoleOwner   Role = "owner"
	RoleDPO     Role = "dpo"
	RoleSupport Role = "support"
	RoleAuditor Role = "auditor"
)

// AllRoles lists the roles in order of the console's role menu.
var AllRoles = []Role{RoleOwner, RoleDPO, RoleSupport, RoleAuditor}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	if r := Role(s); slices.Contains(AllRoles, r) {
		return r, nil
	}
	return "", errcode.Field("role", "the role must be owner, dpo, support or auditor")
}

// EnrolmentTTL is how long an enrolment link works.
const EnrolmentTTL = 24 * time.Hour

// RecoveryCodeCount is how many recovery codes enrolment hands out.
const RecoveryCodeCount = 10

// StaffMember is a staff account as the console shows it.
type StaffMember struct {
	ID        string
	Email     string
	Role      Role
	Enrolled  bool
	CreatedAt time.Time
}

// Actor is how the member appears in the audit log.
func (m *StaffMember) Actor() string { return "staff:" + m.ID }

// StaffOptions configure a Staff store.
type StaffOptions struct {
	DB    *sqlstore.DB
	Keys  *keys.Keyring
	Audit *audit.Log
	Clock func() time.Time // time.Now when nil
	// Password are the argon2id parameters of new hashes (and of the
	// dummy hash checked for unknown accounts); zero means
	// keys.DefaultPasswordParams. Tests may lower them: every path still
	// runs exactly one verification with them.
	Password keys.PasswordParams
	Limits   Limits // zero means DefaultLimits
}

// Staff stores staff accounts and signs them in.
type Staff struct {
	db     *sqlstore.DB
	kr     *keys.Keyring
	audit  *audit.Log
	now    func() time.Time
	params keys.PasswordParams
	limits Limits
	// staffDummyHash is verified for unknown or unenrolled accounts, so
	// that every sign-in costs one argon2id run (no timing oracle).
	staffDummyHash string
}

// NewStaff returns the staff store.
func NewStaff(o StaffOptions) (*Staff, error) {
	s := &Staff{db: o.DB, kr: o.Keys, audit: o.Audit, now: o.Clock, params: o.Password, limits: o.Limits}
	if s.now == nil {
		s.now = time.Now
	}
	if s.params == (keys.PasswordParams{}) {
		s.params = keys.DefaultPasswordParams
	}
	if s.limits == (Limits{}) {
		s.limits = DefaultLimits
	}
	pw, err := keys.RandomToken(16)
	if err != nil {
		return nil, err
	}
	if s.staffDummyHash, err = keys.HashPassword(pw, s.params); err != nil {
		return nil, err
	}
	return s, nil
}

// Limits returns the sign-in limits in force.
func (s *Staff) Limits() Limits { return s.limits }

// ErrSignIn is the one answer to a failed sign-in: wrong e-mail, wrong
// password, wrong or replayed code, unknown, unenrolled or locked account
// all look the same.
var ErrSignIn = errcode.E(errcode.Unauthorized, "the sign-in details are not correct")

// errEnrolLink is the one answer for an unknown, used or expired link.
var errEnrolLink = errcode.E(errcode.Gone, "this enrolment link is not valid: it may have been used or have expired")

func (s *Staff) emailIndex(normalised string) []byte {
	return s.kr.BlindIndex("staff-email", normalised)
}

func (s *Staff) target(id string) string { return s.kr.AuditTarget("staff", id) }

// Create adds a staff member and returns a one-time enrolment token.
func (s *Staff) Create(ctx context.Context, email string, role Role, actor string) (*StaffMember, string, error) {
	norm, err := keys.NormalizeEmail(email)
	if err != nil {
		return nil, "", errcode.Field("email", "this is not a valid e-mail address")
	}
	if _, err := ParseRole(string(role)); err != nil {
		return nil, "", err
	}
	id := ids.New("stf_")
	now := s.now().UTC().Truncate(time.Microsecond)
	m := &StaffMember{ID: id, Email: norm, Role: role, CreatedAt: now}
	token, err := keys.RandomToken(32)
	if err != nil {
		return nil, "", err
	}
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO staff (id, email_index, email_sealed, role, created_at) VALUES ($1, $2, $3, $4, $5)",
			id, s.emailIndex(norm), s.kr.SealStaff([]byte(norm), "staff", id, "email"), string(role), sqlstore.Micros(now)); err != nil {
			if sqlstore.IsUniqueViolation(err) {
				return errcode.Wrap(err, errcode.Conflict, "a staff member with this e-mail address exists")
			}
			return err
		}
		if err := s.insertEnrolment(ctx, tx, id, token, now); err != nil {
			return err
		}
		_, err := s.audit.Append(ctx, tx, audit.Event{Actor: actorOr(actor), Action: "staff.create", Purpose: "security", Target: s.target(id), Result: "ok:" + string(role)})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("create staff: %w", err)
	}
	return m, token, nil
}

func (s *Staff) insertEnrolment(ctx context.Context, tx *sqlstore.Tx, id, token string, now time.Time) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO staff_enrolments (token_hash, staff_id, expires_at) VALUES ($1, $2, $3)",
		s.kr.HashSecret(token), id, sqlstore.Micros(now.Add(EnrolmentTTL)))
	return err
}

// NewEnrolment issues a fresh enrolment link for an existing member (lost
// second factor); enrolling again replaces password, TOTP and recovery
// codes.
func (s *Staff) NewEnrolment(ctx context.Context, id, actor string) (string, error) {
	token, err := keys.RandomToken(32)
	if err != nil {
		return "", err
	}
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM staff WHERE id = $1", id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return errcode.E(errcode.NotFound, "no such staff member")
		}
		if err := s.insertEnrolment(ctx, tx, id, token, s.now()); err != nil {
			return err
		}
		_, err := s.audit.Append(ctx, tx, audit.Event{Actor: actorOr(actor), Action: "staff.enrolment.issue", Purpose: "security", Target: s.target(id), Result: "ok"})
		return err
	})
	return token, err
}

// StartEnrolment uses up an enrolment token and returns whose it was.
func (s *Staff) StartEnrolment(ctx context.Context, token string) (*StaffMember, error) {
	if token == "" || len(token) > 100 {
		return nil, errEnrolLink
	}
	var id string
	err := s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		now := sqlstore.Micros(s.now())
		err := tx.QueryRowContext(ctx, "UPDATE staff_enrolments SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING staff_id",
			now, s.kr.HashSecret(token)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return errEnrolLink
		}
		if err != nil {
			return err
		}
		_, err = s.audit.Append(ctx, tx, audit.Event{Actor: "staff:" + id, Action: "staff.enrolment.start", Purpose: "security", Target: s.target(id), Result: "ok"})
		return err
	})
	if errors.Is(err, errEnrolLink) {
		if aerr := s.Audit(ctx, "anonymous", "staff.enrolment.start", "unknown", "refused"); aerr != nil {
			return nil, aerr
		}
		return nil, errEnrolLink
	}
	if err != nil {
		return nil, fmt.Errorf("start enrolment: %w", err)
	}
	return s.Get(ctx, id)
}

// CheckPassword applies the password policy for member m.
func (s *Staff) CheckPassword(pw string, m *StaffMember) error {
	return password.Check(pw, password.Account{Email: m.Email})
}

// HashPassword hashes a new password with the store's parameters.
func (s *Staff) HashPassword(pw string) (string, error) { return keys.HashPassword(pw, s.params) }

// CompleteEnrolment confirms the TOTP secret with a first code and stores
// password hash and secret; it returns the recovery codes, to be shown
// once. Until it succeeds the account cannot sign in.
func (s *Staff) CompleteEnrolment(ctx context.Context, id, passwordHash, totpSecret, code string) ([]string, error) {
	step, ok := VerifyTOTP(totpSecret, code, s.now(), 0)
	if !ok {
		return nil, errcode.Field("code", "the code is not correct; check the time on your device and try the next code")
	}
	codes, err := NewRecoveryCodes(RecoveryCodeCount)
	if err != nil {
		return nil, err
	}
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE staff SET password_hash = $1, totp_sealed = $2, totp_last_step = $3, enrolled_at = $4 WHERE id = $5",
			passwordHash, s.kr.SealStaff([]byte(totpSecret), "staff", id, "totp"), step, sqlstore.Micros(s.now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errcode.E(errcode.NotFound, "no such staff member")
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM staff_recovery_codes WHERE staff_id = $1", id); err != nil {
			return err
		}
		for _, c := range codes {
			if _, err := tx.ExecContext(ctx, "INSERT INTO staff_recovery_codes (staff_id, code_hash) VALUES ($1, $2)",
				id, s.kr.HashSecret(NormalizeRecoveryCode(c))); err != nil {
				return err
			}
		}
		// Enrolling again (a new second factor) ends every older session.
		if _, err := endAllSessions(ctx, tx, SessionStaff, id); err != nil {
			return err
		}
		_, err = s.audit.Append(ctx, tx, audit.Event{Actor: "staff:" + id, Action: "staff.2fa.enrol", Purpose: "security", Target: s.target(id), Result: "ok"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("complete enrolment: %w", err)
	}
	return codes, nil
}

const staffColumns = "id, email_sealed, role, enrolled_at, created_at"

func (s *Staff) scanMember(r scanner, extra ...any) (*StaffMember, error) {
	var m StaffMember
	var sealed []byte
	var enrolled sql.NullInt64
	var created int64
	if err := r.Scan(append([]any{&m.ID, &sealed, &m.Role, &enrolled, &created}, extra...)...); err != nil {
		return nil, err
	}
	email, err := s.kr.OpenStaff(sealed, "staff", m.ID, "email")
	if err != nil {
		return nil, fmt.Errorf("open staff e-mail: %w", err)
	}
	m.Email, m.Enrolled, m.CreatedAt = string(email), enrolled.Valid, sqlstore.FromMicros(created)
	return &m, nil
}

// Get returns one member.
func (s *Staff) Get(ctx context.Context, id string) (*StaffMember, error) {
	m, err := s.scanMember(s.db.Read().QueryRowContext(ctx, "SELECT "+staffColumns+" FROM staff WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errcode.E(errcode.NotFound, "no such staff member")
	}
	return m, err
}

// List returns every member, oldest first.
func (s *Staff) List(ctx context.Context) ([]StaffMember, error) {
	rows, err := s.db.Read().QueryContext(ctx, "SELECT "+staffColumns+" FROM staff ORDER BY created_at, id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StaffMember
	for rows.Next() {
		m, err := s.scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, rows.Err()
}

// SetRole changes a member's role and ends all their sessions (a privilege
// change must not live on in an old session). The last owner cannot be
// demoted, so the console always has someone to manage it.
func (s *Staff) SetRole(ctx context.Context, id string, role Role, actor string) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	return s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		var old string
		err := tx.QueryRowContext(ctx, "SELECT role FROM staff WHERE id = $1", id).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return errcode.E(errcode.NotFound, "no such staff member")
		}
		if err != nil {
			return err
		}
		if old == string(role) {
			return nil
		}
		if old == string(RoleOwner) {
			var owners int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM staff WHERE role = 'owner'").Scan(&owners); err != nil {
				return err
			}
			if owners <= 1 {
				return errcode.Field("role", "the last owner cannot be given another role")
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE staff SET role = $1 WHERE id = $2", string(role), id); err != nil {
			return err
		}
		if _, err := endAllSessions(ctx, tx, SessionStaff, id); err != nil {
			return err
		}
		_, err = s.audit.Append(ctx, tx, audit.Event{Actor: actorOr(actor), Action: "staff.role", Purpose: "security", Target: s.target(id), Result: "ok:" + old + "->" + string(role)})
		return err
	})
}

// Attempt is where a sign-in attempt comes from.
type Attempt struct {
	IP string // the client address; only its HMAC is stored
}

func (s *Staff) buckets(emailIndex []byte, a Attempt) throttleBuckets {
	return throttleBuckets{account: hexBucket("a:", emailIndex), ip: hexBucket("i:", s.kr.BlindIndex("client-ip", a.IP))}
}

// ipActor names the client in audit events without its address.
func (s *Staff) ipActor(a Attempt) string {
	return "client:" + s.kr.AuditTarget("client-ip", a.IP)[:16]
}

// SignInPassword checks the first factor and returns the member's id. Every
// path (unknown e-mail, unenrolled, locked, wrong or right password) runs
// one argon2id verification, one counter read and one write with its
// audit event, so neither the answer nor its timing tells them apart.
func (s *Staff) SignInPassword(ctx context.Context, email, pw string, a Attempt) (string, error) {
	norm, err := keys.NormalizeEmail(email)
	if err != nil {
		norm = "invalid\x00" + email // counted and hashed like any unknown address
	}
	idx := s.emailIndex(norm)
	b := s.buckets(idx, a)
	now := s.now()
	st, err := throttleCheck(ctx, s.db.Read(), s.limits, b, now)
	if err != nil {
		return "", s.refuse(ctx, err, a, "staff.signin", s.kr.AuditTarget("staff-email", norm))
	}
	var id, hash string
	var enrolled sql.NullInt64
	err = s.db.Read().QueryRowContext(ctx, "SELECT id, password_hash, enrolled_at FROM staff WHERE email_index = $1", idx).Scan(&id, &hash, &enrolled)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sign in: %w", err)
	}
	known := err == nil && enrolled.Valid && hash != ""
	if !known {
		hash = s.staffDummyHash
	}
	ok, rehash, verr := keys.VerifyPassword(pw, hash, s.params)
	ok = ok && verr == nil && known && !st.locked
	target := s.kr.AuditTarget("staff-email", norm)
	if id != "" {
		target = s.target(id)
	}
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		lockedNow, err := throttleRecord(ctx, tx, s.limits, b, st, !ok, now)
		if err != nil {
			return err
		}
		result := "ok"
		if !ok {
			result = "failed"
		}
		events := []audit.Event{{Actor: s.ipActor(a), Action: "staff.signin.password", Purpose: "security", Target: target, Result: result}}
		if lockedNow {
			events = append(events, audit.Event{Actor: s.ipActor(a), Action: "staff.lockout", Purpose: "security", Target: target, Result: "locked"})
		}
		if ok && rehash {
			// Parameters were raised since this hash was made: store a
			// new one while the plaintext is at hand.
			if nh, err := keys.HashPassword(pw, s.params); err == nil {
				if _, err := tx.ExecContext(ctx, "UPDATE staff SET password_hash = $1 WHERE id = $2", nh, id); err != nil {
					return err
				}
			}
		}
		_, err = s.audit.AppendAll(ctx, tx, events)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sign in: %w", err)
	}
	if !ok {
		return "", ErrSignIn
	}
	return id, nil
}

// refuse audits a rate-limited attempt and returns err; the audit write
// failing fails the request too.
func (s *Staff) refuse(ctx context.Context, err error, a Attempt, action, target string) error {
	aerr := s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		_, e := s.audit.Append(ctx, tx, audit.Event{Actor: s.ipActor(a), Action: action, Purpose: "security", Target: target, Result: "rate_limited"})
		return e
	})
	if aerr != nil {
		return fmt.Errorf("audit refusal: %w", aerr)
	}
	return err
}

// SignInCode checks the second factor of member id: a TOTP code (accepted
// once: its step must be newer than the last accepted one) or an unused
// recovery code (deleted when used). It counts against the same limits as
// the password, and a locked account refuses even a right code, with the
// same answer as a wrong one. The console also uses it for step-up.
func (s *Staff) SignInCode(ctx context.Context, id, code string, a Attempt) error {
	var sealedEmail, sealedTOTP []byte
	var lastStep int64
	err := s.db.Read().QueryRowContext(ctx, "SELECT email_sealed, totp_sealed, totp_last_step FROM staff WHERE id = $1 AND enrolled_at IS NOT NULL", id).
		Scan(&sealedEmail, &sealedTOTP, &lastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrSignIn
	}
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	email, err := s.kr.OpenStaff(sealedEmail, "staff", id, "email")
	if err != nil {
		return fmt.Errorf("open staff e-mail: %w", err)
	}
	secret, err := s.kr.OpenStaff(sealedTOTP, "staff", id, "totp")
	if err != nil {
		return fmt.Errorf("open staff totp: %w", err)
	}
	b := s.buckets(s.emailIndex(string(email)), a)
	now := s.now()
	st, err := throttleCheck(ctx, s.db.Read(), s.limits, b, now)
	if err != nil {
		return s.refuse(ctx, err, a, "staff.signin.code", s.target(id))
	}
	step, totpOK := VerifyTOTP(string(secret), code, now, lastStep)
	var recoveryHash []byte
	if !totpOK {
		recoveryHash = s.kr.HashSecret(NormalizeRecoveryCode(code))
	}
	ok := false
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		ok = false
		method := "totp"
		if !st.locked {
			switch {
			case totpOK:
				// Compare-and-set on the last step: of two concurrent
				// uses of one code, only one wins.
				res, err := tx.ExecContext(ctx, "UPDATE staff SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1", step, id)
				if err != nil {
					return err
				}
				n, _ := res.RowsAffected()
				ok = n == 1
			default:
				method = "recovery"
				res, err := tx.ExecContext(ctx, "DELETE FROM staff_recovery_codes WHERE staff_id = $1 AND code_hash = $2", id, recoveryHash)
				if err != nil {
					return err
				}
				n, _ := res.RowsAffected()
				ok = n == 1
			}
		}
		lockedNow, err := throttleRecord(ctx, tx, s.limits, b, st, !ok, now)
		if err != nil {
			return err
		}
		result := "ok:" + method
		if !ok {
			result = "failed"
		} else if err := throttleReset(ctx, tx, b); err != nil {
			return err
		}
		events := []audit.Event{{Actor: s.ipActor(a), Action: "staff.signin.code", Purpose: "security", Target: s.target(id), Result: result}}
		if lockedNow {
			events = append(events, audit.Event{Actor: s.ipActor(a), Action: "staff.lockout", Purpose: "security", Target: s.target(id), Result: "locked"})
		}
		_, err = s.audit.AppendAll(ctx, tx, events)
		return err
	})
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	if !ok {
		return ErrSignIn
	}
	return nil
}

// Audit records a staff action that changes no stored state of this
// package (sign-out, step-up), failing when the audit write fails.
func (s *Staff) Audit(ctx context.Context, actor, action, targetID, result string) error {
	return s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		_, err := s.audit.Append(ctx, tx, audit.Event{Actor: actor, Action: action, Purpose: "security", Target: s.target(targetID), Result: result})
		return err
	})
}
