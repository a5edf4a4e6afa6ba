package dsr_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/receipt"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

// taxHold is the example of issue 5: invoices kept ten years for the tax
// authorities.
var taxHold = dsr.Hold{Category: "billing", Reason: "invoices must be kept for the tax authorities",
	Reference: "§147 AO (DE) / tax", Exception: dsr.LegalObligation, Duration: dsr.Period{Years: 10}}

// eraser builds an Eraser over f with policy and a receipt signer from f's
// keyring.
func (f *fixture) eraser(t *testing.T, policy dsr.ErasurePolicy) (*dsr.Eraser, *receipt.Signer) {
	t.Helper()
	signer, err := receipt.NewSigner(f.kr)
	if err != nil {
		t.Fatal(err)
	}
	e, err := dsr.NewEraser(t.Context(), dsr.ErasureOptions{DB: f.db, Audit: f.log, Vault: f.vault,
		Targets: f.kr, Signer: signer, Policy: policy, Issuer: "Example GmbH", Clock: f.clock.Now})
	if err != nil {
		t.Fatalf("NewEraser: %v", err)
	}
	return e, signer
}

// personWithData creates a subject with data in each of cats.
func (f *fixture) personWithData(t *testing.T, cats ...string) string {
	t.Helper()
	data := map[string]json.RawMessage{}
	for _, c := range cats {
		data[c] = json.RawMessage(fmt.Sprintf(`{"note":"%s of person %d"}`, c, f.seq.Load()+1))
	}
	s, err := f.vault.Create(t.Context(), vault.Actor{Name: "system", Purpose: "service-delivery"},
		vault.NewSubject{ExternalID: fmt.Sprintf("cust-%d", f.seq.Add(1)), Email: fmt.Sprintf("p%d@example.org", f.seq.Load()), Data: data})
	if err != nil {
		t.Fatalf("create subject: %v", err)
	}
	return s.ID
}

// readable reports whether category cat of id can still be read.
func (f *fixture) readable(t *testing.T, id, cat string) bool {
	t.Helper()
	_, err := f.vault.GetData(t.Context(), vault.Actor{Name: "system", Purpose: "storage"}, id, cat)
	switch {
	case err == nil:
		return true
	case errcode.Of(err) == errcode.NotFound:
		return false
	}
	t.Fatalf("GetData(%s): %v", cat, err)
	return false
}

func verifyReceipt(t *testing.T, signer *receipt.Signer, jws string) dsr.ErasureReceipt {
	t.Helper()
	var c dsr.ErasureReceipt
	if err := receipt.Verify(jws, signer.KeySet(), &c); err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
	return c
}

