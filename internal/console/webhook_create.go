package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
)

// webhookCreate adds an endpoint and shows its signing secret once. A new
// receiver of erasure notices gets people's identifiers, so this needs a
// fresh second factor (the route table says so); the webhook service
// audits it.
func (s *Server) webhookCreate(w http.ResponseWriter, r *http.Request, q *request) error {
	if s.webhooks == nil {
		return errcode.E(errcode.NotFound, "webhooks are not served here")
	}
	rawURL, events := r.PostFormValue("url"), r.PostFormValue("events")
	ep, secret, err := s.webhooks.CreateEndpoint(r.Context(), rawURL, words(events), q.actor())
	p, derr := s.webhookData(r, q)
	if derr != nil {
		return derr
	}
	status := http.StatusOK
	switch ce, ok := errcode.As(err); {
	case err == nil:
		p.Created, p.Secret = ep.URL, secret
	case ok && ce.Code == errcode.Invalid:
		status, p.URL, p.Events, p.Error = http.StatusBadRequest, rawURL, events, q.page.L.T("console.webhooks.invalid")
	default:
		return err
	}
	return s.render(w, status, "webhooks", q, q.page.L.T("console.webhooks.title"), p)
}
