package consent_test

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// testMaster is the fixed master key of every test keyring.
var testMaster = []byte("gdprd consent test master key 32")

var (
	dpo    = consent.Actor{Name: "staff:dpo", Purpose: "service-delivery"}
	apiKey = consent.Actor{Name: "apikey:ak_test", Purpose: "service-delivery"}
)

func subjectActor(id string) consent.Actor {
	return consent.Actor{Name: "subject:" + id, Purpose: "service-delivery"}
}

// clock moves forward by an uneven step with nanoseconds on every reading,
// so times must be truncated to the stored microseconds to round-trip.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(1001*time.Microsecond + 333*time.Nanosecond)
	return c.now
}

// keySealer stands in for the vault: every subject gets a real data key
// from a real keyring, and forget destroys one, as an erasure does.
type keySealer struct {
	kr  *keys.Keyring
	kek string

	mu   sync.Mutex
	keys map[string]*keys.DataKey // by subject id
}

func newKeySealer(t *testing.T) *keySealer {
	t.Helper()
	kr, err := keys.NewKeyring(testMaster)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	kek, _, err := kr.NewKEK()
	if err != nil {
		t.Fatalf("NewKEK: %v", err)
	}
	return &keySealer{kr: kr, kek: kek, keys: map[string]*keys.DataKey{}}
}

// add makes a data key for subjectID and returns its id.
func (s *keySealer) add(t *testing.T, subjectID string) string {
	t.Helper()
	_, _, dk, err := s.kr.NewDataKey(s.kek)
	if err != nil {
		t.Fatalf("NewDataKey: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[subjectID] = dk
	return dk.ID()
}

func (s *keySealer) forget(subjectID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, subjectID)
}

func (s *keySealer) key(subjectID string) *keys.DataKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[subjectID]
}

func (s *keySealer) Seal(_ context.Context, subjectID string, plaintext []byte, ad ...string) ([]byte, string, error) {
	dk := s.key(subjectID)
	if dk == nil {
		return nil, "", errcode.E(errcode.NotFound, "no such subject")
	}
	sealed, err := dk.Seal(plaintext, ad...)
	return sealed, dk.ID(), err
}

func (s *keySealer) Open(_ context.Context, subjectID, keyID string, sealed []byte, ad ...string) ([]byte, error) {
	dk := s.key(subjectID)
	if dk == nil || dk.ID() != keyID {
		return nil, errcode.E(errcode.Gone, "erased with its subject")
	}
	return dk.Open(sealed, ad...)
}

// fixture is a consent register on one engine over a fresh database, with
// a published privacy policy and a few purposes of every kind:
//
//	newsletter      consent, direct marketing
//	research        consent
//	analytics       legitimate interest
//	partner-offers  legitimate interest, direct marketing
//	health-tips     consent, special categories under explicit consent
//
// plus the seeded ones (service-delivery: contract; billing: legal
// obligation; storage: legal obligation, allowed under restriction).
type fixture struct {
	engine sqlstore.Engine
	db     *sqlstore.DB
	reg    *consent.Register
	seal   *keySealer
	policy consent.NoticeVersion // current privacy policy
}

func newFixture(t *testing.T, e sqlstore.Engine, edits ...func(*consent.Options)) *fixture {
	t.Helper()
	f := &fixture{engine: e, db: sqltest.Open(t, e, "main"), seal: newKeySealer(t)}
	c := &clock{now: time.Date(2026, 5, 4, 9, 30, 0, 123456789, time.UTC)}
	o := consent.Options{
		DB:      f.db,
		Audit:   audit.New(audit.Options{Clock: c.Now}),
		Sealer:  f.seal,
		Targets: f.seal.kr,
		Clock:   c.Now,
	}
	for _, edit := range edits {
		edit(&o)
	}
	reg, err := consent.New(o)
	if err != nil {
		t.Fatalf("consent.New: %v", err)
	}
	f.reg = reg
	f.policy = f.publish(t, "privacy-policy", "# Privacy\n\nWe process your data as follows.", false)
	for _, p := range []consent.Purpose{
		purpose("newsletter", consent.Consent, func(p *consent.Purpose) { p.DirectMarketing = true; p.Categories = []string{"contact", "marketing"} }),
		purpose("research", consent.Consent, nil),
		purpose("analytics", consent.LegitimateInterest, nil),
		purpose("partner-offers", consent.LegitimateInterest, func(p *consent.Purpose) { p.DirectMarketing = true }),
		purpose("health-tips", consent.Consent, func(p *consent.Purpose) {
			p.SpecialCategories, p.Art9Condition = true, consent.ExplicitConsent
		}),
	} {
		if _, err := f.reg.CreatePurpose(t.Context(), dpo, p); err != nil {
			t.Fatalf("CreatePurpose(%s): %v", p.Slug, err)
		}
	}
	return f
}

