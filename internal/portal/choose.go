package portal

import (
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
)

// maxUserAgent is the longest user agent kept as proof (the register's
// limit).
const maxUserAgent = 512

// kinds maps the one button a person presses to the record it makes.
var kinds = map[string]consent.Kind{"grant": consent.Grant, "withdraw": consent.Withdraw, "object": consent.Object}

// choose records one grant, withdrawal or objection from the portal, with
// the button as the affirmative action and the connection's address and
// user agent as proof. The register refuses what would not be valid
// (granting a purpose that is not consent-based, objecting where Art. 21
// gives no right, citing a notice version that is no longer current);
// the refusal is shown and nothing is written.
func (s *Server) choose(w http.ResponseWriter, r *http.Request, q *request) error {
	kind, ok := kinds[r.PostFormValue("action")]
	if !ok {
		return errcode.E(errcode.Invalid, "unknown action")
	}
	req := consent.Request{SubjectID: q.subject(), Kind: kind, Purpose: r.PathValue("purpose"),
		Channel: consent.Portal, Action: consent.Button, IP: clientIP(r), UserAgent: userAgent(r)}
	if kind == consent.Grant {
		v, err := strconv.Atoi(r.PostFormValue("notice_version"))
		if err != nil || v <= 0 {
			return errcode.E(errcode.Invalid, "notice version missing")
		}
		req.NoticeVersion, req.NoticeSHA256 = v, r.PostFormValue("notice_sha256")
	}
	_, err := s.consent.Record(r.Context(), consent.Actor{Name: q.actor(), Purpose: "consent"}, req)
	switch {
	case err == nil:
	case errcode.Of(err) == errcode.Invalid:
		return s.renderChoices(w, r, q, http.StatusBadRequest, "", q.page.L.T("portal.choices.refused"))
	default:
		return err
	}
	s.redirect(w, r, q.page.Href(Prefix+"choices")+sep(q.page.Href(""))+"done="+string(kind)+"#purpose-"+req.Purpose)
	return nil
}

// sep is the separator before another query parameter after href.
func sep(href string) string {
	if href == "" {
		return "?"
	}
	return "&"
}

// userAgent is the request's user agent cut to what the register keeps.
func userAgent(r *http.Request) string {
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
		for !utf8.ValidString(ua) {
			ua = ua[:len(ua)-1]
		}
	}
	return ua
}