func TestErasureHoldsApprovalAndReceipt(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e, nil)
		er, signer := f.eraser(t, dsr.ErasurePolicy{Holds: []dsr.Hold{taxHold}, ApprovalRequired: []string{"security"}})
		ctx := t.Context()
		id := f.personWithData(t, "billing", "security", "usage", "marketing")
		written := f.clock.Now()
		f.clock.advance(time.Hour)

		res, err := er.Execute(ctx, person(id), dsr.ErasureInput{SubjectID: id, Categories: []string{"billing", "usage", "security", "profile"},
			Recipients: []string{"Mailer Ltd (newsletter processor)"}})
		if err != nil {
			t.Fatalf("Execute: %v", err)
		}
		c := verifyReceipt(t, signer, res.Receipt)
		until := written.AddDate(10, 0, 0)
		if c.Subject != id || c.Issuer != "Example GmbH" || c.ID != res.ID || c.Scope != "categories" || c.AccountErased {
			t.Errorf("receipt header: %+v", c)
		}
		if !slices.Equal(c.Erased, []string{"usage"}) || !slices.Equal(c.AwaitingApproval, []string{"security"}) || !slices.Equal(c.Absent, []string{"profile"}) {
			t.Errorf("erased %v, awaiting %v, absent %v", c.Erased, c.AwaitingApproval, c.Absent)
		}
		if len(c.Kept) != 1 || c.Kept[0].Category != "billing" || c.Kept[0].Reference != "§147 AO (DE) / tax" ||
			c.Kept[0].Exception != dsr.LegalObligation || c.Kept[0].Reason == "" || !c.Kept[0].Until.Equal(until) {
			t.Errorf("kept = %+v, want billing until %s", c.Kept, until)
		}
		if !c.Verified || len(c.Verification) != 1 || c.Verification[0] != (dsr.Check{Category: "usage", Result: "not-found"}) {
			t.Errorf("verification = %v %+v", c.Verified, c.Verification)
		}
		if !slices.Equal(c.Recipients, []string{"Mailer Ltd (newsletter processor)"}) {
			t.Errorf("recipients = %v", c.Recipients)
		}
		for cat, want := range map[string]bool{"usage": false, "billing": true, "security": true, "marketing": true} {
			if got := f.readable(t, id, cat); got != want {
				t.Errorf("%s readable = %v, want %v", cat, got, want)
			}
		}
		stored, err := er.Receipt(ctx, res.ID)
		if err != nil || stored != res.Receipt {
			t.Errorf("stored receipt differs: %v", err)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'erasure.execute' AND target = $1 AND result = 'ok'", f.kr.AuditTarget("subject", id)); n != 1 {
			t.Errorf("%d erasure.execute audit events, want 1", n)
		}

		t.Run("approval roles", func(t *testing.T) {
			auditor := dsr.Actor{Name: "staff:aud", Purpose: "dsr"}
			for _, tc := range []struct {
				name  string
				actor dsr.Actor
				role  dsr.Role
				want  errcode.Code
			}{
				{"auditor", auditor, dsr.RoleAuditor, errcode.Forbidden},
				{"unknown role", auditor, dsr.Role("intern"), errcode.Forbidden},
				{"api key", hostApp, dsr.RoleSupport, errcode.Forbidden},
				{"the person", person(id), dsr.RoleSupport, errcode.Forbidden},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE target = $1 AND result = $2", f.kr.AuditTarget("subject", id), string(tc.want))
					wantCode(t, er.Decide(ctx, tc.actor, tc.role, res.ID, "security", true, ""), tc.want)
					if !f.readable(t, id, "security") {
						t.Fatal("a refused approval erased the data")
					}
					after := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE target = $1 AND result = $2", f.kr.AuditTarget("subject", id), string(tc.want))
					if after != before+1 {
						t.Errorf("refusal audited %d times, want 1", after-before)
					}
				})
			}
			wantCode(t, er.Decide(ctx, dpo, dsr.RoleDPO, res.ID, "security", false, "  "), errcode.Invalid)
			wantCode(t, er.Decide(ctx, dpo, dsr.RoleDPO, res.ID, "billing", true, ""), errcode.Conflict)
			wantCode(t, er.Decide(ctx, dpo, dsr.RoleDPO, res.ID, "contact", true, ""), errcode.NotFound)
			if err := er.Decide(ctx, support, dsr.RoleSupport, res.ID, "security", true, ""); err != nil {
				t.Fatalf("support approves: %v", err)
			}
			if f.readable(t, id, "security") {
				t.Error("approved security data is still readable")
			}
			wantCode(t, er.Decide(ctx, dpo, dsr.RoleDPO, res.ID, "security", true, ""), errcode.Conflict)
			if n := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'erasure.approve' AND actor = 'staff:support' AND result = 'ok'"); n != 1 {
				t.Errorf("%d approval audit events, want 1", n)
			}
		})

		t.Run("scheduled deletion when the hold ends", func(t *testing.T) {
			pending, err := er.PendingFor(ctx, id)
			if err != nil || len(pending) != 1 || pending[0].Category != "billing" || !pending[0].DueAt.Equal(until) {
				t.Fatalf("pending = %+v, %v", pending, err)
			}
			f.clock.set(until.Add(-time.Second))
			if n, err := er.Sweep(ctx); err != nil || n != 0 {
				t.Fatalf("Sweep before the end of the duty = %d, %v", n, err)
			}
			if !f.readable(t, id, "billing") {
				t.Fatal("held billing data erased before its duty ended")
			}
			f.clock.set(until)
			if n, err := er.Sweep(ctx); err != nil || n != 1 {
				t.Fatalf("Sweep at the end of the duty = %d, %v", n, err)
			}
			if f.readable(t, id, "billing") {
				t.Error("billing data still readable after its hold ended")
			}
			if !f.readable(t, id, "marketing") {
				t.Error("the sweep erased a category nobody asked to erase")
			}
			if n, err := er.Sweep(ctx); err != nil || n != 0 {
				t.Errorf("second Sweep = %d, %v", n, err)
			}
			if n := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'erasure.hold_ended' AND actor = 'system'"); n != 1 {
				t.Errorf("%d hold_ended audit events, want 1", n)
			}
		})
	})
}

