// Package static embeds Mayfly's built CSS and JavaScript (static/dist, built
// from static/src by `npm run build`) and serves them under content-hashed
// URLs, so browsers may cache them forever: a new build gets new URLs.
package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// Prefix is the URL path under which Handler serves the assets.
const Prefix = "/static/"

//go:embed dist/*
var dist embed.FS

// asset is one embedded file.
type asset struct {
	name        string // as built: "app.css"
	hashedName  string // as served: "app.3f9a1c2b.css"
	body        []byte
	contentType string
	etag        string
}

var (
	byName       map[string]*asset // "app.css" -> asset
	byHashedName map[string]*asset // "app.3f9a1c2b.css" -> asset
)

// Hashes are computed once, at start-up: the files cannot change while the
// binary runs.
func init() {
	var err error
	byName, byHashedName, err = load(dist, "dist")
	if err != nil {
		panic(err)
	}
}

func load(fsys fs.FS, dir string) (map[string]*asset, map[string]*asset, error) {
	names := map[string]*asset{}
	hashed := map[string]*asset{}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, nil, fmt.Errorf("static: read %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, fmt.Errorf("static: read %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:])[:8]
		a := &asset{
			name:        e.Name(),
			hashedName:  hashedName(e.Name(), hash),
			body:        body,
			contentType: contentType(e.Name()),
			etag:        `"` + hash + `"`,
		}
		names[a.name] = a
		hashed[a.hashedName] = a
	}
	return names, hashed, nil
}

// hashedName puts the hash before the last extension:
// "app.css" -> "app.3f9a1c2b.css", "htmx.min.js" -> "htmx.min.3f9a1c2b.js".
func hashedName(name, hash string) string {
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hash + ext
}

// contentType does not depend on the host's mime.types, so every machine
// serves the same headers.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	case ".woff2":
		return "font/woff2"
	case ".json", ".map":
		return "application/json"
	case ".webmanifest":
		return "application/manifest+json"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// URL returns the content-hashed URL of a built asset, such as
// "/static/app.3f9a1c2b.css" for "app.css". An unknown name gives
// "/static/<name>", which Handler answers with 404 (and tests notice).
func URL(name string) string {
	if a, ok := byName[name]; ok {
		return Prefix + a.hashedName
	}
	return Prefix + name
}

// Names lists the embedded assets by their built names, sorted.
func Names() []string {
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Handler serves the assets at the URLs URL returns, with a one-year,
// immutable cache lifetime. Unknown names and stale hashes get 404: an old
// page asking for a previous build's file must not be given (and cache) the
// new one under the old name. It accepts the full path ("/static/app.<hash>.css")
// as well as one with the prefix already stripped.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

// epoch is the modification time given to http.ServeContent: the embedded
// files have none, and a fixed one keeps responses identical across builds.
var epoch = time.Unix(0, 0).UTC()

func serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, Prefix), "/")
	a, ok := byHashedName[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, a.hashedName, epoch, bytes.NewReader(a.body))
}
