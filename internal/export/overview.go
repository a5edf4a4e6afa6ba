package export

import (
	"context"
	"fmt"

	"github.com/gdprd/gdprd/internal/vault"
)

// Information is the Art. 15(1)(a)-(h) and 15(2) information about one
// person, as data.json's "information" member holds it.
type Information = information

// Overview is what the privacy portal's "My data" page shows: the
// person's data as the vault holds it, the categories the operator
// defines, and the same Art. 15 information the access package carries.
type Overview struct {
	Subject     *vault.Subject
	Categories  []vault.Category
	Information Information
}

// Overview reads subjectID's data for a, under the purpose dsr-access
// (the vault audits the read as a's), with the purposes as they stand for
// the person. Unlike Prepare it builds no package, so it audits no
// export.
func (e *Exporter) Overview(ctx context.Context, a vault.Actor, subjectID string) (*Overview, error) {
	a.Purpose = Purpose
	subj, err := e.vault.Get(ctx, a, subjectID)
	if err != nil {
		return nil, err
	}
	state, err := e.consent.State(ctx, subj.ID)
	if err != nil {
		return nil, fmt.Errorf("export: purposes of %s: %w", subj.ID, err)
	}
	cats, err := e.vault.Categories(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: categories: %w", err)
	}
	b := &builder{kind: Access, at: e.now(), subj: subj, state: state, cats: cats, info: e.info}
	return &Overview{Subject: subj, Categories: cats, Information: b.information()}, nil
}
