package dsr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gdprd/gdprd/internal/ids"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Actor says who acts and under which declared purpose; both go into the
// audit log. Name is "subject:<id>", "staff:<id>", "apikey:<id>" or
// "system", as for the vault and the consent register.
type Actor struct {
	Name    string
	Purpose string
}

// isStaff, isAPIKey and subjectID tell actors apart by the prefix of
// their name, the convention every capability shares.
func (a Actor) isStaff() bool  { return hasID(a.Name, "staff:") }
func (a Actor) isAPIKey() bool { return hasID(a.Name, "apikey:") }

// subjectID returns the person an actor "subject:<id>" is, if it is one.
func (a Actor) subjectID() (string, bool) {
	id, ok := strings.CutPrefix(a.Name, "subject:")
	return id, ok && id != ""
}

func hasID(name, prefix string) bool {
	return strings.HasPrefix(name, prefix) && len(name) > len(prefix)
}

// Sealer seals and opens small values with a subject's own data key, so
// that erasing the subject (destroying the key) makes every sealed copy
// unreadable. The vault (*vault.Vault) satisfies it; dsr never sees key
// material. An unknown or erased subject is an errcode NotFound from Seal;
// Open of a value whose key was destroyed is errcode Gone.
//
// Seal must bind the ad parts as associated data the way
// keys.DataKey.Seal does: audit details are sealed with ("audit", target),
// which is how the vault's OpenAuditDetails opens them for the subject's
// access export.
type Sealer interface {
	Seal(ctx context.Context, subjectID string, plaintext []byte, ad ...string) (sealed []byte, keyID string, err error)
	Open(ctx context.Context, subjectID, keyID string, sealed []byte, ad ...string) ([]byte, error)
}

// Targets names objects in the audit log without plaintext; the keyring
// (keys.Keyring.AuditTarget) satisfies it.
type Targets interface {
	AuditTarget(kind, id string) string
}

// Options configure a Service.
type Options struct {
	DB      *sqlstore.DB
	Audit   *audit.Log
	Sealer  Sealer
	Targets Targets
	// Calendar is the operator's jurisdiction: its zone decides the day
	// of receipt and its public holidays push legal_due_at forward. The
	// zero Calendar is UTC without holidays.
	Calendar Calendar
	// TargetDays sets the internal target (target_due_at). Zero, the
	// default, is the one-month date without roll-forward, which is never
	// later than the legal deadline. A positive value is a fixed number of
	// days after the day of receipt per month of the period (28 is the
	// ICO's operational advice; an extended three-month period then gets
	// 3×28 days), never later than the legal deadline.
	TargetDays int
	// Clock returns the current time (time.Now when nil). It decides
	// whether a receipt time lies in the future, whether an extension is
	// still possible, and what counts as overdue.
	Clock func() time.Time
}

// Service receives data-subject requests and moves them through their
// lifecycle. It holds no state beyond its options, so one Service serves
// all goroutines and several replicas may share a database: every rule
// that must hold across callers (one request per idempotency key, one open
// request per subject and kind, one event per change) is enforced by the
// database.
type Service struct {
	db         *sqlstore.DB
	audit      *audit.Log
	sealer     Sealer
	targets    Targets
	cal        Calendar
	targetDays int
	clock      func() time.Time
}

// New returns a Service over o.
func New(o Options) (*Service, error) {
	if o.DB == nil || o.Audit == nil || o.Sealer == nil || o.Targets == nil {
		return nil, errors.New("dsr: DB, Audit, Sealer and Targets are required")
	}
	if o.TargetDays < 0 || o.TargetDays > 31 {
		return nil, fmt.Errorf("dsr: TargetDays is 0 (one month) or 1 to 31 days, not %d", o.TargetDays)
	}
	s := &Service{db: o.DB, audit: o.Audit, sealer: o.Sealer, targets: o.Targets,
		cal: o.Calendar, targetDays: o.TargetDays, clock: o.Clock}
	if s.clock == nil {
		s.clock = time.Now
	}
	return s, nil
}

// now reads the clock at the precision the database stores, so a time
// returned to the caller equals the one read back later.
func (s *Service) now() time.Time {
	return micros(s.clock())
}

// micros truncates t to the stored precision, in UTC.
func micros(t time.Time) time.Time {
	return sqlstore.FromMicros(sqlstore.Micros(t))
}

