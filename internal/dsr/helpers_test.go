package dsr_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

// The vault is the Sealer the application wires in.
var _ dsr.Sealer = (*vault.Vault)(nil)

// dsrMaster is the fixed master key of every test keyring.
var dsrMaster = []byte("gdprd dsr tests master key, 32 B")

var (
	dpo     = dsr.Actor{Name: "staff:dpo", Purpose: "dsr"}
	support = dsr.Actor{Name: "staff:support", Purpose: "dsr"}
	hostApp = dsr.Actor{Name: "apikey:ak_host", Purpose: "dsr"}
	other   = dsr.Actor{Name: "apikey:ak_other", Purpose: "dsr"}
	public  = dsr.Actor{Name: "system", Purpose: "dsr"}
)

func person(subjectID string) dsr.Actor {
	return dsr.Actor{Name: "subject:" + subjectID, Purpose: "dsr"}
}

// testClock is an injected clock that stands still until a test moves it,
// so deadlines can be checked to the microsecond.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a dsr.Service on one engine over a fresh database, with the
// real vault (its own key store) as Sealer, so subjects are created and
// erased the way the application does it.
type fixture struct {
	engine sqlstore.Engine
	db     *sqlstore.DB
	kr     *keys.Keyring
	vault  *vault.Vault
	log    *audit.Log
	clock  *testClock
	svc    *dsr.Service
	seq    atomic.Int64 // numbers external ids of test subjects
}

// newFixture builds the fixture; edit, when given, changes the service's
// options (calendar, target policy) before it is built.
func newFixture(t *testing.T, e sqlstore.Engine, edit func(*dsr.Options)) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{engine: e, db: sqltest.Open(t, e, "main"),
		clock: &testClock{now: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)}}
	keysDB := sqltest.Open(t, e, "keys")
	kr, err := keys.NewKeyring(dsrMaster)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	ks, err := vault.OpenKeyStore(ctx, keysDB, kr, f.clock.Now)
	if err != nil {
		t.Fatalf("OpenKeyStore: %v", err)
	}
	log := audit.New(audit.Options{Clock: f.clock.Now, Signer: kr,
		KeyID: keys.CheckpointKeyID(kr.CheckpointPublicKey())})
	v, err := vault.New(ctx, vault.Options{DB: f.db, KeyStore: ks, Keyring: kr, Audit: log, Clock: f.clock.Now})
	if err != nil {
		t.Fatalf("vault.New: %v", err)
	}
	t.Cleanup(v.Close)
	f.kr, f.vault, f.log = kr, v, log
	o := dsr.Options{DB: f.db, Audit: log, Sealer: v, Targets: kr, Clock: f.clock.Now}
	if edit != nil {
		edit(&o)
	}
	if f.svc, err = dsr.New(o); err != nil {
		t.Fatalf("dsr.New: %v", err)
	}
	return f
}

// newSubject creates a person in the vault and returns their id.
func (f *fixture) newSubject(t *testing.T) string {
	t.Helper()
	s, err := f.vault.Create(t.Context(), vault.Actor{Name: "system", Purpose: "service-delivery"},
		vault.NewSubject{ExternalID: fmt.Sprintf("cust-%d", f.seq.Add(1))})
	if err != nil {
		t.Fatalf("create subject: %v", err)
	}
	return s.ID
}

// apiRequest is a request from the host application for subjectID.
func apiRequest(subjectID string, kind dsr.Kind, d dsr.Details) dsr.NewRequest {
	return dsr.NewRequest{SubjectID: subjectID, Kind: kind, Channel: dsr.API, Details: d}
}

func (f *fixture) mustSubmit(t *testing.T, a dsr.Actor, n dsr.NewRequest) dsr.Submitted {
	t.Helper()
	s, err := f.svc.Submit(t.Context(), a, n)
	if err != nil {
		t.Fatalf("Submit(%s %s): %v", n.Channel, n.Kind, err)
	}
	return s
}

// open submits an access request for a new subject and returns it.
func (f *fixture) open(t *testing.T, kind dsr.Kind, d dsr.Details) dsr.Request {
	t.Helper()
	return f.mustSubmit(t, hostApp, apiRequest(f.newSubject(t), kind, d)).Request
}

func (f *fixture) mustTransition(t *testing.T, id string, to dsr.State, r dsr.Reason) dsr.Request {
	t.Helper()
	req, err := f.svc.Transition(t.Context(), dpo, id, to, r)
	if err != nil {
		t.Fatalf("Transition(%s): %v", to, err)
	}
	return req
}

func (f *fixture) mustGet(t *testing.T, id string) dsr.Request {
	t.Helper()
	r, err := f.svc.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return r
}

