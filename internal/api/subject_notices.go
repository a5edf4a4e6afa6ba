package api

import (
	"net/http"
	"time"

	"github.com/gdprd/gdprd/internal/web"
)

// pendingNotice is a notice the subject must read and accept again: its
// current version and what changed, without the body (GET
// /notices/{slug}/versions/{version} has it).
type pendingNotice struct {
	Notice      string     `json:"notice"`
	Version     int        `json:"version"`
	SHA256      string     `json:"sha256"`
	EffectiveAt time.Time  `json:"effective_at"`
	Summary     string     `json:"summary"`
	PublishedAt *time.Time `json:"published_at"`
}

// subjectNotices answers which notices changed materially since the
// subject last accepted them, so the host application can prompt for
// re-acceptance (and record it with kind accept-notice).
func (s *Server) subjectNotices(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	vs, err := s.Consent.NeedsReacceptance(r.Context(), id)
	if err != nil {
		return err
	}
	out := make([]pendingNotice, 0, len(vs))
	for _, v := range vs {
		out = append(out, pendingNotice{Notice: v.Notice, Version: v.Version, SHA256: v.SHA256,
			EffectiveAt: v.EffectiveAt, Summary: v.Summary, PublishedAt: v.PublishedAt})
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{
		"subject_id": id, "needs_reacceptance": len(out) > 0, "notices": out,
	})
	return nil
}
