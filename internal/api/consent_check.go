package api

import (
	"net/http"
)

// consentCheck answers whether the subject's data may be processed for the
// purpose now: the host application asks before every newsletter, every
// analytics event. It reads the register's decision (from memory on
// SQLite, one indexed query on PostgreSQL) and is counted, not audited, so
// it never waits on a disk write; a grant or withdrawal is visible to the
// very next check. The answer is encoded without reflection.
func (s *Server) consentCheck(w http.ResponseWriter, r *http.Request) error {
	purpose := r.PathValue("purpose")
	d, err := s.Consent.Check(r.Context(), r.PathValue("id"), purpose)
	if err != nil {
		return err
	}
	s.ConsentMetrics.countCheck(caller(r).ID, purpose, d.Allowed)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.Write(append(d.AppendJSON(make([]byte, 0, 192)), '\n'))
	return nil
}