func (f *fixture) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.Read().QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// target is the audit target of r's events.
func (f *fixture) target(r dsr.Request) string {
	if r.SubjectID != "" {
		return f.kr.AuditTarget("subject", r.SubjectID)
	}
	return f.kr.AuditTarget("request", r.ID)
}

// footprint is what a change of one request writes: a refused operation
// must leave all of it as it was, apart from one audit event recording the
// refusal.
type footprint struct {
	row           string
	events        int
	notifications int
	auditOK       int // events about the request that record a change
	auditAll      int
}

func (f *fixture) footprint(t *testing.T, r dsr.Request) footprint {
	t.Helper()
	var fp footprint
	var (
		subject, state, reason, assigned, details string
		version, legal, target, wait, since       int64
		updated, closed                           int64
		extended                                  int
	)
	err := f.db.Read().QueryRowContext(t.Context(), `SELECT COALESCE(subject_id, ''), state, version,
		legal_due_at, target_due_at, extended, extension_reason, assigned_to, identity_wait,
		COALESCE(awaiting_identity_since, 0), updated_at, COALESCE(closed_at, 0), details
		FROM requests WHERE id = $1`, r.ID).Scan(&subject, &state, &version, &legal, &target, &extended,
		&reason, &assigned, &wait, &since, &updated, &closed, &details)
	if err != nil {
		t.Fatalf("read request %s: %v", r.ID, err)
	}
	fp.row = fmt.Sprint(subject, state, version, legal, target, extended, reason, assigned, wait, since, updated, closed, details)
	fp.events = f.count(t, "SELECT COUNT(*) FROM request_events WHERE request_id = $1", r.ID)
	fp.notifications = f.count(t, "SELECT COUNT(*) FROM request_notifications WHERE request_id = $1", r.ID)
	tgt := f.target(r)
	fp.auditOK = f.count(t, "SELECT COUNT(*) FROM audit_events WHERE target = $1 AND result = 'ok'", tgt)
	fp.auditAll = f.count(t, "SELECT COUNT(*) FROM audit_events WHERE target = $1", tgt)
	return fp
}

// checkRefused asserts that err carries code want, that the request
// looks exactly as it did at before, and that the refusal was audited
// once, with the code as its result.
func (f *fixture) checkRefused(t *testing.T, r dsr.Request, before footprint, err error, want errcode.Code) {
	t.Helper()
	wantCode(t, err, want)
	after := f.footprint(t, r)
	if after.row != before.row || after.events != before.events || after.notifications != before.notifications || after.auditOK != before.auditOK {
		t.Errorf("refused operation changed the request:\nbefore %+v\nafter  %+v", before, after)
	}
	if after.auditAll != before.auditAll+1 {
		t.Errorf("refusal wrote %d audit events, want 1", after.auditAll-before.auditAll)
	}
	if got := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE target = $1 AND result = $2", f.target(r), string(want)); got < 1 {
		t.Errorf("no audit event with result %q", want)
	}
}

// checkChanged asserts that exactly one change was recorded for r since
// before: one more request event, one more successful audit event, and the
// newest request event points at an audit event about r of action.
func (f *fixture) checkChanged(t *testing.T, r dsr.Request, before footprint, action string) {
	t.Helper()
	after := f.footprint(t, r)
	if after.events != before.events+1 || after.auditOK != before.auditOK+1 {
		t.Fatalf("%s wrote %d request events and %d audit events, want 1 and 1",
			action, after.events-before.events, after.auditOK-before.auditOK)
	}
	f.checkEventAudit(t, r, action)
}

// checkEventAudit asserts that r's latest request event points at an
// audit event of action about r.
func (f *fixture) checkEventAudit(t *testing.T, r dsr.Request, action string) {
	t.Helper()
	var gotAction, gotTarget string
	err := f.db.Read().QueryRowContext(t.Context(), `SELECT a.action, a.target FROM request_events e
		JOIN audit_events a ON a.seq = e.audit_seq WHERE e.request_id = $1 AND e.version = $2`,
		r.ID, r.Version).Scan(&gotAction, &gotTarget)
	if err != nil {
		t.Fatalf("audit event of %s v%d: %v", r.ID, r.Version, err)
	}
	if gotAction != action || gotTarget != f.target(r) {
		t.Errorf("event v%d audited as %s on %s, want %s on %s", r.Version, gotAction, gotTarget, action, f.target(r))
	}
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

// at parses an RFC 3339 instant or stops the test.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// endOf is the last stored instant (microseconds) of a UTC day.
func endOf(t *testing.T, day string) time.Time {
	t.Helper()
	return at(t, day+"T23:59:59.999999Z")
}
