package vault

import (
	"context"
	"time"

	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Held is one category a subject has data in, without the data.
type Held struct {
	Category string
	// UpdatedAt is when the category was last written: the time a legal
	// hold's duration counts from.
	UpdatedAt time.Time
}

// Inventory lists the categories a subject has data in, in name order,
// with the time each was last written. It opens nothing, so it needs no
// key and works for restricted subjects too; the look is audited like a
// read (fail closed). An erasure plan starts from it.
func (v *Vault) Inventory(ctx context.Context, a Actor, id string) ([]Held, error) {
	if !ValidSubjectID(id) {
		return nil, notFound()
	}
	st, err := v.load(ctx, v.db.Read(), id)
	if err != nil {
		return nil, err
	}
	if st == nil {
		if err := v.auditOnly(ctx, a, "subject.inventory", v.target(id), "not_found", nil, nil); err != nil {
			return nil, err
		}
		return nil, notFound()
	}
	out := make([]Held, 0, len(st.dataOrder))
	for _, c := range st.dataOrder {
		out = append(out, Held{Category: c, UpdatedAt: sqlstore.FromMicros(st.data[c].updatedAt)})
	}
	if err := v.auditOnly(ctx, a, "subject.inventory", v.target(id), "ok", nil, nil); err != nil {
		return nil, err
	}
	return out, nil
}
