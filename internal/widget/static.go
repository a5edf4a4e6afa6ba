package widget

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

//go:embed static/widget.js
var scriptJS []byte

//go:embed static/widget.css
var styleCSS []byte

// The script's URL is fixed (hosts paste it into their pages), so it is
// served with a short cache lifetime and a strong ETag instead of a hashed
// name. Cross-Origin-Resource-Policy lets other sites load it.
func (w *Widget) script(rw http.ResponseWriter, r *http.Request) {
	serveAsset(rw, r, "text/javascript; charset=utf-8", scriptJS)
}

func (w *Widget) stylesheet(rw http.ResponseWriter, r *http.Request) {
	serveAsset(rw, r, "text/css; charset=utf-8", styleCSS)
}

func serveAsset(rw http.ResponseWriter, r *http.Request, ctype string, body []byte) {
	sum := sha256.Sum256(body)
	h := rw.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	// Public files without credentials: tools that read stylesheets from
	// script (accessibility checkers, some CSP setups) may fetch them.
	h.Set("Access-Control-Allow-Origin", "*")
	http.ServeContent(rw, r, "", time.Time{}, bytes.NewReader(body))
}

// gpcJSON is the GPC well-known resource: this site honours the signal.
func (w *Widget) gpcJSON(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Access-Control-Allow-Origin", "*")
	rw.Write([]byte(`{"gpc": true, "lastUpdate": "2026-11-28"}` + "\n"))
}
