// Package web holds what every HTTP surface of gdprd shares: RFC 9457
// problem responses with the one table that maps error codes to statuses,
// strict JSON decoding, and small single-purpose middlewares.
package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
)

// statusOf is the only place where an error code becomes an HTTP status.
var statusOf = map[errcode.Code]int{
	errcode.Invalid:        http.StatusBadRequest,
	errcode.NotFound:       http.StatusNotFound,
	errcode.Conflict:       http.StatusConflict,
	errcode.Unprocessable:  http.StatusUnprocessableEntity,
	errcode.Unauthorized:   http.StatusUnauthorized,
	errcode.Forbidden:      http.StatusForbidden,
	errcode.TooLarge:       http.StatusRequestEntityTooLarge,
	errcode.Unsupported:    http.StatusUnsupportedMediaType,
	errcode.RateLimited:    http.StatusTooManyRequests,
	errcode.Restricted:     http.StatusLocked,
	errcode.Gone:           http.StatusGone,
	errcode.Unavailable:    http.StatusServiceUnavailable,
	errcode.Internal:       http.StatusInternalServerError,
	errcode.MethodNotAllow: http.StatusMethodNotAllowed,
}

// Status returns the HTTP status for an error.
func Status(err error) int {
	if s, ok := statusOf[errcode.Of(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem details object with gdprd's stable code.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Code      string `json:"code"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// ProblemTypeBase prefixes the type URI of every problem; the URI names the
// code and is documented in docs/openapi.json.
const ProblemTypeBase = "https://gdprd.dev/problems/"

// WriteError answers err as problem+json. Coded errors show their
// client-safe message; anything else is logged and answered as a bare 500,
// so internal text never reaches the client.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := errcode.Of(err)
	status := Status(err)
	p := Problem{
		Type: ProblemTypeBase + string(code), Title: http.StatusText(status), Status: status,
		Code: string(code), RequestID: RequestID(r.Context()),
	}
	if e, ok := errcode.As(err); ok && code != errcode.Internal {
		p.Detail, p.Field = e.Message, e.Field
	}
	if status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "request_id", p.RequestID, "code", code, "err", err)
		if p.Detail == "" {
			p.Detail = "Something went wrong on our side. The request ID helps the operator find out what."
		}
	}
	if errors.Is(err, errTooLarge) {
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

// WriteJSON answers v as JSON. Responses may carry personal data, so they
// are never cached (ASVS 14.3).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
