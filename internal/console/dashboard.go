package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/auth"
)

// nav is what the navigation partial needs on signed-in pages.
type nav struct {
	Member  *auth.StaffMember
	IsOwner bool
	Current string
}

func (q *request) nav(current string) nav {
	return nav{Member: q.member, IsOwner: q.member.Role == auth.RoleOwner, Current: current}
}

type dashboardPage struct {
	Nav  nav
	Role string
}

// dashboard greets the member. (The counts of open requests come with the
// data-subject-rights pages.)
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, q *request) error {
	return s.render(w, http.StatusOK, "dashboard", q, q.page.L.T("console.dashboard.title"),
		dashboardPage{Nav: q.nav("dashboard"), Role: q.page.L.T("console.role." + string(q.member.Role))})
}
