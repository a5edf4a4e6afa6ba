package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/vault"
	"github.com/gdprd/gdprd/internal/web"
)

// exportInput is the body of POST /subjects/{id}/exports.
type exportInput struct {
	// Kind is "access" (Art. 15, the default) or "export" (Art. 20).
	Kind export.Kind `json:"kind"`
	// Recipient, when set, is the person's age public key: the package is
	// encrypted to it.
	Recipient string `json:"recipient"`
}

// exportLink is the answer: where to fetch the package, once, and until
// when.
type exportLink struct {
	URL       string      `json:"url"`
	ExpiresAt time.Time   `json:"expires_at"`
	Kind      export.Kind `json:"kind"`
}

// exportCreate answers POST /subjects/{id}/exports with a signed,
// single-use, expiring link to the person's package, for exports started
// by staff or the host application: the package is built when the link is
// used, never handed out here.
func (s *Server) exportCreate(w http.ResponseWriter, r *http.Request) error {
	var in exportInput
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Kind == "" {
		in.Kind = export.Access
	}
	l, err := s.Exports.CreateLink(r.Context(), vault.Actor{Name: caller(r).Actor(), Purpose: "dsr"}, r.PathValue("id"), in.Kind, export.Encryption{Recipient: in.Recipient})
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusCreated, exportLink{
		URL: strings.TrimSuffix(s.PublicURL, "/") + export.DownloadPrefix + l.Token, ExpiresAt: l.ExpiresAt, Kind: l.Kind,
	})
	return nil
}