func TestErasureWholeAccount(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e, nil)
		ctx := t.Context()

		t.Run("nothing held: crypto-shredded at once", func(t *testing.T) {
			er, signer := f.eraser(t, dsr.DefaultErasurePolicy())
			id := f.personWithData(t, "usage", "profile")
			res, err := er.Execute(ctx, person(id), dsr.ErasureInput{SubjectID: id, All: true})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			c := verifyReceipt(t, signer, res.Receipt)
			if !c.AccountErased || c.Scope != "account" || !slices.Equal(c.Erased, []string{"profile", "usage"}) || !c.Verified {
				t.Errorf("receipt = %+v", c)
			}
			if len(c.Verification) != 3 || c.Verification[0] != (dsr.Check{Category: "*", Result: "not-found"}) {
				t.Errorf("verification = %+v", c.Verification)
			}
			if _, err := f.vault.Get(ctx, vault.Actor{Name: "system", Purpose: "storage"}, id); errcode.Of(err) != errcode.NotFound {
				t.Errorf("Get after account erasure: %v", err)
			}
			if n := f.count(t, "SELECT COUNT(*) FROM erasures WHERE id = $1 AND subject_id IS NULL", res.ID); n != 1 {
				t.Error("the erasure record still names the erased subject")
			}
			if _, err := er.Receipt(ctx, res.ID); err != nil {
				t.Errorf("the receipt outlives the subject: %v", err)
			}
		})

		t.Run("held category keeps the account until the duty ends", func(t *testing.T) {
			er, signer := f.eraser(t, dsr.ErasurePolicy{Holds: []dsr.Hold{taxHold}})
			id := f.personWithData(t, "billing", "usage")
			res, err := er.Execute(ctx, person(id), dsr.ErasureInput{SubjectID: id, All: true})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			c := verifyReceipt(t, signer, res.Receipt)
			if c.AccountErased || !slices.Equal(c.Erased, []string{"usage"}) || len(c.Kept) != 1 {
				t.Errorf("receipt = %+v", c)
			}
			if f.readable(t, id, "usage") || !f.readable(t, id, "billing") {
				t.Error("usage should be gone and billing kept")
			}
			f.clock.advance(10*365*24*time.Hour + 5*24*time.Hour)
			if n, err := er.Sweep(ctx); err != nil || n != 1 {
				t.Fatalf("Sweep = %d, %v", n, err)
			}
			if _, err := f.vault.Get(ctx, vault.Actor{Name: "system", Purpose: "storage"}, id); errcode.Of(err) != errcode.NotFound {
				t.Errorf("account not erased once its last hold ended: %v", err)
			}
		})
	})
}

func TestErasureBadInput(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e, nil)
		er, _ := f.eraser(t, dsr.DefaultErasurePolicy())
		ctx := t.Context()
		id := f.personWithData(t, "usage", "profile")
		target := f.kr.AuditTarget("subject", id)
		for _, tc := range []struct {
			name string
			in   dsr.ErasureInput
			want errcode.Code
		}{
			{"unknown category", dsr.ErasureInput{SubjectID: id, Categories: []string{"usage", "horoscope"}}, errcode.Invalid},
			{"no category", dsr.ErasureInput{SubjectID: id}, errcode.Invalid},
			{"all and categories", dsr.ErasureInput{SubjectID: id, All: true, Categories: []string{"usage"}}, errcode.Invalid},
			{"unknown subject", dsr.ErasureInput{SubjectID: "sub_0000000000000000000000000000", Categories: []string{"usage"}}, errcode.NotFound},
			{"malformed subject", dsr.ErasureInput{SubjectID: "../etc", Categories: []string{"usage"}}, errcode.NotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				refusals := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE target = $1 AND result = 'invalid'", target)
				_, err := er.Execute(ctx, person(id), tc.in)
				wantCode(t, err, tc.want)
				if !f.readable(t, id, "usage") || !f.readable(t, id, "profile") {
					t.Fatal("refused erasure erased data")
				}
				if n := f.count(t, "SELECT COUNT(*) FROM erasures"); n != 0 {
					t.Errorf("refused erasure recorded %d erasures", n)
				}
				if tc.want == errcode.Invalid {
					if n := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE target = $1 AND result = 'invalid'", target); n != refusals+1 {
						t.Errorf("refusal audited %d times, want 1", n-refusals)
					}
				}
			})
		}
		t.Run("policy naming an unknown category", func(t *testing.T) {
			signer, _ := receipt.NewSigner(f.kr)
			_, err := dsr.NewEraser(ctx, dsr.ErasureOptions{DB: f.db, Audit: f.log, Vault: f.vault, Targets: f.kr, Signer: signer,
				Policy: dsr.ErasurePolicy{Holds: []dsr.Hold{{Category: "invoices", Reason: "tax", Reference: "§147 AO", Exception: dsr.LegalObligation, Duration: dsr.Period{Years: 10}}}}})
			if err == nil {
				t.Error("a hold on an unknown category was accepted")
			}
			_, err = dsr.NewEraser(ctx, dsr.ErasureOptions{DB: f.db, Audit: f.log, Vault: f.vault, Targets: f.kr, Signer: signer,
				Policy: dsr.ErasurePolicy{Holds: []dsr.Hold{{Category: "billing", Reason: "tax", Reference: "§147 AO", Exception: dsr.ManifestlyExcessive, Duration: dsr.Period{Years: 10}}}}})
			if err == nil {
				t.Error("a hold on a ground outside Art. 17(3) was accepted")
			}
		})
	})
}

