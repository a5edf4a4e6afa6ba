package portal

import (
	"net/http"
	"sort"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/vault"
)

// homePage is "My data": every field held, per category, and the
// Art. 15(1)(a)-(h) information.
type homePage struct {
	Frame      frame
	Level      string // how the person signed in
	Account    []field
	Categories []categoryData
	Info       export.Information
	// ExportError is set when a download could not start (a passphrase
	// too short, say).
	ExportError string
}

type field struct{ Name, Value string }

type categoryData struct {
	Name, Description string
	Fields            []field
}

// home shows the person's data. The vault read is audited under the
// purpose dsr-access as the person's own.
func (s *Server) home(w http.ResponseWriter, r *http.Request, q *request) error {
	return s.renderHome(w, r, q, http.StatusOK, "")
}

func (s *Server) renderHome(w http.ResponseWriter, r *http.Request, q *request, status int, exportError string) error {
	ov, err := s.exports.Overview(r.Context(), vault.Actor{Name: q.actor()}, q.subject())
	if errcode.Of(err) == errcode.NotFound {
		return s.gone(w, r, q)
	}
	if err != nil {
		return err
	}
	f, err := s.frame(r.Context(), q, "home")
	if err != nil {
		return err
	}
	l := q.page.L
	p := homePage{Frame: f, Level: l.T("portal.level." + q.sess.Level), Info: ov.Information, ExportError: exportError}
	subj := ov.Subject
	for _, id := range []field{{"portal.field.email", subj.Email}, {"portal.field.phone", subj.Phone}, {"portal.field.external_id", subj.ExternalID}} {
		if id.Value != "" {
			p.Account = append(p.Account, field{Name: l.T(id.Name), Value: id.Value})
		}
	}
	p.Account = append(p.Account, field{Name: l.T("portal.field.created"), Value: l.Date(subj.CreatedAt)})
	described := map[string]string{}
	for _, c := range ov.Categories {
		described[c.Name] = c.Description
	}
	names := make([]string, 0, len(subj.Data))
	for c := range subj.Data {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		cd := categoryData{Name: c, Description: described[c]}
		if err := export.Flatten(subj.Data[c], func(name, value string) error {
			cd.Fields = append(cd.Fields, field{Name: name, Value: value})
			return nil
		}); err != nil {
			return err
		}
		p.Categories = append(p.Categories, cd)
	}
	return s.render(w, status, "home", q, l.T("portal.home.title"), p)
}
