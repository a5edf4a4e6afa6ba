package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
)

// erasureDecide approves or refuses the erasure of one waiting category.
// dsr checks the role again (owner, dpo, support) and that a refusal has a
// reason; refusals change nothing and are audited there. Afterwards the
// erasure's page shows its receipt and what became of each category.
func (s *Server) erasureDecide(w http.ResponseWriter, r *http.Request, q *request) error {
	id := r.PathValue("id")
	if s.eraser == nil || !dsr.ValidErasureID(id) {
		return errcode.E(errcode.NotFound, "no such erasure")
	}
	var approve bool
	switch r.PostFormValue("decision") {
	case "approve":
		approve = true
	case "refuse":
	default:
		return errcode.Field("decision", "approve or refuse")
	}
	err := s.eraser.Decide(r.Context(), q.dsrActor(), dsr.Role(q.member.Role), id, r.PathValue("category"), approve, r.PostFormValue("reason"))
	if err != nil {
		if ce, ok := errcode.As(err); ok && (ce.Code == errcode.Invalid || ce.Code == errcode.Conflict) {
			return s.showErasure(w, r, q, web400or409(ce), q.page.L.T("console.erasure.err."+string(ce.Code)))
		}
		return err
	}
	s.redirect(w, r, Prefix+"erasures/"+id)
	return nil
}
