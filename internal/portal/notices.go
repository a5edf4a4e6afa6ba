package portal

import (
	"net/http"
	"strconv"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
)

// acceptNotice records that the person read and accepted the version of a
// notice the page showed: an explicit tick of "I have read and accept"
// and the button, recorded as accept-notice with the version and the hash
// of its text. Without the tick nothing is recorded.
func (s *Server) acceptNotice(w http.ResponseWriter, r *http.Request, q *request) error {
	v, err := strconv.Atoi(r.PostFormValue("version"))
	if err != nil || v <= 0 {
		return errcode.E(errcode.Invalid, "notice version missing")
	}
	if r.PostFormValue("accept") != "yes" {
		return s.renderChoices(w, r, q, http.StatusBadRequest, "", q.page.L.T("portal.notices.tick"))
	}
	_, err = s.consent.Record(r.Context(), consent.Actor{Name: q.actor(), Purpose: "consent"}, consent.Request{
		SubjectID: q.subject(), Kind: consent.AcceptNotice, Notice: r.PathValue("notice"), NoticeVersion: v,
		NoticeSHA256: r.PostFormValue("sha256"), Channel: consent.Portal, Action: consent.Checkbox,
		IP: clientIP(r), UserAgent: userAgent(r)})
	switch {
	case err == nil:
	case errcode.Of(err) == errcode.Invalid:
		return s.renderChoices(w, r, q, http.StatusBadRequest, "", q.page.L.T("portal.notices.refused"))
	default:
		return err
	}
	s.redirect(w, r, q.page.Href(Prefix+"choices")+sep(q.page.Href(""))+"done=accept-notice")
	return nil
}
