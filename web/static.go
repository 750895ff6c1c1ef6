package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// staticFS holds the operations view's scripts: the vendored Chart.js
// (static/vendor/chartjs, see its README) and ops.js. Nothing else under
// static/ is served.
//
//go:embed static/*.js static/vendor/chartjs/*.js
var staticFS embed.FS

// staticTypes are the content types of what /static/ serves, by extension;
// set here, not from the system's MIME table, so nosniff never blocks them.
var staticTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

// staticAssets serves the embedded files at /static/. A URL carrying the
// file's version (url) is cached for a year; without it, for five minutes.
type staticAssets struct {
	files map[string]staticFile // by path under static/
}

type staticFile struct {
	body    []byte
	version string // first 16 hex digits of its SHA-256
}

func loadStaticAssets() (*staticAssets, error) {
	a := &staticAssets{files: map[string]staticFile{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if _, ok := staticTypes[path.Ext(p)]; !ok {
			return nil
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a.files[strings.TrimPrefix(p, "static/")] = staticFile{body: b, version: hex.EncodeToString(sum[:8])}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: load static files: %w", err)
	}
	return a, nil
}

// url is where a page loads name (a path under static/) from, with its
// version, so a new build is never served from an old cache.
func (a *staticAssets) url(name string) string {
	f, ok := a.files[name]
	if !ok {
		return "/static/" + name
	}
	return "/static/" + name + "?v=" + f.version
}

func (a *staticAssets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	f, ok := a.files[name]
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", staticTypes[path.Ext(name)])
	h.Set("X-Content-Type-Options", "nosniff")
	if v := r.URL.Query().Get("v"); v == f.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	h.Set("ETag", `"`+f.version+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