// purpose returns a valid purpose, changed by edit when not nil.
func purpose(slug string, basis consent.LegalBasis, edit func(*consent.Purpose)) consent.Purpose {
	p := consent.Purpose{
		Slug:         slug,
		Names:        map[string]string{"en": "The " + slug, "de": "Der " + slug},
		Descriptions: map[string]string{"en": "What " + slug + " is for.", "de": "Wofür " + slug + " ist."},
		Basis:        basis,
		Categories:   []string{"usage"},
		Retention:    "P2Y",
	}
	if edit != nil {
		edit(&p)
	}
	return p
}

// publish drafts and publishes a new version of notice.
func (f *fixture) publish(t *testing.T, notice, body string, material bool) consent.NoticeVersion {
	t.Helper()
	d := consent.Draft{Body: body, EffectiveAt: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Material: material}
	if material {
		d.Summary = "What changed: " + body
	}
	v, err := f.reg.DraftNotice(t.Context(), dpo, notice, d)
	if err != nil {
		t.Fatalf("DraftNotice(%s): %v", notice, err)
	}
	v, err = f.reg.PublishNotice(t.Context(), dpo, notice, v.Version)
	if err != nil {
		t.Fatalf("PublishNotice(%s v%d): %v", notice, v.Version, err)
	}
	if notice == "privacy-policy" {
		f.policy = v
	}
	return v
}

