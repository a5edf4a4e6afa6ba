// Package errcode gives gdprd's errors a stable, client-facing code and a
// message that is safe to show, while keeping the internal cause for logs.
// Capability packages return these; internal/web maps codes to HTTP
// statuses in exactly one place, so internal text never reaches a client.
package errcode

import (
	"errors"
	"fmt"
)

// Code is a stable machine-readable error code, part of the public API.
type Code string

const (
	Invalid        Code = "invalid"          // malformed or semantically wrong input
	NotFound       Code = "not_found"        // unknown, or erased, resource
	Conflict       Code = "conflict"         // would break a uniqueness rule
	Unprocessable  Code = "unprocessable"    // well-formed, but contradicts an earlier request (an idempotency key reused)
	Unauthorized   Code = "unauthorized"     // no valid credentials
	Forbidden      Code = "forbidden"        // credentials lack the right
	TooLarge       Code = "too_large"        // body over the limit
	Unsupported    Code = "unsupported_type" // wrong media type
	RateLimited    Code = "rate_limited"     // slow down
	Restricted     Code = "restricted"       // processing restricted (Art. 18)
	Gone           Code = "gone"             // used up or expired link
	Unavailable    Code = "unavailable"      // a dependency is down
	Internal       Code = "internal"         // anything else; details only in logs
	MethodNotAllow Code = "method_not_allowed"
)

// Error is an error with a code and a client-safe message.
type Error struct {
	Code    Code
	Message string // safe to show to the client
	Field   string // the input field at fault, when there is one
	Err     error  // internal cause, never shown to clients
}

func (e *Error) Error() string {
	msg := string(e.Code) + ": " + e.Message
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// E builds a coded error with a client-safe message.
func E(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Field builds an Invalid error about one input field.
func Field(field, format string, args ...any) error {
	return &Error{Code: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Wrap attaches a code and client message to an internal cause.
func Wrap(err error, code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// Of returns the code of err: the outermost coded error in its chain, or
// Internal when it has none.
func Of(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the coded error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
