package api

import (
	"context"
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/mail"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
	"github.com/gdprd/gdprd/internal/web"
)

// restrictionInput is the body of POST /subjects/{id}/restriction.
type restrictionInput struct {
	Restricted *bool  `json:"restricted"`
	Reason     string `json:"reason"`
	// NotifiedBy is how the person was told before the lifting, for a
	// person without an e-mail address.
	NotifiedBy string `json:"notified_by"`
	// Language of the notice mailed before the lifting; en by default.
	Language string `json:"language"`
}

// restrictionLiftedMail is the kind of the notice that a restriction ends.
const restrictionLiftedMail = "subject.restriction-lifted"

// subjectRestriction answers POST /subjects/{id}/restriction: it restricts
// a subject's processing (Art. 18) or lifts the restriction, telling the
// person first by e-mail through the outbox (Art. 18(3)).
func (s *Server) subjectRestriction(w http.ResponseWriter, r *http.Request) error {
	var in restrictionInput
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Restricted == nil {
		return errcode.Field("restricted", "say restricted: true to restrict the processing, false to lift the restriction")
	}
	lang := in.Language
	if lang == "" {
		lang = "en"
	}
	if s.Catalog != nil && !s.Catalog.Supported(lang) {
		return errcode.Field("language", "unsupported language")
	}
	res := vault.Restriction{Restricted: *in.Restricted, Reason: in.Reason, NotifiedBy: in.NotifiedBy}
	if s.Outbox != nil && s.Catalog != nil {
		l := s.Catalog.Localizer(lang)
		res.Notify = func(ctx context.Context, tx *sqlstore.Tx, email string) error {
			_, err := s.Outbox.Queue(ctx, tx, mail.Message{Kind: restrictionLiftedMail, To: email,
				Subject: l.T("mail.restriction-lifted.subject"), Text: l.T("mail.restriction-lifted.text")})
			return err
		}
	}
	out, err := s.Vault.SetRestriction(r.Context(), actor(r), r.PathValue("id"), res)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, out)
	return nil
}
