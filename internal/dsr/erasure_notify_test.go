package dsr_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/receipt"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/webhook"
)

// The webhook service is the Notifier the application wires in.
var _ dsr.Notifier = (*webhook.Service)(nil)

// TestErasureNotifiesRecipients checks Art. 19 on both engines with the
// real webhook service: the erasure queues one subject.erased message per
// subscribed endpoint in the transaction that records it, the receipt
// lists the endpoints' hosts, and the categories erased later (after an
// approval, at the end of a hold) are each told in a message of their
// own, all listed by Notices. An endpoint not subscribed gets nothing.
func TestErasureNotifiesRecipients(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e, nil)
		ctx := t.Context()
		wh, err := webhook.New(webhook.Options{DB: f.db, Keyring: f.kr, Audit: f.log, Clock: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		crm, _, err := wh.CreateEndpoint(ctx, "https://crm.example.com/hooks/gdprd?token=t0p", []string{webhook.SubjectErased}, "operator:test")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := wh.CreateEndpoint(ctx, "https://other.example.com/", []string{"request.created"}, "operator:test"); err != nil {
			t.Fatal(err)
		}
		signer, err := receipt.NewSigner(f.kr)
		if err != nil {
			t.Fatal(err)
		}
		er, err := dsr.NewEraser(ctx, dsr.ErasureOptions{DB: f.db, Audit: f.log, Vault: f.vault, Targets: f.kr, Signer: signer,
			Policy: dsr.ErasurePolicy{Holds: []dsr.Hold{taxHold}, ApprovalRequired: []string{"security"}}, Notifier: wh, Clock: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		id := f.personWithData(t, "billing", "security", "usage")
		written := f.clock.Now()
		res, err := er.Execute(ctx, person(id), dsr.ErasureInput{SubjectID: id, Categories: []string{"billing", "security", "usage"},
			Recipients: []string{"ignored when a Notifier is set"}})
		if err != nil {
			t.Fatal(err)
		}
		c := verifyReceipt(t, signer, res.Receipt)
		if !slices.Equal(c.Recipients, []string{"crm.example.com"}) || res.Notice == "" {
			t.Errorf("recipients %v, notice %q; want crm.example.com and a message id", c.Recipients, res.Notice)
		}
		body := func(t *testing.T, msgID string) (cats []string) {
			t.Helper()
			ds, err := wh.Deliveries(ctx, "", msgID, 10)
			if err != nil || len(ds) != 1 || ds[0].EndpointID != crm.ID || ds[0].State != webhook.Pending || ds[0].Event != webhook.SubjectErased {
				t.Fatalf("deliveries of %s = %+v, %v; want one pending to %s", msgID, ds, err, crm.ID)
			}
			var raw string
			if err := f.db.Read().QueryRowContext(ctx, "SELECT body FROM webhook_deliveries WHERE id = $1", ds[0].ID).Scan(&raw); err != nil {
				t.Fatal(err)
			}
			var m struct {
				Data webhook.Payload `json:"data"`
			}
			if err := json.Unmarshal([]byte(raw), &m); err != nil || m.Data.SubjectID != id {
				t.Fatalf("body %s: %v", raw, err)
			}
			return m.Data.Categories
		}
		if got := body(t, res.Notice); !slices.Equal(got, []string{"usage"}) {
			t.Errorf("first message names %v, want usage", got)
		}

		if err := er.Decide(ctx, support, dsr.RoleSupport, res.ID, "security", true, ""); err != nil {
			t.Fatal(err)
		}
		f.clock.set(written.AddDate(10, 0, 1))
		if n, err := er.Sweep(ctx); err != nil || n != 1 {
			t.Fatalf("Sweep = %d, %v", n, err)
		}
		msgs, err := er.Notices(ctx, res.ID)
		if err != nil || len(msgs) != 3 || msgs[0] != res.Notice {
			t.Fatalf("Notices = %v, %v; want the first message and two more", msgs, err)
		}
		var later []string
		for _, m := range msgs[1:] {
			later = append(later, body(t, m)...)
		}
		slices.Sort(later)
		if !slices.Equal(later, []string{"billing", "security"}) {
			t.Errorf("later messages name %v, want billing and security", later)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM webhook_deliveries"); n != 3 {
			t.Errorf("%d deliveries queued, want 3 (none to the endpoint not subscribed)", n)
		}
		if _, err := er.Notices(ctx, "er_"+"aaaaaaaaaaaaaaaaaaaaaaaaaa"); err == nil {
			t.Error("Notices of an unknown erasure succeeded")
		}
	})
}