// due returns the legal and internal target deadlines of a period of the
// given number of months counted from received (1 at intake, 3 after the
// Art. 12(3) extension, which is counted from receipt as well).
func (s *Service) due(received time.Time, months int) (legal, target time.Time) {
	d := s.cal.deadlines(received, months)
	legal, target = d.LegalAt, d.TargetAt
	if s.targetDays > 0 {
		day := DateOf(received, s.cal.Location()).AddDays(months * s.targetDays)
		target = s.cal.endOfDay(day)
	}
	if target.After(legal) {
		target = legal
	}
	return micros(legal), micros(target)
}

// ValidRequestID reports whether id has the shape of a request id; other
// strings are answered as not found without touching the database.
func ValidRequestID(id string) bool { return ids.Valid("req_", id) }

func requestNotFound() error { return errcode.E(errcode.NotFound, "no such request") }

// subjectNotFound is the answer for unknown and erased subjects alike.
func subjectNotFound() error { return errcode.E(errcode.NotFound, "no such subject") }

// requestTarget is how the audit log names a request: by its subject's
// target once it has one, so the events show up in that person's audit
// trail beside the vault's and the consent register's; by the request
// itself before identity is established.
func (s *Service) requestTarget(r *Request) string {
	if r.SubjectID != "" {
		return s.targets.AuditTarget("subject", r.SubjectID)
	}
	return s.targets.AuditTarget("request", r.ID)
}

// auditDetails seals the details of an audit event with the subject's key
// when the request has a subject. A request without one gets no details
// (the audit log accepts only sealed ones); its request_events row holds
// the same facts.
func (s *Service) auditDetails(ctx context.Context, r *Request, target string, details map[string]any) ([]byte, string, error) {
	if r.SubjectID == "" {
		return nil, "", nil
	}
	b, err := json.Marshal(details)
	if err != nil {
		return nil, "", err
	}
	sealed, keyID, err := s.sealer.Seal(ctx, r.SubjectID, b, "audit", target)
	if err != nil {
		return nil, "", fmt.Errorf("seal audit details: %w", err)
	}
	return sealed, keyID, nil
}

// auditRefusal records an operation that was refused and changed nothing
// (issue 5, "Bad input": each refusal is audited). It is a record of an
// attempt, not of a change, so it is committed with relaxed durability like
// the vault's read events. The refusal is returned either way; a failure
// to audit it is joined to it so that it reaches the logs.
func (s *Service) auditRefusal(ctx context.Context, a Actor, action, target string, refusal error) error {
	if checkActor(a) != nil {
		return refusal
	}
	err := s.db.WriteWith(ctx, sqlstore.Relaxed, func(tx *sqlstore.Tx) error {
		_, err := s.audit.Append(ctx, tx, audit.Event{
			Actor: a.Name, Action: action, Purpose: a.Purpose, Target: target,
			Result: string(errcode.Of(refusal)),
		})
		return err
	})
	if err != nil {
		return errors.Join(refusal, fmt.Errorf("audit refused %s: %w", action, err))
	}
	return refusal
}

// auditRead records that personal data of a request was opened, before
// the caller returns it (fail closed).
func (s *Service) auditRead(ctx context.Context, a Actor, action string, r *Request) error {
	if err := checkActor(a); err != nil {
		return err
	}
	target := s.requestTarget(r)
	details, keyID, err := s.auditDetails(ctx, r, target, map[string]any{"request": r.ID})
	if err != nil {
		return err
	}
	return s.db.WriteWith(ctx, sqlstore.Relaxed, func(tx *sqlstore.Tx) error {
		_, err := s.audit.Append(ctx, tx, audit.Event{
			Actor: a.Name, Action: action, Purpose: a.Purpose, Target: target,
			Result: "ok", KeyID: keyID, Details: details,
		})
		if err != nil {
			return fmt.Errorf("audit %s: %w", action, err)
		}
		return nil
	})
}

// checkActor refuses actors the audit log could not record faithfully.
func checkActor(a Actor) error {
	if a.Name == "" || !validText(a.Name) || !validText(a.Purpose) {
		return errors.New("dsr: the actor needs a name, and name and purpose must be text")
	}
	return nil
}

// validText reports whether s can be stored identically on both engines:
// PostgreSQL TEXT holds neither NUL bytes nor invalid UTF-8.
func validText(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
