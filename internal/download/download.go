// Package download serves the signed, single-use download links of access
// and portability packages (GET /download/{token}) on the server root: the
// link is the credential, so the route takes no API key and no session,
// and its token never reaches the access log (which logs route patterns).
package download

import (
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/web"
)

// streamTimeout bounds the time a download may take, past the server's
// WriteTimeout, for large packages on slow connections.
const streamTimeout = 30 * time.Minute

// Handler returns the download surface with its middleware chain: the
// API's headers (nothing sniffed, framed or cached) and problem+json
// errors. A used or expired link is 410, an unknown or tampered one 404.
func Handler(exp *export.Exporter, log *slog.Logger, m *web.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+export.DownloadPrefix+"{token}", func(w http.ResponseWriter, r *http.Request) {
		serve(exp, log, w, r)
	})
	mux.HandleFunc(export.DownloadPrefix, func(w http.ResponseWriter, r *http.Request) {
		web.WriteError(w, r, log, errcode.E(errcode.NotFound, "no such download link"))
	})
	return web.Chain(mux, web.WithRequestID, web.AccessLog(log, m), web.Recover(log), web.APIHeaders)
}

func serve(exp *export.Exporter, log *slog.Logger, w http.ResponseWriter, r *http.Request) {
	// A GET pattern also matches HEAD, which must not use the link up.
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		web.WriteError(w, r, log, errcode.E(errcode.MethodNotAllow, "download links answer GET only"))
		return
	}
	p, err := exp.Download(r.Context(), r.PathValue("token"))
	if err != nil {
		web.WriteError(w, r, log, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", p.ContentType())
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": p.Filename()}))
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Now().Add(streamTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		log.ErrorContext(r.Context(), "download: extend write deadline", "request_id", web.RequestID(r.Context()), "err", err)
	}
	w.WriteHeader(http.StatusOK)
	if err := p.Stream(w); err != nil {
		// The status is sent: abort the connection so the client sees a
		// truncated body, never an archive that looks complete.
		if r.Context().Err() == nil {
			log.ErrorContext(r.Context(), "download cut short", "request_id", web.RequestID(r.Context()), "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}
