package vault_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
)

func TestZZProf(t *testing.T) {
	en := newVault(t, sqlstore.SQLite)
	for b := range 5 {
		var ns []vault.NewSubject
		for i := range 1000 {
			ns = append(ns, vault.NewSubject{ExternalID: fmt.Sprintf("x-%d-%d", b, i), Email: fmt.Sprintf("p%d.%d@bench.example.org", b, i),
				Data: map[string]json.RawMessage{"contact": raw(`{"name":"Erika Mustermann","city":"Köln"}`), "profile": raw(`{"language":"de"}`)}})
		}
		if _, err := en.v.CreateMany(t.Context(), system, ns); err != nil {
			t.Fatal(err)
		}
	}
}
