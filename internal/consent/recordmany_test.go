package consent_test

import (
	"testing"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// TestRecordMany: records imported in bulk are what Record writes (each
// audited with its own event, the state follows, the check allows), and
// one refusal fails the whole call and writes nothing.
func TestRecordMany(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		ctx := t.Context()
		subjects := f.newSubjects(t, 5)
		importer := consent.Actor{Name: "system", Purpose: "service-delivery"}
		var reqs []consent.Request
		for _, s := range subjects[:4] {
			req := f.grant(s, "newsletter")
			req.Channel, req.IP, req.UserAgent = consent.Import, "192.0.2.7", "importer/1"
			reqs = append(reqs, req)
		}
		recs, err := f.reg.RecordMany(ctx, importer, reqs)
		if err != nil {
			t.Fatalf("RecordMany: %v", err)
		}
		if len(recs) != 4 {
			t.Fatalf("%d records, want 4", len(recs))
		}
		for i, rec := range recs {
			if rec.SubjectID != subjects[i] || rec.Seq == 0 || rec.AuditSeq == 0 || rec.NoticeVersion != f.policy.Version || rec.RecordedBy != "system" {
				t.Errorf("record %d = %+v", i, rec)
			}
			if p, err := f.reg.OpenProof(ctx, rec); err != nil || p.IP != "192.0.2.7" {
				t.Errorf("record %d proof %+v, %v", i, p, err)
			}
			if d := f.mustCheck(t, subjects[i], "newsletter"); !d.Allowed {
				t.Errorf("subject %d not allowed after the imported grant: %+v", i, d)
			}
		}
		if d := f.mustCheck(t, subjects[4], "newsletter"); d.Allowed {
			t.Error("a subject outside the import is allowed")
		}
		f.checkAudited(t)

		tests := []struct {
			name string
			bad  consent.Request
			code errcode.Code
		}{
			{"unknown subject", f.grant(newSubjectID(), "newsletter"), errcode.NotFound},
			{"not consent-based", f.grant(subjects[4], "analytics"), errcode.Invalid},
			{"pre-ticked", func() consent.Request { r := f.grant(subjects[4], "research"); r.Action = "preticked"; return r }(), errcode.Invalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := f.footprint(t)
				_, err := f.reg.RecordMany(ctx, importer, []consent.Request{f.grant(subjects[4], "newsletter"), tt.bad})
				wantCode(t, err, tt.code)
				if after := f.footprint(t); after != before {
					t.Errorf("footprint %+v after the refusal, want %+v", after, before)
				}
			})
		}
	})
}
