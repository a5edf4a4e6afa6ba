package consent_test

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// TestConsentFlows plays sequences of records for one person and purpose
// and checks the decision after the last one.
func TestConsentFlows(t *testing.T) {
	tests := []struct {
		name    string
		purpose string
		kinds   []consent.Kind
		allowed bool
		reason  consent.Reason
	}{
		{"consent never given", "research", nil, false, consent.ReasonNoConsent},
		{"grant", "research", []consent.Kind{consent.Grant}, true, consent.ReasonGranted},
		{"grant then withdraw", "research", []consent.Kind{consent.Grant, consent.Withdraw}, false, consent.ReasonWithdrawn},
		{"withdraw without grant", "research", []consent.Kind{consent.Withdraw}, false, consent.ReasonWithdrawn},
		{"grant, withdraw, grant", "research", []consent.Kind{consent.Grant, consent.Withdraw, consent.Grant}, true, consent.ReasonGranted},
		{"legitimate interest by default", "analytics", nil, true, consent.ReasonLegalBasis},
		{"objection to legitimate interest: restricted until staff decide", "analytics", []consent.Kind{consent.Object}, false, consent.ReasonRestricted},
		{"objection to direct marketing on consent", "newsletter", []consent.Kind{consent.Grant, consent.Object}, false, consent.ReasonObjected},
		{"new consent after the objection", "newsletter", []consent.Kind{consent.Grant, consent.Object, consent.Grant}, true, consent.ReasonGranted},
		{"objection to direct marketing on legitimate interest", "partner-offers", []consent.Kind{consent.Object}, false, consent.ReasonObjected},
		{"contract", "service-delivery", nil, true, consent.ReasonLegalBasis},
		{"legal obligation", "billing", nil, true, consent.ReasonLegalBasis},
	}
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := f.newSubject(t)
				var last consent.Record
				for _, k := range tc.kinds {
					req := request(s, k, tc.purpose)
					if k == consent.Grant {
						req = f.grant(s, tc.purpose)
					}
					last = f.mustRecord(t, subjectActor(s), req)
				}
				d := f.mustCheck(t, s, tc.purpose)
				if d.Allowed != tc.allowed || d.Reason != tc.reason {
					t.Fatalf("Check = allowed %v reason %s, want %v %s", d.Allowed, d.Reason, tc.allowed, tc.reason)
				}
				p, err := f.reg.Purpose(t.Context(), tc.purpose)
				if err != nil {
					t.Fatal(err)
				}
				if d.Basis != p.Basis {
					t.Errorf("basis %s, want the purpose's %s", d.Basis, p.Basis)
				}
				decidedByRecord := tc.reason != consent.ReasonLegalBasis && tc.reason != consent.ReasonNoConsent
				switch {
				case decidedByRecord && (d.Since == nil || !d.Since.Equal(last.RecordedAt) || d.RecordID != last.ID):
					t.Errorf("since %v, record %q; want the last record's %v, %q", d.Since, d.RecordID, last.RecordedAt, last.ID)
				case !decidedByRecord && (d.Since != nil || d.RecordID != ""):
					t.Errorf("since %v, record %q; want none", d.Since, d.RecordID)
				}
			})
		}
		f.checkAudited(t)
	})
}

