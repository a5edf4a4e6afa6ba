package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/dsr"
)

// nav is what the navigation partial needs on signed-in pages.
type nav struct {
	Member   *auth.StaffMember
	IsOwner  bool
	Current  string
	Requests bool // the request pages are served
	Consent  bool // the consent pages are served
	Webhooks bool // the webhook pages are served
	Passkeys bool // passkeys are served
}

func (q *request) nav(current string) nav {
	return nav{Member: q.member, IsOwner: q.member.Role == auth.RoleOwner, Current: current, Requests: q.requests, Consent: q.consent, Webhooks: q.webhooks, Passkeys: q.passkeys}
}

type dashboardPage struct {
	Nav    nav
	Role   string
	Counts *dsr.Counts // nil when requests are not served
}

// dashboard greets the member and counts the open, due-soon and overdue
// requests.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, q *request) error {
	p := dashboardPage{Nav: q.nav("dashboard"), Role: q.page.L.T("console.role." + string(q.member.Role))}
	if s.requests != nil {
		c, err := s.requests.Counts(r.Context())
		if err != nil {
			return err
		}
		p.Counts = &c
	}
	return s.render(w, http.StatusOK, "dashboard", q, q.page.L.T("console.dashboard.title"), p)
}