// TestErasureRequest: an erasure request's categories are erased through
// the Eraser, and the request moves on: to awaiting_approval while
// security data waits, to completed otherwise.
func TestErasureRequest(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e, nil)
		signer, err := receipt.NewSigner(f.kr)
		if err != nil {
			t.Fatal(err)
		}
		er, err := dsr.NewEraser(t.Context(), dsr.ErasureOptions{DB: f.db, Audit: f.log, Vault: f.vault, Targets: f.kr,
			Signer: signer, Policy: dsr.DefaultErasurePolicy(), Requests: f.svc, Clock: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()

		id := f.personWithData(t, "usage", "security", "profile")
		req := f.mustSubmit(t, hostApp, apiRequest(id, dsr.Erasure, dsr.Details{Categories: []string{"usage", "security"}})).Request
		_, _, err = er.ExecuteRequest(ctx, f.svc, dpo, req.ID, nil)
		wantCode(t, err, errcode.Conflict) // still received
		if !f.readable(t, id, "usage") {
			t.Fatal("a refused request erased data")
		}
		f.mustTransition(t, req.ID, dsr.InProgress, dsr.Reason{})
		res, got, err := er.ExecuteRequest(ctx, f.svc, dpo, req.ID, []string{"Mailer Ltd"})
		if err != nil {
			t.Fatalf("ExecuteRequest: %v", err)
		}
		c := verifyReceipt(t, signer, res.Receipt)
		if c.RequestID != req.ID || !slices.Equal(c.Erased, []string{"usage"}) || !slices.Equal(c.AwaitingApproval, []string{"security"}) {
			t.Errorf("receipt = %+v", c)
		}
		if got.State != dsr.AwaitingApproval || f.readable(t, id, "usage") || !f.readable(t, id, "profile") {
			t.Errorf("request %s; usage readable %v; profile readable %v", got.State, f.readable(t, id, "usage"), f.readable(t, id, "profile"))
		}
		if err := er.Decide(ctx, support, dsr.RoleSupport, res.ID, "security", true, ""); err != nil {
			t.Fatalf("Decide: %v", err)
		}
		if got := f.mustGet(t, req.ID); got.State != dsr.Completed || f.readable(t, id, "security") {
			t.Errorf("after the last approval the request is %s, security readable %v", got.State, f.readable(t, id, "security"))
		}

		other := f.personWithData(t, "usage")
		req = f.mustSubmit(t, hostApp, apiRequest(other, dsr.Erasure, dsr.Details{All: true})).Request
		f.mustTransition(t, req.ID, dsr.InProgress, dsr.Reason{})
		res, got, err = er.ExecuteRequest(ctx, f.svc, dpo, req.ID, nil)
		if err != nil {
			t.Fatalf("ExecuteRequest(all): %v", err)
		}
		if got.State != dsr.Completed || !res.Claims.AccountErased {
			t.Errorf("whole-account request: %s, account erased %v", got.State, res.Claims.AccountErased)
		}

		access := f.open(t, dsr.Access, dsr.Details{})
		f.mustTransition(t, access.ID, dsr.InProgress, dsr.Reason{})
		_, _, err = er.ExecuteRequest(ctx, f.svc, dpo, access.ID, nil)
		wantCode(t, err, errcode.Invalid)
	})
}
