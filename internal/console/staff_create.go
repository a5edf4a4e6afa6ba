package console

import (
	"net/http"
	"strings"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/errcode"
)

// staffCreate adds a member and shows their one-time enrolment link. It
// needs a fresh second factor (the route table says so).
func (s *Server) staffCreate(w http.ResponseWriter, r *http.Request, q *request) error {
	email := r.PostFormValue("email")
	role, err := auth.ParseRole(r.PostFormValue("role"))
	var token string
	if err == nil {
		_, token, err = s.staff.Create(r.Context(), email, role, q.actor())
	}
	status := http.StatusOK
	p, lerr := s.staffPageData(r, q)
	if lerr != nil {
		return lerr
	}
	switch errcode.Of(err) {
	case errcode.Invalid:
		status, p.Email, p.Error = http.StatusBadRequest, email, q.page.L.T("console.staff.invalid")
	case errcode.Conflict:
		status, p.Email, p.Error = http.StatusConflict, email, q.page.L.T("console.staff.exists")
	default:
		if err != nil {
			return err
		}
		p.Link = EnrolURL(strings.TrimSuffix(s.base, "/"), token)
	}
	return s.render(w, status, "staff", q, q.page.L.T("console.staff.title"), p)
}
