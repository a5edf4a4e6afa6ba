package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/ids"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// CeremonyTTL is how long a WebAuthn ceremony (registration or sign-in)
// may take between the options the server sends and the answer.
const CeremonyTTL = 3 * time.Minute

// MaxPasskeyName bounds the name a member gives a passkey.
const MaxPasskeyName = 60

// maxPasskeysPerMember bounds how many passkeys one member may register.
const maxPasskeysPerMember = 10

// Ceremony kinds.
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login"
)

// ErrPasskey is the one answer to a refused passkey registration: the
// details (wrong origin, tampered data, reused challenge) go to the audit
// log, not to the browser.
var ErrPasskey = errcode.E(errcode.Invalid, "the passkey could not be verified")

// Passkey is a registered passkey as the console lists it.
type Passkey struct {
	ID         string
	Name       string
	Transports []string
	AAGUID     []byte
	SignCount  uint32
	CreatedAt  time.Time
	LastUsed   time.Time // zero when never used
}

// Passkeys stores staff passkeys (WebAuthn credentials) and runs the two
// ceremonies. A passkey is a second factor: it is offered after the
// password, besides TOTP, never instead of the password. Each ceremony's
// state is kept server-side, bound to the staff session that began it,
// and is used once.
type Passkeys struct {
	staff *Staff
	wa    *webauthn.WebAuthn
}

// NewPasskeys returns the passkey store of staff. The relying party id is
// the host of publicURL and the only accepted origin is publicURL's
// origin (scheme, host and port).
func NewPasskeys(staff *Staff, publicURL, displayName string) (*Passkeys, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("passkeys: the public URL %q has no usable origin", publicURL)
	}
	if displayName == "" {
		displayName = "gdprd"
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: displayName,
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return &Passkeys{staff: staff, wa: wa}, nil
}

// user is a staff member as the WebAuthn library sees it. The user
// handle is the member's id (random, not personal data).
type user struct {
	m     *StaffMember
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return []byte(u.m.ID) }
func (u *user) WebAuthnName() string                       { return u.m.Email }
func (u *user) WebAuthnDisplayName() string                { return u.m.Email }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (p *Passkeys) user(ctx context.Context, m *StaffMember) (*user, error) {
	rows, err := p.staff.db.Read().QueryContext(ctx, "SELECT credential FROM staff_passkeys WHERE staff_id = $1 ORDER BY created_at, id", m.ID)
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	defer rows.Close()
	u := &user{m: m}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("passkeys: %w", err)
		}
		var c webauthn.Credential
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return nil, fmt.Errorf("passkeys: stored credential: %w", err)
		}
		u.creds = append(u.creds, c)
	}
	return u, rows.Err()
}

// Has reports whether member id has at least one passkey.
func (p *Passkeys) Has(ctx context.Context, id string) (bool, error) {
	var n int
	if err := p.staff.db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM staff_passkeys WHERE staff_id = $1", id).Scan(&n); err != nil {
		return false, fmt.Errorf("passkeys: %w", err)
	}
	return n > 0, nil
}

// List returns the passkeys of member id, oldest first.
func (p *Passkeys) List(ctx context.Context, id string) ([]Passkey, error) {
	rows, err := p.staff.db.Read().QueryContext(ctx, "SELECT id, name_sealed, transports, aaguid, sign_count, created_at, last_used FROM staff_passkeys WHERE staff_id = $1 ORDER BY created_at, id", id)
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	defer rows.Close()
	var out []Passkey
	for rows.Next() {
		var k Passkey
		var sealed []byte
		var transports string
		var count, created int64
		var used sql.NullInt64
		if err := rows.Scan(&k.ID, &sealed, &transports, &k.AAGUID, &count, &created, &used); err != nil {
			return nil, fmt.Errorf("passkeys: %w", err)
		}
		name, err := p.staff.kr.OpenStaff(sealed, "passkey", k.ID, "name")
		if err != nil {
			return nil, fmt.Errorf("open passkey name: %w", err)
		}
		k.Name, k.SignCount, k.CreatedAt = string(name), uint32(count), sqlstore.FromMicros(created)
		if transports != "" {
			k.Transports = strings.Split(transports, ",")
		}
		if used.Valid {
			k.LastUsed = sqlstore.FromMicros(used.Int64)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// saveCeremony keeps a ceremony's state for sess, replacing one of the
// same kind, and prunes expired ones.
func (p *Passkeys) saveCeremony(ctx context.Context, sess *Session, kind string, sd *webauthn.SessionData) error {
	data, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	now := p.staff.now()
	return p.staff.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM webauthn_ceremonies WHERE expires_at < $1 OR (session_hash = $2 AND kind = $3)",
			sqlstore.Micros(now), sess.hash, kind); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO webauthn_ceremonies (session_hash, kind, data, expires_at) VALUES ($1, $2, $3, $4)",
			sess.hash, kind, data, sqlstore.Micros(now.Add(CeremonyTTL)))
		return err
	})
}