// TestRecordRefusesInvalid: every refusal has its reason and writes
// nothing: no record, no state, no audit event.
func TestRecordRefusesInvalid(t *testing.T) {
	type tcase struct {
		name  string
		actor func(f *fixture, s string) consent.Actor
		req   func(f *fixture, s string) consent.Request
		code  errcode.Code
		field string
	}
	grantWith := func(edit func(*consent.Request)) func(f *fixture, s string) consent.Request {
		return func(f *fixture, s string) consent.Request {
			r := f.grant(s, "newsletter")
			edit(&r)
			return r
		}
	}
	tests := []tcase{
		{name: "pre-ticked box", req: grantWith(func(r *consent.Request) { r.Action = "preticked" }), code: errcode.Invalid, field: "action"},
		{name: "scrolling", req: grantWith(func(r *consent.Request) { r.Action = "scroll" }), code: errcode.Invalid, field: "action"},
		{name: "silence", req: grantWith(func(r *consent.Request) { r.Action = "silence" }), code: errcode.Invalid, field: "action"},
		{name: "inactivity", req: grantWith(func(r *consent.Request) { r.Action = "inactivity" }), code: errcode.Invalid, field: "action"},
		{name: "no action", req: grantWith(func(r *consent.Request) { r.Action = "" }), code: errcode.Invalid, field: "action"},
		{name: "unknown action", req: grantWith(func(r *consent.Request) { r.Action = "wink" }), code: errcode.Invalid, field: "action"},
		{name: "browser signal cannot grant", req: grantWith(func(r *consent.Request) { r.Action = consent.BrowserSignal }), code: errcode.Invalid, field: "action"},
		{name: "tick for explicit consent", req: func(f *fixture, s string) consent.Request { return f.grant(s, "health-tips") }, code: errcode.Invalid, field: "action"},
		{name: "grant of a contract purpose", req: func(f *fixture, s string) consent.Request { return f.grant(s, "service-delivery") }, code: errcode.Invalid, field: "purpose"},
		{name: "grant of a legitimate interest", req: func(f *fixture, s string) consent.Request { return f.grant(s, "analytics") }, code: errcode.Invalid, field: "purpose"},
		{name: "withdrawal of a legal obligation", req: func(_ *fixture, s string) consent.Request { return request(s, consent.Withdraw, "billing") }, code: errcode.Invalid, field: "purpose"},
		{name: "objection to a consent purpose", req: func(_ *fixture, s string) consent.Request { return request(s, consent.Object, "research") }, code: errcode.Invalid, field: "kind"},
		{name: "objection to a contract purpose", req: func(_ *fixture, s string) consent.Request { return request(s, consent.Object, "service-delivery") }, code: errcode.Invalid, field: "kind"},
		{name: "unknown purpose", req: func(f *fixture, s string) consent.Request { return f.grant(s, "mind-reading") }, code: errcode.Invalid, field: "purpose"},
		{name: "unknown kind", req: grantWith(func(r *consent.Request) { r.Kind = "maybe" }), code: errcode.Invalid, field: "kind"},
		{name: "grant without notice version", req: grantWith(func(r *consent.Request) { r.NoticeVersion = 0 }), code: errcode.Invalid, field: "notice_version"},
		{name: "grant of an old notice version", req: grantWith(func(r *consent.Request) { r.NoticeVersion = 1 }), code: errcode.Invalid, field: "notice_version"},
		{name: "grant of a draft version", req: grantWith(func(r *consent.Request) { r.NoticeVersion = 3 }), code: errcode.Invalid, field: "notice_version"},
		{name: "grant of an unknown version", req: grantWith(func(r *consent.Request) { r.NoticeVersion = 99 }), code: errcode.Invalid, field: "notice_version"},
		{name: "text hash of another version", req: grantWith(func(r *consent.Request) { r.NoticeSHA256 = strings.Repeat("ab", 32) }), code: errcode.Invalid, field: "notice_sha256"},
		{name: "text hash without version", req: func(_ *fixture, s string) consent.Request {
			r := request(s, consent.Withdraw, "newsletter")
			r.NoticeSHA256 = strings.Repeat("ab", 32)
			return r
		}, code: errcode.Invalid, field: "notice_version"},
		{name: "grant citing another notice", req: grantWith(func(r *consent.Request) { r.Notice = "cookie-policy" }), code: errcode.Invalid, field: "notice"},
		{name: "accepting a notice with a purpose", req: grantWith(func(r *consent.Request) { r.Kind = consent.AcceptNotice; r.Notice = "privacy-policy" }), code: errcode.Invalid, field: "purpose"},
		{name: "accepting an unpublished notice", req: func(_ *fixture, s string) consent.Request {
			return consent.Request{SubjectID: s, Kind: consent.AcceptNotice, Notice: "cookie-policy", NoticeVersion: 1, Channel: consent.Portal, Action: consent.Button}
		}, code: errcode.Invalid, field: "notice_version"},
		{name: "unknown channel", req: grantWith(func(r *consent.Request) { r.Channel = "carrier-pigeon" }), code: errcode.Invalid, field: "channel"},
		{name: "bad IP", req: grantWith(func(r *consent.Request) { r.IP = "not-an-ip" }), code: errcode.Invalid, field: "ip"},
		{name: "bad source", req: grantWith(func(r *consent.Request) { r.Source = "GPC!" }), code: errcode.Invalid, field: "source"},
		{name: "over-long user agent", req: grantWith(func(r *consent.Request) { r.UserAgent = strings.Repeat("x", 513) }), code: errcode.Invalid, field: "user_agent"},
		{name: "unknown subject", req: func(f *fixture, _ string) consent.Request { return f.grant(newSubjectID(), "newsletter") }, actor: func(*fixture, string) consent.Actor { return apiKey }, code: errcode.NotFound},
		{name: "someone else's consent", actor: func(*fixture, string) consent.Actor { return subjectActor(newSubjectID()) }, req: func(f *fixture, s string) consent.Request { return f.grant(s, "newsletter") }, code: errcode.Forbidden},
		{name: "a person posing as staff", req: grantWith(func(r *consent.Request) { r.Channel = consent.Staff }), code: errcode.Invalid, field: "channel"},
	}
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		// The privacy policy has an old published version 1, a current
		// version 2 and a draft version 3.
		f.publish(t, "privacy-policy", "# Privacy, second edition", true)
		if _, err := f.reg.DraftNotice(t.Context(), dpo, "privacy-policy", draft("# Privacy, draft")); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := f.newSubject(t)
				a := subjectActor(s)
				if tc.actor != nil {
					a = tc.actor(f, s)
				}
				before := f.footprint(t)
				_, err := f.reg.Record(t.Context(), a, tc.req(f, s))
				wantCode(t, err, tc.code)
				if ce, _ := errcode.As(err); tc.field != "" && ce.Field != tc.field {
					t.Errorf("field %q, want %q (%v)", ce.Field, tc.field, err)
				}
				if after := f.footprint(t); after != before {
					t.Errorf("a refused record changed %+v into %+v", before, after)
				}
			})
		}
		// The template request is valid: each case fails for its change.
		s := f.newSubject(t)
		f.mustRecord(t, subjectActor(s), f.grant(s, "newsletter"))
	})
}

