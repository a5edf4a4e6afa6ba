package vault_test

import (
	"testing"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

func TestSubjectIDByIdentifier(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		ada := mustCreate(t, en.v, vault.NewSubject{ExternalID: "cust-1", Email: "ada@example.org"})
		gone := mustCreate(t, en.v, vault.NewSubject{ExternalID: "cust-2", Email: "gone@example.org"})
		if _, err := en.v.Erase(ctx, staff, gone.ID); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name, kind, value, want string
		}{
			{"email, other case", vault.KindEmail, "ADA@example.org", ada.ID},
			{"external id", vault.KindExternalID, " cust-1 ", ada.ID},
			{"unknown email", vault.KindEmail, "nobody@example.org", ""},
			{"erased subject", vault.KindEmail, "gone@example.org", ""},
			{"erased subject by external id", vault.KindExternalID, "cust-2", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				id, found, err := en.v.SubjectID(ctx, tc.kind, tc.value)
				if err != nil {
					t.Fatal(err)
				}
				if id != tc.want || found != (tc.want != "") {
					t.Fatalf("SubjectID = %q, %v; want %q", id, found, tc.want)
				}
			})
		}
		if _, _, err := en.v.SubjectID(ctx, vault.KindEmail, "not an address"); errcode.Of(err) != errcode.Invalid {
			t.Fatalf("malformed address: err = %v, want invalid", err)
		}
	})
}
