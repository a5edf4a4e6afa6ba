package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is a problem answered by the server (RFC 9457), or a non-2xx answer
// that was not one (then only Status, Title and perhaps RequestID are set).
type Error struct {
	Status     int
	Type       string
	Title      string
	Detail     string
	Code       string // stable machine-readable code, e.g. "not_found"
	Field      string // the input field at fault, when there is one
	RequestID  string // quote it to the operator to find the log line
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "gdprd: %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	if msg != "" {
		b.WriteString(": " + msg)
	}
	if e.Field != "" {
		b.WriteString(" (field " + e.Field + ")")
	}
	if e.RequestID != "" {
		b.WriteString(" [request " + e.RequestID + "]")
	}
	return b.String()
}

// parseError builds the Error of a non-2xx answer. It never fails: a body
// that is not a problem still yields the status.
func parseError(resp *http.Response) *Error {
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && mt == "application/problem+json" {
		var p struct {
			Type      string `json:"type"`
			Title     string `json:"title"`
			Detail    string `json:"detail"`
			Code      string `json:"code"`
			Field     string `json:"field"`
			RequestID string `json:"request_id"`
		}
		if json.NewDecoder(io.LimitReader(resp.Body, maxProblemBytes)).Decode(&p) == nil {
			e.Type, e.Title, e.Detail, e.Code, e.Field = p.Type, p.Title, p.Detail, p.Code, p.Field
			if p.RequestID != "" {
				e.RequestID = p.RequestID
			}
		}
	}
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Code returns the problem code of err ("" when err is not a *Error).
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsNotFound reports whether err is the server's answer that the resource
// does not exist (or was erased: the two cannot be told apart).
func IsNotFound(err error) bool { return is(err, "not_found", http.StatusNotFound) }

// IsConflict reports whether err is a uniqueness conflict, such as a
// duplicate identifier.
func IsConflict(err error) bool { return is(err, "conflict", http.StatusConflict) }

// is matches on the code, which is the contract; the status is the
// fallback for answers that carry no problem body.
func is(err error, code string, status int) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.Code != "" {
		return e.Code == code
	}
	return e.Status == status
}
