package console

import (
	"net/http"
	"strings"

	"github.com/gdprd/gdprd/internal/errcode"
)

type endpointRow struct {
	ID, URL, Events, Created, Disabled string
}

type deliveryRow struct {
	Event, Endpoint, State, Updated, LastError string
	Attempts, LastStatus                       int
}

type webhooksPage struct {
	Nav        nav
	Endpoints  []endpointRow
	Deliveries []deliveryRow
	Manage     bool // the member may create and disable endpoints
	// After a creation: the endpoint and its secret, shown once.
	Created, Secret string
	// Echoed after a refusal.
	URL, Events, Error string
}

// webhookList shows the endpoints and the newest deliveries with their
// status; owners also get the forms to add and disable endpoints.
func (s *Server) webhookList(w http.ResponseWriter, r *http.Request, q *request) error {
	p, err := s.webhookData(r, q)
	if err != nil {
		return err
	}
	return s.render(w, http.StatusOK, "webhooks", q, q.page.L.T("console.webhooks.title"), p)
}

func (s *Server) webhookData(r *http.Request, q *request) (webhooksPage, error) {
	if s.webhooks == nil {
		return webhooksPage{}, errcode.E(errcode.NotFound, "webhooks are not served here")
	}
	eps, err := s.webhooks.Endpoints(r.Context())
	if err != nil {
		return webhooksPage{}, err
	}
	p := webhooksPage{Nav: q.nav("webhooks"), Manage: q.member.Role == "owner"}
	urls := map[string]string{}
	for _, ep := range eps {
		row := endpointRow{ID: ep.ID, URL: ep.URL, Events: strings.Join(ep.Events, ", "), Created: stamp(ep.CreatedAt)}
		if ep.DisabledAt != nil {
			row.Disabled = stamp(*ep.DisabledAt)
		}
		urls[ep.ID] = ep.URL
		p.Endpoints = append(p.Endpoints, row)
	}
	ds, err := s.webhooks.Deliveries(r.Context(), "", "", 50)
	if err != nil {
		return webhooksPage{}, err
	}
	for _, d := range ds {
		p.Deliveries = append(p.Deliveries, deliveryRow{Event: d.Event, Endpoint: urls[d.EndpointID], State: d.State,
			Updated: stamp(d.UpdatedAt), LastError: d.LastError, Attempts: d.Attempts, LastStatus: d.LastStatus})
	}
	return p, nil
}
