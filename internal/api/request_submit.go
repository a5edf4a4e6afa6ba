package api

import (
	"net/http"
	"time"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// requestInput is the body of POST /requests: the host application submits
// a request on the person's behalf. "categories" is a shorthand for
// details.categories (what an erasure covers); giving both is refused.
type requestInput struct {
	SubjectID  string       `json:"subject_id"`
	Kind       dsr.Kind     `json:"kind"`
	Categories []string     `json:"categories"`
	Details    *dsr.Details `json:"details"`
	// ReceivedAt back-dates a request the host application received
	// earlier (it counts from when it reached an official channel).
	ReceivedAt *time.Time `json:"received_at"`
}

// IdempotencyKeyHeader is the header of draft-ietf-httpapi-idempotency-key-header.
const IdempotencyKeyHeader = "Idempotency-Key"

// requestSubmit answers POST /requests. The Idempotency-Key header is
// required, since a retried submission must not become a second request:
//   - a new request: 201 Created with the request and its Location;
//   - a duplicate of an open request of the same person and kind: it is
//     merged into that request (dsr.Service.Submit), and the answer is
//     200 OK with the existing request, "merged": true and its Location,
//     because nothing was created;
//   - a retry with the same key and body: the first answer again (201 or
//     200), with Idempotent-Replayed: true, and nothing written;
//   - the key reused with a different body: 422 (as the draft says), and
//     nothing written;
//   - no key: 400.
func (s *Server) requestSubmit(w http.ResponseWriter, r *http.Request) error {
	key := r.Header.Get(IdempotencyKeyHeader)
	if key == "" {
		return &errcode.Error{Code: errcode.Invalid, Field: IdempotencyKeyHeader,
			Message: "an Idempotency-Key header is required, so that a retried submission is not taken as a second request"}
	}
	var in requestInput
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	var d dsr.Details
	if in.Details != nil {
		d = *in.Details
	}
	if len(in.Categories) > 0 {
		if len(d.Categories) > 0 {
			return errcode.Field("categories", "give the categories once: either categories or details.categories")
		}
		d.Categories = in.Categories
	}
	n := dsr.NewRequest{SubjectID: in.SubjectID, Kind: in.Kind, Channel: dsr.API, Details: d, IdempotencyKey: key}
	if in.ReceivedAt != nil {
		n.ReceivedAt = *in.ReceivedAt
	}
	out, err := s.Requests.Submit(r.Context(), dsrActor(r), n)
	if e, ok := errcode.As(err); ok && e.Code == errcode.Conflict && e.Field == "idempotency_key" {
		return &errcode.Error{Code: errcode.Unprocessable, Field: IdempotencyKeyHeader, Message: e.Message}
	}
	if err != nil {
		return err
	}
	if out.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", Prefix+"/requests/"+out.ID)
	status := http.StatusCreated
	if out.Merged {
		status = http.StatusOK
	}
	web.WriteJSON(w, status, out)
	return nil
}
