package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// StaticPrefix is where the static files are served. Their names carry a
// hash of their content (app.3f9a1c0b2d4e5f60.css), so a URL never changes
// meaning and browsers may cache it for a year: a new release has new URLs.
const StaticPrefix = "/static/"

// hashLen is the number of hex digits of the SHA-256 kept in a name: 64
// bits, plenty to tell versions of a handful of files apart.
const hashLen = 16

type asset struct {
	name   string // app.css
	hashed string // app.<hash>.css
	ctype  string
	body   []byte
	etag   string
}

// Assets serves the static files under content-hashed names.
type Assets struct {
	byName   map[string]*asset
	byHashed map[string]*asset
}

func newAssets(fsys fs.FS) (*Assets, error) {
	a := &Assets{byName: map[string]*asset{}, byHashed: map[string]*asset{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		ext := path.Ext(p)
		ctype := contentType(ext)
		if ctype == "" {
			return fmt.Errorf("ui: no content type for static file %s", p)
		}
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:])[:hashLen]
		as := &asset{name: p, hashed: strings.TrimSuffix(p, ext) + "." + h + ext, ctype: ctype, body: body, etag: `"` + h + `"`}
		a.byName[as.name], a.byHashed[as.hashed] = as, as
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// URL returns the content-hashed URL of a static file ("app.css"). An
// unknown name is an error, so a template naming a missing file fails in
// tests instead of linking to a 404.
func (a *Assets) URL(name string) (string, error) {
	as, ok := a.byName[name]
	if !ok {
		return "", fmt.Errorf("ui: no static file %q", name)
	}
	return StaticPrefix + as.hashed, nil
}

// ServeHTTP answers GET and HEAD for hashed names only. A stale or made-up
// hash is a 404, never the current file: serving new content under an old
// immutable URL would pin it in caches under the wrong name.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	as, ok := a.byHashed[strings.TrimPrefix(r.URL.Path, StaticPrefix)]
	if !ok || !strings.HasPrefix(r.URL.Path, StaticPrefix) {
		w.Header().Set("Cache-Control", "no-store")
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", as.ctype)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", as.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(as.body))
}

// contentType is the type of each kind of static file, fixed here rather
// than read from the system's MIME tables, which differ between hosts.
func contentType(ext string) string {
	switch ext {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".woff2":
		return "font/woff2"
	}
	return ""
}
