package consent_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

func TestCreatePurposeRoundTrips(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		ctx := t.Context()
		in := purpose("symptom-diary", consent.Consent, func(p *consent.Purpose) {
			p.Names["fr"] = "Journal des symptômes"
			p.SpecialCategories, p.Art9Condition = true, consent.ExplicitConsent
			p.Categories = []string{"usage", "profile", "usage"}
			p.Retention = "400"
		})
		created, err := f.reg.CreatePurpose(ctx, dpo, in)
		if err != nil {
			t.Fatalf("CreatePurpose: %v", err)
		}
		if created.Retention != "P400D" || created.Notice != consent.DefaultNotice {
			t.Errorf("normalised retention %q, notice %q; want P400D, %s", created.Retention, created.Notice, consent.DefaultNotice)
		}
		if want := []string{"profile", "usage"}; !reflect.DeepEqual(created.Categories, want) {
			t.Errorf("categories %v, want sorted and deduplicated %v", created.Categories, want)
		}
		got, err := f.reg.Purpose(ctx, in.Slug)
		if err != nil {
			t.Fatalf("Purpose: %v", err)
		}
		if !reflect.DeepEqual(got, created) {
			t.Errorf("read back\n%+v\nwant\n%+v", got, created)
		}
		all, err := f.reg.Purposes(ctx)
		if err != nil {
			t.Fatalf("Purposes: %v", err)
		}
		var slugs []string
		for _, p := range all {
			slugs = append(slugs, p.Slug)
		}
		for _, want := range []string{"billing", "newsletter", "service-delivery", "symptom-diary"} {
			if !strings.Contains(","+strings.Join(slugs, ",")+",", ","+want+",") {
				t.Errorf("Purposes lists %v, missing %s", slugs, want)
			}
		}
		if n := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'purpose.create' AND target = 'purpose:symptom-diary'"); n != 1 {
			t.Errorf("%d purpose.create events for the purpose, want 1", n)
		}
		_, err = f.reg.CreatePurpose(ctx, dpo, in)
		wantCode(t, err, errcode.Conflict)
	})
}

func TestSeededPurposesHaveTheRicherModel(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		p, err := f.reg.Purpose(t.Context(), "billing")
		if err != nil {
			t.Fatalf("Purpose(billing): %v", err)
		}
		if p.Basis != consent.LegalObligation || !p.Necessary || p.Notice != "privacy-policy" {
			t.Errorf("billing = basis %s, necessary %v, notice %q", p.Basis, p.Necessary, p.Notice)
		}
		if p.Names["en"] != "Billing and invoicing" || p.Names["de"] == "" {
			t.Errorf("billing names = %v, want the seeded English and German", p.Names)
		}
	})
}

func TestCreatePurposeRefusesInvalid(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*consent.Purpose)
		field string
	}{
		{"empty slug", func(p *consent.Purpose) { p.Slug = "" }, "slug"},
		{"upper-case slug", func(p *consent.Purpose) { p.Slug = "News" }, "slug"},
		{"slug starting with a digit", func(p *consent.Purpose) { p.Slug = "1news" }, "slug"},
		{"slug too long", func(p *consent.Purpose) { p.Slug = "a" + strings.Repeat("b", 63) }, "slug"},
		{"unknown basis", func(p *consent.Purpose) { p.Basis = "because" }, "legal_basis"},
		{"no basis", func(p *consent.Purpose) { p.Basis = "" }, "legal_basis"},
		{"no German name", func(p *consent.Purpose) { delete(p.Names, "de") }, "names.de"},
		{"no English description", func(p *consent.Purpose) { p.Descriptions["en"] = "  " }, "descriptions.en"},
		{"bad language tag", func(p *consent.Purpose) { p.Names["English"] = "x" }, "names"},
		{"description without a name", func(p *consent.Purpose) { p.Descriptions["fr"] = "x" }, "descriptions.fr"},
		{"consent cannot be necessary", func(p *consent.Purpose) { p.Necessary = true }, "necessary"},
		{"marketing cannot be necessary", func(p *consent.Purpose) { p.Basis, p.DirectMarketing, p.Necessary = consent.Contract, true, true }, "necessary"},
		{"direct marketing on contract", func(p *consent.Purpose) { p.Basis, p.DirectMarketing = consent.Contract, true }, "legal_basis"},
		{"special categories without a condition", func(p *consent.Purpose) { p.SpecialCategories = true }, "art9_condition"},
		{"condition without special categories", func(p *consent.Purpose) { p.Art9Condition = consent.HealthCare }, "art9_condition"},
		{"unknown condition", func(p *consent.Purpose) { p.SpecialCategories, p.Art9Condition = true, "k" }, "art9_condition"},
		{"explicit consent on another basis", func(p *consent.Purpose) {
			p.Basis, p.SpecialCategories, p.Art9Condition = consent.Contract, true, consent.ExplicitConsent
		}, "legal_basis"},
		{"no retention", func(p *consent.Purpose) { p.Retention = "" }, "retention"},
		{"retention in words", func(p *consent.Purpose) { p.Retention = "two years" }, "retention"},
		{"bare P", func(p *consent.Purpose) { p.Retention = "P" }, "retention"},
		{"zero retention", func(p *consent.Purpose) { p.Retention = "P0Y0D" }, "retention"},
		{"zero days", func(p *consent.Purpose) { p.Retention = "0" }, "retention"},
		{"unknown category", func(p *consent.Purpose) { p.Categories = []string{"usage", "dreams"} }, "categories"},
		{"unknown notice", func(p *consent.Purpose) { p.Notice = "no-such-notice" }, "notice"},
		{"NUL in a name", func(p *consent.Purpose) { p.Names["en"] = "a\x00b" }, "names.en"},
	}
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := purpose("valid-purpose", consent.Consent, tc.edit)
				before := f.count(t, "SELECT COUNT(*) FROM purposes")
				head := f.footprint(t).auditSeq
				_, err := f.reg.CreatePurpose(t.Context(), dpo, p)
				wantCode(t, err, errcode.Invalid)
				if ce, _ := errcode.As(err); ce.Field != tc.field {
					t.Errorf("field %q, want %q (%v)", ce.Field, tc.field, err)
				}
				if n := f.count(t, "SELECT COUNT(*) FROM purposes"); n != before {
					t.Errorf("%d purposes after a refused create, want %d", n, before)
				}
				if n := f.count(t, "SELECT COUNT(*) FROM purpose_texts WHERE purpose = 'valid-purpose'"); n != 0 {
					t.Errorf("refused create left %d translations", n)
				}
				if got := f.footprint(t).auditSeq; got != head {
					t.Errorf("audit head moved from %d to %d on a refused create", head, got)
				}
			})
		}
		// The table's base purpose is valid: each case fails for its edit.
		if _, err := f.reg.CreatePurpose(t.Context(), dpo, purpose("valid-purpose", consent.Consent, nil)); err != nil {
			t.Fatalf("the unedited purpose is refused: %v", err)
		}
	})
}

