package consent_test

import (
	"slices"
	"strconv"
	"testing"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/receipt"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

func (f *fixture) receipts(t *testing.T) (*consent.Receipts, *receipt.Signer) {
	t.Helper()
	signer, err := receipt.NewSigner(f.seal.kr)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := consent.NewReceipts(f.reg, consent.ReceiptOptions{Signer: signer, Jurisdiction: "DE",
		PublicURL: "https://privacy.example.org/", Controllers: []consent.Controller{{Name: "Example GmbH", Email: "dpo@example.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	return rs, signer
}

func TestConsentReceipts(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		rs, signer := f.receipts(t)
		ctx := t.Context()
		id := f.newSubject(t)
		grant := f.mustRecord(t, subjectActor(id), f.grant(id, "newsletter"))

		verify := func(t *testing.T, r consent.Receipt) consent.ReceiptClaims {
			t.Helper()
			var c consent.ReceiptClaims
			if err := receipt.Verify(r.JWS, signer.KeySet(), &c); err != nil {
				t.Fatalf("receipt does not verify: %v", err)
			}
			return c
		}
		r, err := rs.Latest(ctx, id, "newsletter")
		if err != nil {
			t.Fatalf("Latest: %v", err)
		}
		c := verify(t, r)
		if c.Version != consent.ReceiptVersion || c.Jurisdiction != "DE" || c.PIIPrincipalID != id ||
			c.ConsentReceiptID != grant.ID || c.ConsentTimestamp != grant.RecordedAt.Unix() ||
			c.CollectionMethod != "portal: checkbox" || c.Issuer != "Example GmbH" {
			t.Errorf("receipt header = %+v", c)
		}
		if len(c.PIIControllers) != 1 || c.PIIControllers[0].Name != "Example GmbH" {
			t.Errorf("piiControllers = %+v", c.PIIControllers)
		}
		wantURL := "https://privacy.example.org/policies/privacy-policy/v/" + strconv.Itoa(f.policy.Version)
		if c.PolicyURL != wantURL {
			t.Errorf("policyUrl = %q, want %q", c.PolicyURL, wantURL)
		}
		if len(c.Services) != 1 || len(c.Services[0].Purposes) != 1 {
			t.Fatalf("services = %+v", c.Services)
		}
		p := c.Services[0].Purposes[0]
		if p.ConsentType != "EXPRESSED" || !slices.Equal(p.PurposeCategory, []string{"Marketing"}) ||
			!slices.Equal(p.PIICategory, []string{"contact", "marketing"}) || p.PrimaryPurpose || p.Termination == "" || p.ThirdPartyDisclosure {
			t.Errorf("purpose = %+v", p)
		}
		if c.Sensitive || c.Proof.State != "granted" || c.Proof.RecordID != grant.ID || c.Proof.NoticeSHA256 != grant.NoticeSHA256 ||
			c.Proof.NoticeVersion != f.policy.Version || c.Proof.Action != consent.Checkbox {
			t.Errorf("proof = %+v", c.Proof)
		}

		t.Run("withdrawal", func(t *testing.T) {
			w := f.mustRecord(t, subjectActor(id), request(id, consent.Withdraw, "newsletter"))
			r, err := rs.Latest(ctx, id, "newsletter")
			if err != nil {
				t.Fatal(err)
			}
			c := verify(t, r)
			if c.ConsentReceiptID != w.ID || c.Proof.State != "withdrawn" || c.Proof.Kind != consent.Withdraw {
				t.Errorf("withdrawal receipt = %+v", c.Proof)
			}
			// The withdrawal cites no notice; the receipt names the version
			// the consent it ends was given on.
			if c.PolicyURL != wantURL {
				t.Errorf("policyUrl = %q, want %q", c.PolicyURL, wantURL)
			}
			old, err := rs.ForRecord(ctx, id, grant.ID)
			if err != nil || verify(t, old).Proof.State != "granted" {
				t.Errorf("ForRecord(grant) = %v", err)
			}
		})
		t.Run("explicit consent to special categories", func(t *testing.T) {
			req := f.grant(id, "health-tips")
			req.Action = consent.TwoStep
			f.mustRecord(t, subjectActor(id), req)
			r, err := rs.Latest(ctx, id, "health-tips")
			if err != nil {
				t.Fatal(err)
			}
			c := verify(t, r)
			if !c.Sensitive || c.Services[0].Purposes[0].ConsentType != "EXPLICIT" || !slices.Equal(c.SPICat, []string{string(consent.ExplicitConsent)}) {
				t.Errorf("sensitive receipt = %+v", c)
			}
		})
		t.Run("not found", func(t *testing.T) {
			_, err := rs.Latest(ctx, id, "research")
			wantCode(t, err, errcode.NotFound)
			_, err = rs.Latest(ctx, newSubjectID(), "newsletter")
			wantCode(t, err, errcode.NotFound)
			other := f.newSubject(t)
			_, err = rs.ForRecord(ctx, other, grant.ID)
			wantCode(t, err, errcode.NotFound)
		})
	})
}
