package policies

import (
	"net/http"
)

// current shows the version of a notice in effect now: its highest
// published version.
func (s *Server) current(w http.ResponseWriter, r *http.Request) error {
	n, err := s.loadNotice(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	return s.showVersion(w, r, n, n.versions[len(n.versions)-1])
}
