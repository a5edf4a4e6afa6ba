package web

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// SetRateLimited sets the headers of a 429 answer: Retry-After (RFC 9110)
// in whole seconds, and the RateLimit-Policy and RateLimit fields of the
// IETF httpapi rate-limit headers draft, naming the quota and window that
// refused and when it frees up.
func SetRateLimited(w http.ResponseWriter, retry time.Duration, limit int, window time.Duration) {
	secs := int(math.Ceil(retry.Seconds()))
	if secs < 1 {
		secs = 1
	}
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(secs))
	h.Set("RateLimit-Policy", fmt.Sprintf(`"signin";q=%d;w=%d`, limit, int(window.Seconds())))
	h.Set("RateLimit", fmt.Sprintf(`"signin";r=0;t=%d`, secs))
}