// TestDirectMarketingObjection: an objection to direct marketing takes
// effect at once and outranks anything but the person's own new consent.
func TestDirectMarketingObjection(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		ctx := t.Context()
		s := f.newSubject(t)
		f.mustRecord(t, subjectActor(s), f.grant(s, "newsletter"))
		if !f.mustCheck(t, s, "newsletter").Allowed {
			t.Fatal("not allowed after the grant")
		}
		obj := request(s, consent.Object, "newsletter")
		obj.Action, obj.Source, obj.Channel = consent.BrowserSignal, "gpc", consent.Widget
		f.mustRecord(t, subjectActor(s), obj)
		if d := f.mustCheck(t, s, "newsletter"); d.Allowed || d.Reason != consent.ReasonObjected {
			t.Fatalf("right after the objection Check = %+v", d)
		}

		imported := f.grant(s, "newsletter")
		imported.Channel = consent.Import
		_, err := f.reg.Record(ctx, apiKey, imported)
		wantCode(t, err, errcode.Conflict)
		if f.mustCheck(t, s, "newsletter").Allowed {
			t.Fatal("an import lifted the objection")
		}

		f.mustRecord(t, subjectActor(s), f.grant(s, "newsletter"))
		if d := f.mustCheck(t, s, "newsletter"); !d.Allowed || d.Reason != consent.ReasonGranted {
			t.Fatalf("after the person's new consent Check = %+v", d)
		}

		// Direct marketing on legitimate interests: no consent to give, so
		// the objection stands.
		f.mustRecord(t, subjectActor(s), request(s, consent.Object, "partner-offers"))
		_, err = f.reg.Record(ctx, subjectActor(s), f.grant(s, "partner-offers"))
		wantCode(t, err, errcode.Invalid)
		if f.mustCheck(t, s, "partner-offers").Allowed {
			t.Fatal("partner offers allowed after the objection")
		}
	})
}