// takeCeremony removes and returns the ceremony of sess and kind: a
// challenge is answered once only, whether the answer is right or not.
// It reports false when there is none or it expired.
func (p *Passkeys) takeCeremony(ctx context.Context, tx *sqlstore.Tx, sess *Session, kind string) (*webauthn.SessionData, bool, error) {
	var data []byte
	var expires int64
	err := tx.QueryRowContext(ctx, "SELECT data, expires_at FROM webauthn_ceremonies WHERE session_hash = $1 AND kind = $2", sess.hash, kind).Scan(&data, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM webauthn_ceremonies WHERE session_hash = $1 AND kind = $2", sess.hash, kind)
	if err != nil {
		return nil, false, err
	}
	if n, _ := res.RowsAffected(); n != 1 || p.staff.now().After(sqlstore.FromMicros(expires)) {
		return nil, false, nil
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(data, &sd); err != nil {
		return nil, false, err
	}
	return &sd, true, nil
}

// BeginRegistration starts registering a passkey for member m in session
// sess and returns the options for navigator.credentials.create as JSON.
// The member's existing passkeys are excluded (no double registration).
func (p *Passkeys) BeginRegistration(ctx context.Context, sess *Session, m *StaffMember) ([]byte, error) {
	u, err := p.user(ctx, m)
	if err != nil {
		return nil, err
	}
	if len(u.creds) >= maxPasskeysPerMember {
		return nil, errcode.E(errcode.Conflict, "at most %d passkeys per member", maxPasskeysPerMember)
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(u.creds))
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, sd, err := p.wa.BeginRegistration(u, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, fmt.Errorf("passkeys: begin registration: %w", err)
	}
	if err := p.saveCeremony(ctx, sess, ceremonyRegister, sd); err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return json.Marshal(creation)
}

// FinishRegistration checks the browser's answer (the JSON of the
// PublicKeyCredential) to the ceremony begun in sess and stores the
// passkey under name. Any refusal (no or used challenge, wrong origin or
// relying party, tampered data) is audited with its reason and answered
// ErrPasskey; nothing is stored.
func (p *Passkeys) FinishRegistration(ctx context.Context, sess *Session, m *StaffMember, name string, response []byte) (*Passkey, error) {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > MaxPasskeyName || strings.ContainsAny(name, "\x00\r\n") {
		return nil, errcode.Field("name", "give the passkey a name of 1 to %d characters", MaxPasskeyName)
	}
	u, err := p.user(ctx, m)
	if err != nil {
		return nil, err
	}
	parsed, perr := protocol.ParseCredentialCreationResponseBytes(response)
	now := p.staff.now().UTC().Truncate(time.Microsecond)
	k := &Passkey{ID: ids.New("pk_"), Name: name, CreatedAt: now}
	reason := ""
	err = p.staff.db.Write(ctx, func(tx *sqlstore.Tx) error {
		reason = ""
		sd, ok, err := p.takeCeremony(ctx, tx, sess, ceremonyRegister)
		if err != nil {
			return err
		}
		var cred *webauthn.Credential
		switch {
		case !ok:
			reason = "no_challenge"
		case perr != nil:
			reason = "malformed"
		default:
			if cred, err = p.wa.CreateCredential(u, *sd, parsed); err != nil {
				reason = "not_verified"
			}
		}
		if reason == "" {
			raw, err := json.Marshal(cred)
			if err != nil {
				return err
			}
			transports := make([]string, 0, len(cred.Transport))
			for _, t := range cred.Transport {
				transports = append(transports, string(t))
			}
			k.Transports, k.AAGUID, k.SignCount = transports, cred.Authenticator.AAGUID, cred.Authenticator.SignCount
			_, err = tx.ExecContext(ctx, `INSERT INTO staff_passkeys (id, staff_id, credential_id, public_key, sign_count, transports, aaguid, name_sealed, credential, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				k.ID, m.ID, cred.ID, cred.PublicKey, int64(cred.Authenticator.SignCount), strings.Join(transports, ","), cred.Authenticator.AAGUID,
				p.staff.kr.SealStaff([]byte(name), "passkey", k.ID, "name"), string(raw), sqlstore.Micros(now))
			if sqlstore.IsUniqueViolation(err) {
				reason, err = "duplicate", nil
			}
			if err != nil {
				return err
			}
		}
		result := "ok:" + k.ID
		if reason != "" {
			result = "failed:" + reason
		}
		_, err = p.staff.audit.Append(ctx, tx, audit.Event{Actor: m.Actor(), Action: "staff.passkey.register", Purpose: "security", Target: p.staff.target(m.ID), Result: result})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: finish registration: %w", err)
	}
	if reason != "" {
		return nil, ErrPasskey
	}
	return k, nil
}

// Remove deletes passkey id of member m. Another member's passkey is not
// found.
func (p *Passkeys) Remove(ctx context.Context, m *StaffMember, id string) error {
	found := false
	err := p.staff.db.Write(ctx, func(tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM staff_passkeys WHERE id = $1 AND staff_id = $2", id, m.ID)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		found = n == 1
		result := "ok:" + id
		if !found {
			result = "not_found"
		}
		_, err = p.staff.audit.Append(ctx, tx, audit.Event{Actor: m.Actor(), Action: "staff.passkey.remove", Purpose: "security", Target: p.staff.target(m.ID), Result: result})
		return err
	})
	if err != nil {
		return fmt.Errorf("passkeys: remove: %w", err)
	}
	if !found {
		return errcode.E(errcode.NotFound, "no such passkey")
	}
	return nil
}

// BeginLogin starts a passkey sign-in (or step-up) of member id in
// session sess and returns the options for navigator.credentials.get as
// JSON, naming the member's own passkeys only. A member without passkeys
// gets ErrSignIn.
func (p *Passkeys) BeginLogin(ctx context.Context, sess *Session, id string) ([]byte, error) {
	m, err := p.staff.Get(ctx, id)
	if err != nil {
		return nil, ErrSignIn
	}
	u, err := p.user(ctx, m)
	if err != nil {
		return nil, err
	}
	if len(u.creds) == 0 {
		return nil, ErrSignIn
	}
	assertion, sd, err := p.wa.BeginLogin(u)
	if err != nil {
		return nil, fmt.Errorf("passkeys: begin login: %w", err)
	}
	if err := p.saveCeremony(ctx, sess, ceremonyLogin, sd); err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return json.Marshal(assertion)
}

// FinishLogin checks the browser's assertion (the JSON of the
// PublicKeyCredential) against the ceremony begun in sess, as the second
// factor of member id. It counts against the same limits as the password
// and TOTP code (a locked account refuses even a right assertion), is
// audited as staff.signin.passkey whatever the outcome, and every refusal
// is ErrSignIn. The challenge is used up by the first answer; a signature
// counter that does not grow (a cloned authenticator) is refused.
func (p *Passkeys) FinishLogin(ctx context.Context, sess *Session, id string, response []byte, a Attempt) error {
	s := p.staff
	m, err := s.Get(ctx, id)
	if err != nil || !m.Enrolled {
		return ErrSignIn
	}
	u, err := p.user(ctx, m)
	if err != nil {
		return err
	}
	parsed, perr := protocol.ParseCredentialRequestResponseBytes(response)
	b := s.buckets(s.emailIndex(m.Email), a)
	now := s.now()
	st, err := throttleCheck(ctx, s.db.Read(), s.limits, b, now)
	if err != nil {
		// Use the challenge up even when throttled.
		if werr := s.db.Write(ctx, func(tx *sqlstore.Tx) error { _, _, err := p.takeCeremony(ctx, tx, sess, ceremonyLogin); return err }); werr != nil {
			return werr
		}
		return s.refuse(ctx, err, a, "staff.signin.passkey", s.target(id))
	}
	reason := ""
	err = s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		reason = ""
		sd, ok, err := p.takeCeremony(ctx, tx, sess, ceremonyLogin)
		if err != nil {
			return err
		}
		var cred *webauthn.Credential
		switch {
		case st.locked:
			reason = "locked"
		case !ok:
			reason = "no_challenge"
		case perr != nil:
			reason = "malformed"
		default:
			if cred, err = p.wa.ValidateLogin(u, *sd, parsed); err != nil {
				reason = "not_verified"
			} else if cred.Authenticator.CloneWarning {
				reason = "counter"
			}
		}
		if reason == "" {
			raw, err := json.Marshal(cred)
			if err != nil {
				return err
			}
			// Compare-and-set on the counter: of two concurrent uses of
			// one assertion only one wins (a zero counter, which some
			// authenticators always send, relies on the single-use
			// challenge instead).
			res, err := tx.ExecContext(ctx, "UPDATE staff_passkeys SET sign_count = $1, credential = $2, last_used = $3 WHERE staff_id = $4 AND credential_id = $5 AND (sign_count < $1 OR $1 = 0)",
				int64(cred.Authenticator.SignCount), string(raw), sqlstore.Micros(now), id, cred.ID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				reason = "counter"
			}
		}
		lockedNow, err := throttleRecord(ctx, tx, s.limits, b, st, reason != "", now)
		if err != nil {
			return err
		}
		result := "ok:passkey"
		if reason != "" {
			result = "failed:" + reason
		} else if err := throttleReset(ctx, tx, b); err != nil {
			return err
		}
		events := []audit.Event{{Actor: s.ipActor(a), Action: "staff.signin.passkey", Purpose: "security", Target: s.target(id), Result: result}}
		if lockedNow {
			events = append(events, audit.Event{Actor: s.ipActor(a), Action: "staff.lockout", Purpose: "security", Target: s.target(id), Result: "locked"})
		}
		_, err = s.audit.AppendAll(ctx, tx, events)
		return err
	})
	if err != nil {
		return fmt.Errorf("passkeys: finish login: %w", err)
	}
	if reason != "" {
		return ErrSignIn
	}
	return nil
}