func TestUpdatePurpose(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		ctx := t.Context()

		t.Run("changes are stored and audited", func(t *testing.T) {
			p, err := f.reg.Purpose(ctx, "analytics")
			if err != nil {
				t.Fatal(err)
			}
			p.Names["en"], p.Retention, p.Categories = "Product analytics", "P6M", []string{"usage", "profile"}
			got, err := f.reg.UpdatePurpose(ctx, dpo, p)
			if err != nil {
				t.Fatalf("UpdatePurpose: %v", err)
			}
			if !got.UpdatedAt.After(p.UpdatedAt) || !got.CreatedAt.Equal(p.CreatedAt) {
				t.Errorf("updated_at %v (was %v), created_at %v (was %v)", got.UpdatedAt, p.UpdatedAt, got.CreatedAt, p.CreatedAt)
			}
			back, err := f.reg.Purpose(ctx, "analytics")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, got) {
				t.Errorf("read back %+v, want %+v", back, got)
			}
			if n := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'purpose.update' AND target = 'purpose:analytics'"); n != 1 {
				t.Errorf("%d purpose.update events, want 1", n)
			}
		})
		t.Run("a stale read is a conflict", func(t *testing.T) {
			p, err := f.reg.Purpose(ctx, "research")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.reg.UpdatePurpose(ctx, dpo, p); err != nil {
				t.Fatalf("first update: %v", err)
			}
			p.Retention = "P1Y"
			_, err = f.reg.UpdatePurpose(ctx, dpo, p)
			wantCode(t, err, errcode.Conflict)
		})
		t.Run("unknown purpose", func(t *testing.T) {
			_, err := f.reg.UpdatePurpose(ctx, dpo, purpose("no-such-purpose", consent.Consent, nil))
			wantCode(t, err, errcode.NotFound)
		})
		t.Run("invalid update", func(t *testing.T) {
			p, err := f.reg.Purpose(ctx, "research")
			if err != nil {
				t.Fatal(err)
			}
			p.Necessary = true
			_, err = f.reg.UpdatePurpose(ctx, dpo, p)
			wantCode(t, err, errcode.Invalid)
		})
		t.Run("basis stays consent once people chose", func(t *testing.T) {
			// Granted, then objected: the latest state is an objection, but
			// consent was given and the basis may not silently move.
			s := f.newSubject(t)
			f.mustRecord(t, subjectActor(s), f.grant(s, "newsletter"))
			f.mustRecord(t, subjectActor(s), request(s, consent.Object, "newsletter"))
			p, err := f.reg.Purpose(ctx, "newsletter")
			if err != nil {
				t.Fatal(err)
			}
			p.Basis = consent.LegitimateInterest
			_, err = f.reg.UpdatePurpose(ctx, dpo, p)
			wantCode(t, err, errcode.Conflict)
			if d := f.mustCheck(t, s, "newsletter"); d.Basis != consent.Consent || d.Allowed {
				t.Errorf("after the refused change Check = %+v, want refused on consent", d)
			}
			// Without any consent records the change is allowed.
			q, err := f.reg.Purpose(ctx, "health-tips")
			if err != nil {
				t.Fatal(err)
			}
			q.Basis, q.Art9Condition = consent.Contract, consent.HealthCare
			if _, err := f.reg.UpdatePurpose(ctx, dpo, q); err != nil {
				t.Fatalf("changing the basis of a purpose nobody consented to: %v", err)
			}
		})
	})
}