func TestRecordStoresWhatWasShownAndWho(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		s := f.newSubject(t)
		req := f.grant(s, "newsletter")
		req.NoticeSHA256 = f.policy.SHA256
		byPerson := f.mustRecord(t, subjectActor(s), req)
		req = f.grant(s, "health-tips")
		req.Action, req.Channel = consent.SignedForm, consent.Staff
		byStaff := f.mustRecord(t, dpo, req)
		withdrawal := f.mustRecord(t, apiKey, request(s, consent.Withdraw, "research"))

		if byPerson.RecordedBy != "subject" || byStaff.RecordedBy != "staff:dpo" || withdrawal.RecordedBy != "apikey:ak_test" {
			t.Errorf("recorded by %q, %q, %q", byPerson.RecordedBy, byStaff.RecordedBy, withdrawal.RecordedBy)
		}
		if byPerson.Notice != "privacy-policy" || byPerson.NoticeVersion != f.policy.Version || byPerson.NoticeSHA256 != f.policy.SHA256 {
			t.Errorf("grant cites %s v%d %s, want the current privacy policy v%d %s",
				byPerson.Notice, byPerson.NoticeVersion, byPerson.NoticeSHA256, f.policy.Version, f.policy.SHA256)
		}
		if withdrawal.Notice != "" || withdrawal.NoticeVersion != 0 {
			t.Errorf("withdrawal cites %s v%d, want no notice", withdrawal.Notice, withdrawal.NoticeVersion)
		}
		if !(byPerson.Seq < byStaff.Seq && byStaff.Seq < withdrawal.Seq) || !byPerson.RecordedAt.Before(byStaff.RecordedAt) {
			t.Errorf("seqs %d, %d, %d and times %v, %v out of order", byPerson.Seq, byStaff.Seq, withdrawal.Seq, byPerson.RecordedAt, byStaff.RecordedAt)
		}
		history, err := f.reg.History(t.Context(), s)
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		if want := []consent.Record{byPerson, byStaff, withdrawal}; !reflect.DeepEqual(history, want) {
			t.Errorf("History =\n%+v\nwant\n%+v", history, want)
		}
		_, err = f.reg.History(t.Context(), newSubjectID())
		wantCode(t, err, errcode.NotFound)
	})
}

// TestRecordsAppendOnlyInDatabase: the database itself refuses to change a
// consent record.
func TestRecordsAppendOnlyInDatabase(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		s := f.newSubject(t)
		rec := f.mustRecord(t, subjectActor(s), f.grant(s, "newsletter"))
		for _, q := range []string{
			"UPDATE consent_records SET kind = 'withdraw' WHERE id = $1",
			"UPDATE consent_records SET recorded_at = 0 WHERE id = $1",
		} {
			err := f.db.Write(t.Context(), func(tx *sqlstore.Tx) error {
				_, err := tx.ExecContext(t.Context(), q, rec.ID)
				return err
			})
			if err == nil {
				t.Errorf("%s: the database allowed it", q)
			}
		}
		h, err := f.reg.History(t.Context(), s)
		if err != nil || len(h) != 1 || h[0].Kind != consent.Grant || !h[0].RecordedAt.Equal(rec.RecordedAt) {
			t.Fatalf("record after the attempts: %+v, %v", h, err)
		}
	})
}

