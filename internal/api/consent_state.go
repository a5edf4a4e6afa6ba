package api

import (
	"net/http"
	"time"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/web"
)

// consentStateItem is one purpose as it stands for the subject: the
// decision a check would give, and the record that proves it.
type consentStateItem struct {
	Purpose         string             `json:"purpose"`
	Basis           consent.LegalBasis `json:"basis"`
	Necessary       bool               `json:"necessary"`
	DirectMarketing bool               `json:"direct_marketing"`
	Allowed         bool               `json:"allowed"`
	Reason          consent.Reason     `json:"reason"`
	Since           *time.Time         `json:"since,omitempty"`
	// Record is the register entry behind the decision (without its sealed
	// proof): which notice version the person saw, the control they used,
	// when and through which channel.
	Record *consent.Record `json:"record,omitempty"`
}

// consentState answers every purpose with its current decision for the
// subject and the record proving it.
func (s *Server) consentState(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	states, err := s.Consent.State(r.Context(), id)
	if err != nil {
		return err
	}
	// Records are append-only, so the history read after the state holds
	// every record the state names.
	history, err := s.Consent.History(r.Context(), id)
	if err != nil {
		return err
	}
	records := make(map[string]*consent.Record, len(history))
	for i := range history {
		records[history[i].ID] = &history[i]
	}
	items := make([]consentStateItem, 0, len(states))
	for _, st := range states {
		d := st.Decision
		items = append(items, consentStateItem{
			Purpose: st.Purpose.Slug, Basis: st.Purpose.Basis, Necessary: st.Purpose.Necessary,
			DirectMarketing: st.Purpose.DirectMarketing, Allowed: d.Allowed, Reason: d.Reason, Since: d.Since,
			Record: records[d.RecordID],
		})
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"subject_id": id, "consents": items})
	return nil
}