// newSubjectID returns a fresh id shaped like the vault's.
func newSubjectID() string {
	var b [16]byte
	rand.Read(b[:])
	return "sub_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// newSubjects inserts n subjects the way the vault stores them (a row
// naming the subject's data key) and gives each a key in the sealer.
func (f *fixture) newSubjects(t *testing.T, n int) []string {
	t.Helper()
	ids := make([]string, n)
	keyIDs := make([]string, n)
	for i := range ids {
		ids[i] = newSubjectID()
		keyIDs[i] = f.seal.add(t, ids[i])
	}
	err := f.db.Write(t.Context(), func(tx *sqlstore.Tx) error {
		const perStmt = 200
		for start := 0; start < n; start += perStmt {
			end := min(start+perStmt, n)
			var sb strings.Builder
			sb.WriteString("INSERT INTO subjects (id, key_id, created_at, updated_at) VALUES ")
			var args []any
			for i := start; i < end; i++ {
				if i > start {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, "($%d, $%d, 0, 0)", len(args)+1, len(args)+2)
				args = append(args, ids[i], keyIDs[i])
			}
			if _, err := tx.ExecContext(t.Context(), sb.String(), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("insert subjects: %v", err)
	}
	return ids
}

func (f *fixture) newSubject(t *testing.T) string {
	t.Helper()
	return f.newSubjects(t, 1)[0]
}

// restrict marks subjects as restricted (Art. 18), as the vault would.
func (f *fixture) restrict(t *testing.T, ids ...string) {
	t.Helper()
	f.exec(t, func(tx *sqlstore.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(t.Context(), "UPDATE subjects SET restricted = 1 WHERE id = $1", id); err != nil {
				return err
			}
		}
		return nil
	})
}

func (f *fixture) exec(t *testing.T, fn func(tx *sqlstore.Tx) error) {
	t.Helper()
	if err := f.db.Write(t.Context(), fn); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (f *fixture) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.Read().QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// footprint is everything a refused request must leave unchanged.
type footprint struct{ records, states, auditSeq int }

func (f *fixture) footprint(t *testing.T) footprint {
	t.Helper()
	return footprint{
		records:  f.count(t, "SELECT COUNT(*) FROM consent_records"),
		states:   f.count(t, "SELECT COUNT(*) FROM consent_state"),
		auditSeq: f.count(t, "SELECT seq FROM audit_head"),
	}
}

// grant is a valid grant request of purpose through the portal.
func (f *fixture) grant(subjectID, purpose string) consent.Request {
	return consent.Request{SubjectID: subjectID, Kind: consent.Grant, Purpose: purpose,
		NoticeVersion: f.policy.Version, Channel: consent.Portal, Action: consent.Checkbox}
}

func request(subjectID string, kind consent.Kind, purpose string) consent.Request {
	return consent.Request{SubjectID: subjectID, Kind: kind, Purpose: purpose, Channel: consent.Portal, Action: consent.Toggle}
}

func (f *fixture) mustRecord(t *testing.T, a consent.Actor, req consent.Request) consent.Record {
	t.Helper()
	rec, err := f.reg.Record(t.Context(), a, req)
	if err != nil {
		t.Fatalf("Record(%s %s): %v", req.Kind, req.Purpose, err)
	}
	return rec
}

func (f *fixture) mustCheck(t *testing.T, subjectID, purpose string) consent.Decision {
	t.Helper()
	d, err := f.reg.Check(t.Context(), subjectID, purpose)
	if err != nil {
		t.Fatalf("Check(%s): %v", purpose, err)
	}
	return d
}

// wantCode fails unless err carries the error code want.
func wantCode(t *testing.T, err error, want errcode.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", want)
	}
	if got := errcode.Of(err); got != want {
		t.Fatalf("got error %v (code %s), want code %s", err, got, want)
	}
}

// stateRow is one row of the cached state.
type stateRow struct {
	kind     string
	seq      int64
	recordID string
}

// cachedState reads consent_state as a map keyed by subject and purpose.
func (f *fixture) cachedState(t *testing.T) map[[2]string]stateRow {
	t.Helper()
	rows, err := f.db.Read().QueryContext(t.Context(), "SELECT subject_id, purpose, kind, record_seq, record_id FROM consent_state")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[[2]string]stateRow{}
	for rows.Next() {
		var s, p string
		var r stateRow
		if err := rows.Scan(&s, &p, &r.kind, &r.seq, &r.recordID); err != nil {
			t.Fatal(err)
		}
		out[[2]string{s, p}] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkAudited asserts that every consent record has exactly one audit
// event, the one it names: written for that record (its sealed details
// name the record's id), about its subject, of its kind; and that there
// are no consent events without a record.
func (f *fixture) checkAudited(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	type rec struct{ id, subject, kind string }
	records := map[int64]rec{}
	rows, err := f.db.Read().QueryContext(ctx, "SELECT id, subject_id, kind, audit_seq FROM consent_records")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var r rec
		var seq int64
		if err := rows.Scan(&r.id, &r.subject, &r.kind, &seq); err != nil {
			t.Fatal(err)
		}
		n++
		if prev, dup := records[seq]; dup {
			t.Fatalf("records %s and %s share audit event %d", prev.id, r.id, seq)
		}
		records[seq] = r
	}
	rows.Close()
	if n == 0 {
		t.Fatal("no consent records to check")
	}
	events := 0
	rows, err = f.db.Read().QueryContext(ctx, `SELECT seq, action, target, key_id, details FROM audit_events
		WHERE action LIKE 'consent.%' AND action <> 'consent.rebuild'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var action, target, keyID string
		var details []byte
		if err := rows.Scan(&seq, &action, &target, &keyID, &details); err != nil {
			t.Fatal(err)
		}
		events++
		r, ok := records[seq]
		if !ok {
			t.Fatalf("audit event %d (%s) belongs to no consent record", seq, action)
		}
		if action != "consent."+r.kind {
			t.Errorf("record %s (%s): audit action %q", r.id, r.kind, action)
		}
		if want := f.seal.kr.AuditTarget("subject", r.subject); target != want {
			t.Errorf("record %s: audit target %s, want the subject's %s", r.id, target, want)
		}
		plain, err := f.seal.Open(ctx, r.subject, keyID, details, "audit", target)
		if err != nil {
			t.Fatalf("record %s: open audit details: %v", r.id, err)
		}
		if !strings.Contains(string(plain), `"record":"`+r.id+`"`) {
			t.Errorf("record %s: audit details %s do not name it", r.id, plain)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if events != n {
		t.Fatalf("%d consent records but %d consent audit events", n, events)
	}
}