// TestProofIsSealed: the IP address and user agent are stored only sealed
// with the subject's key: readable through the register while the
// subject's key exists, nowhere in the database in the clear, and gone
// with the key.
func TestProofIsSealed(t *testing.T) {
	const (
		ip = "198.51.100.73"
		ua = "CanaryBrowser/7.7 (zz-canary-user-agent)"
	)
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		ctx := t.Context()
		s := f.newSubject(t)
		req := f.grant(s, "newsletter")
		req.IP, req.UserAgent = ip, ua
		rec := f.mustRecord(t, subjectActor(s), req)
		if len(rec.Proof) == 0 || rec.ProofKeyID == "" {
			t.Fatal("no proof stored")
		}
		stored, err := f.reg.History(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		proof, err := f.reg.OpenProof(ctx, stored[0])
		if err != nil {
			t.Fatalf("OpenProof: %v", err)
		}
		if proof.IP != ip || proof.UserAgent != ua {
			t.Fatalf("proof = %+v", proof)
		}

		for _, canary := range []string{ip, ua, "zz-canary"} {
			if where := f.findInDatabase(t, []byte(canary)); where != "" {
				t.Errorf("%q is stored in the clear: %s", canary, where)
			}
		}
		// The search does find what is there in the clear.
		if where := f.findInDatabase(t, []byte(rec.ID)); where == "" {
			t.Fatal("the search does not find the record id; it cannot find a canary either")
		}

		f.seal.forget(s) // the erasure's crypto-shredding
		if _, err := f.reg.OpenProof(ctx, stored[0]); err == nil {
			t.Fatal("proof still opens after the subject's key is gone")
		}
	})
}

// findInDatabase says where needle occurs in the consent and audit tables
// (every column, raw bytes) or, on SQLite, anywhere in the database and
// WAL files; "" if nowhere.
func (f *fixture) findInDatabase(t *testing.T, needle []byte) string {
	t.Helper()
	if f.engine == sqlstore.SQLite {
		for _, path := range []string{f.db.Path(), f.db.Path() + "-wal"} {
			b, err := os.ReadFile(path)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if bytes.Contains(b, needle) {
				return path
			}
		}
	}
	for _, table := range []string{"consent_records", "consent_state", "audit_events", "subjects"} {
		rows, err := f.db.Read().QueryContext(t.Context(), "SELECT * FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var b []byte
				switch v := v.(type) {
				case []byte:
					b = v
				case string:
					b = []byte(v)
				default:
					b = fmt.Append(nil, v)
				}
				if bytes.Contains(b, needle) {
					rows.Close()
					return table + "." + cols[i]
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return ""
}

// TestRestrictedSubject: restriction of processing (Art. 18) stops every
// purpose but storage and legal claims, whatever the consent.
func TestRestrictedSubject(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		s := f.newSubject(t)
		f.mustRecord(t, subjectActor(s), f.grant(s, "newsletter"))
		f.restrict(t, s)
		for _, tc := range []struct {
			purpose string
			allowed bool
		}{
			{"newsletter", false}, {"service-delivery", false}, {"analytics", false},
			{"storage", true}, {"legal-claims", true},
		} {
			t.Run(tc.purpose, func(t *testing.T) {
				d := f.mustCheck(t, s, tc.purpose)
				if d.Allowed != tc.allowed {
					t.Fatalf("Check = %+v, want allowed %v", d, tc.allowed)
				}
				if !tc.allowed && d.Reason != consent.ReasonRestricted {
					t.Fatalf("reason %s, want restricted", d.Reason)
				}
			})
		}
		// A restricted person can still withdraw.
		f.mustRecord(t, subjectActor(s), request(s, consent.Withdraw, "newsletter"))
	})
}
