package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

const (
	// streamFlushEvery is how many lines go out per flush: often enough
	// that the receiver starts work at once and the server holds little,
	// rarely enough that a million ids do not cost a million syscalls.
	streamFlushEvery = 512
	// streamWriteTimeout is how long one flush may wait for a slow reader.
	// Each flush extends the write deadline, so a long stream is not cut
	// by the server's WriteTimeout while a stalled reader still is.
	streamWriteTimeout = 30 * time.Second
)

// subjectLine is one line of the stream.
type subjectLine struct {
	SubjectID string `json:"subject_id"`
}

// purposeSubjects streams, as newline-delimited JSON, the id of every
// subject who may be processed for the purpose now (the same answer as the
// consent check), for sending a newsletter to exactly the people who
// agreed. The register pages through the ids and this handler flushes as
// it goes, so memory stays constant however many subjects there are.
//
// Errors before the first line are problems as usual. After it the status
// is sent, so a failure aborts the connection instead: the receiver sees a
// truncated chunked body rather than a list that looks complete.
func (s *Server) purposeSubjects(w http.ResponseWriter, r *http.Request) error {
	if v := r.URL.Query()["allowed"]; len(v) != 1 || v[0] != "true" {
		return &errcode.Error{Code: errcode.Invalid, Field: "allowed",
			Message: "send allowed=true: the stream lists the subjects who may be processed for the purpose, and nothing else"}
	}
	purpose := r.PathValue("purpose")
	w.Header().Set("Content-Type", "application/x-ndjson")
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	started, lines := false, 0
	flush := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return rc.Flush()
	}
	err := s.Consent.SubjectsAllowed(r.Context(), purpose, func(id string) error {
		if !started {
			started = true
			w.WriteHeader(http.StatusOK)
		}
		if err := enc.Encode(subjectLine{SubjectID: id}); err != nil {
			return err
		}
		if lines++; lines%streamFlushEvery == 0 {
			return flush()
		}
		return nil
	})
	if err != nil && !started {
		return err
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		if r.Context().Err() == nil {
			s.Log.ErrorContext(r.Context(), "subject stream cut short", "request_id", web.RequestID(r.Context()),
				"route", r.Pattern, "lines", lines, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}
