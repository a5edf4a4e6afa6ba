package api

import (
	"net/http"
	"strconv"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// versionParam reads the {version} of a notice path. A value that is not
// a positive number names no version, so it is a 404 like an unknown one.
func versionParam(r *http.Request) (int, error) {
	n, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || n < 1 {
		return 0, errcode.E(errcode.NotFound, "no such notice version: versions are numbered from 1")
	}
	return n, nil
}

// noticeGet answers one version of a notice with its body and hash: the
// text the host application shows before asking for consent, and the
// hash it may quote back when recording it.
func (s *Server) noticeGet(w http.ResponseWriter, r *http.Request) error {
	n, err := versionParam(r)
	if err != nil {
		return err
	}
	v, err := s.Consent.NoticeVersion(r.Context(), r.PathValue("slug"), n)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, v)
	return nil
}
