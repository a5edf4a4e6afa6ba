package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// erasureReceipt answers the signed receipt of an executed erasure. The
// receipt names categories and dates, never data, and outlives the
// subject, so it can be fetched after a whole-account erasure.
func (s *Server) erasureReceipt(w http.ResponseWriter, r *http.Request) error {
	if s.Erasures == nil {
		return errcode.E(errcode.NotFound, "erasure is not configured on this server")
	}
	id := r.PathValue("id")
	jws, err := s.Erasures.Receipt(r.Context(), id)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]string{"id": id, "receipt": jws})
	return nil
}
