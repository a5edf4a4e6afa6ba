package console

import (
	"net/http"
	"strconv"

	"github.com/gdprd/gdprd/internal/errcode"
)

// noticePublish publishes a draft version: it becomes current, and when
// it is a material change people are asked to accept it again.
func (s *Server) noticePublish(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needConsent(); err != nil {
		return err
	}
	v, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || v < 1 {
		return errcode.E(errcode.NotFound, "no such version")
	}
	_, err = s.consent.PublishNotice(r.Context(), q.consentActor(), r.PathValue("slug"), v)
	if ce, ok := errcode.As(err); ok && (ce.Code == errcode.Conflict || ce.Code == errcode.Invalid) {
		return s.showNotice(w, r, q, web400or409(ce), noticePage{Error: q.page.L.T("console.notice.err.publish")})
	}
	if err != nil {
		return err
	}
	s.redirect(w, r, Prefix+"consent/notices/"+r.PathValue("slug"))
	return nil
}
