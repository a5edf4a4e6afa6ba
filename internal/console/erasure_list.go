package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
)

type approvalRow struct {
	ErasureID, RequestID, SubjectID, Category, Since string
}

type erasuresPage struct {
	Nav    nav
	Rows   []approvalRow
	Decide bool // the member may approve or refuse
}

// erasureList shows the categories waiting for an erasure approval (by
// default security data: e-mail and IP addresses used for security).
func (s *Server) erasureList(w http.ResponseWriter, r *http.Request, q *request) error {
	if s.eraser == nil {
		return errcode.E(errcode.NotFound, "erasures are not served here")
	}
	list, err := s.eraser.AwaitingApproval(r.Context())
	if err != nil {
		return err
	}
	p := erasuresPage{Nav: q.nav("erasures"), Decide: q.staffer()}
	for _, a := range list {
		p.Rows = append(p.Rows, approvalRow{ErasureID: a.ErasureID, RequestID: a.RequestID, SubjectID: a.SubjectID,
			Category: a.Category, Since: stamp(a.Since)})
	}
	return s.render(w, http.StatusOK, "erasures", q, q.page.L.T("console.erasures.title"), p)
}
