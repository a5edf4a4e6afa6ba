package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/auth"
)

type roleOption struct {
	Value, Label string
	Selected     bool
}

type staffRow struct {
	ID, Email, RoleLabel string
	Enrolled             bool
	Roles                []roleOption
}

type staffPage struct {
	Nav      nav
	Rows     []staffRow
	NewRoles []roleOption
	Email    string // echoed after a refused creation
	Error    string
	Link     string // the enrolment link of a member just created
}

func (s *Server) roleOptions(q *request, selected auth.Role) []roleOption {
	var out []roleOption
	for _, r := range auth.AllRoles {
		out = append(out, roleOption{Value: string(r), Label: q.page.L.T("console.role." + string(r)), Selected: r == selected})
	}
	return out
}

// staffPageData reads the list for the staff page.
func (s *Server) staffPageData(r *http.Request, q *request) (staffPage, error) {
	list, err := s.staff.List(r.Context())
	if err != nil {
		return staffPage{}, err
	}
	p := staffPage{Nav: q.nav("staff"), NewRoles: s.roleOptions(q, auth.RoleSupport)}
	for _, m := range list {
		p.Rows = append(p.Rows, staffRow{ID: m.ID, Email: m.Email, RoleLabel: q.page.L.T("console.role." + string(m.Role)),
			Enrolled: m.Enrolled, Roles: s.roleOptions(q, m.Role)})
	}
	return p, nil
}

// staffList shows every member with a role menu, and the form to add one.
func (s *Server) staffList(w http.ResponseWriter, r *http.Request, q *request) error {
	p, err := s.staffPageData(r, q)
	if err != nil {
		return err
	}
	return s.render(w, http.StatusOK, "staff", q, q.page.L.T("console.staff.title"), p)
}
