package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
)

// consentActor is actor(r) as the consent register names it: the same key
// and declared purpose go into its audit events.
func consentActor(r *http.Request) consent.Actor {
	a := actor(r)
	return consent.Actor{Name: a.Name, Purpose: a.Purpose}
}

// purposeETag is the entity tag of a purpose: its updated_at in
// microseconds, the precision the register stores and compares. The
// register already guards updates with updated_at, so the tag needs no
// state of its own.
func purposeETag(p consent.Purpose) string {
	return `"` + strconv.FormatInt(p.UpdatedAt.UnixMicro(), 10) + `"`
}

// ifMatch reads the If-Match header of a purpose update and returns the
// updated_at it names, or the zero time for "*" (any current version,
// RFC 9110 13.1.1). The header is required: an update built on a stale
// read would silently undo someone else's change. gdprd has no 412 or 428
// code, so a missing or malformed header is invalid (400) and a stale one
// a conflict (409), as documented in docs/openapi.json.
func ifMatch(r *http.Request) (time.Time, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "*" {
		return time.Time{}, nil
	}
	if h == "" {
		return time.Time{}, &errcode.Error{Code: errcode.Invalid, Field: "If-Match",
			Message: "send the purpose's ETag in If-Match, so an update cannot undo a change you have not seen"}
	}
	if strings.HasPrefix(h, "W/") {
		// If-Match compares strongly: a weak tag never matches.
		return time.Time{}, errcode.E(errcode.Conflict, "If-Match needs the strong ETag of the purpose as last read")
	}
	inner, ok := strings.CutPrefix(h, `"`)
	if ok {
		inner, ok = strings.CutSuffix(inner, `"`)
	}
	micros, err := strconv.ParseInt(inner, 10, 64)
	if !ok || err != nil || micros <= 0 {
		return time.Time{}, &errcode.Error{Code: errcode.Invalid, Field: "If-Match",
			Message: "If-Match must be one ETag of the purpose, as GET answered it"}
	}
	return time.UnixMicro(micros).UTC(), nil
}
