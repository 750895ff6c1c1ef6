package codec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.temporal.io/sdk/converter"
)

// DefaultMaxBodyBytes bounds a codec server request: the UI sends a
// workflow's payloads in batches, each a few kilobytes.
const DefaultMaxBodyBytes = 4 << 20

// HandlerOptions configure the codec server.
type HandlerOptions struct {
	// Origins are the exact origins ("scheme://host[:port]") of the
	// Temporal UI that may call from a browser. A request from any other
	// origin is refused (403) and gets no CORS headers; a request with no
	// Origin header (the temporal CLI, tools) is no browser's and is judged
	// by Authorize alone.
	Origins []string
	// Namespaces are the Temporal namespaces this server decodes for: the
	// X-Namespace header the UI and CLI send must be one of them. Required.
	Namespaces []string
	// Authorize says whether a request may use the codec (401 when not).
	// It sees the request's cookies and Authorization header. Required.
	Authorize func(*http.Request) bool
	// MaxBodyBytes bounds the request body (413 beyond); 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// NewHandler serves c as a Temporal codec server: POST <prefix>/encode and
// <prefix>/decode with a JSON body {"payloads": [...]}, as the Temporal UI
// and `temporal --codec-endpoint` call it. It answers CORS only for
// opts.Origins (the preflight without authentication, as browsers send it),
// takes POST only, application/json only, bodies up to opts.MaxBodyBytes,
// the configured namespaces only, and authorized requests only.
func NewHandler(c converter.PayloadCodec, opts HandlerOptions) (http.Handler, error) {
	if c == nil {
		return nil, errors.New("codec: NewHandler: no codec")
	}
	if opts.Authorize == nil {
		return nil, errors.New("codec: NewHandler: Authorize is required: the codec server decrypts for whoever may call it")
	}
	h := &handler{codec: converter.NewPayloadCodecHTTPHandler(c), authorize: opts.Authorize, max: opts.MaxBodyBytes}
	if h.max <= 0 {
		h.max = DefaultMaxBodyBytes
	}
	for _, o := range opts.Origins {
		norm, err := NormalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		h.origins = append(h.origins, norm)
	}
	for _, ns := range opts.Namespaces {
		if ns = strings.TrimSpace(ns); ns != "" {
			h.namespaces = append(h.namespaces, ns)
		}
	}
	if len(h.namespaces) == 0 {
		return nil, errors.New("codec: NewHandler: Namespaces is required: the Temporal namespaces whose payloads this server decodes")
	}
	return h, nil
}

// NormalizeOrigin checks that o is an origin, scheme://host[:port] with
// nothing after it, and returns it as browsers send it (lower case, no
// trailing slash, no default port).
func NormalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(o), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("codec: UI origin %q must be http(s)://host[:port], like the Temporal UI's address", o)
	}
	host := strings.ToLower(u.Host)
	if (u.Scheme == "http" && strings.HasSuffix(host, ":80")) || (u.Scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return u.Scheme + "://" + host, nil
}

type handler struct {
	codec      http.Handler
	authorize  func(*http.Request) bool
	origins    []string
	namespaces []string
	max        int64
}

const allowHeaders = "Content-Type, X-Namespace, Authorization"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	hdr.Set("Cache-Control", "no-store")
	if origin := r.Header.Get("Origin"); origin != "" {
		if !slices.Contains(h.origins, origin) {
			http.Error(w, "codec server: origin "+strconv.Quote(clip(origin))+" is not allowed", http.StatusForbidden)
			return
		}
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Credentials", "true")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			// The preflight carries no credentials: answer it as is.
			hdr.Set("Access-Control-Allow-Methods", "POST")
			hdr.Set("Access-Control-Allow-Headers", allowHeaders)
			hdr.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if r.Method != http.MethodPost {
		hdr.Set("Allow", "POST, OPTIONS")
		http.Error(w, "codec server: POST only", http.StatusMethodNotAllowed)
		return
	}
	if op := path.Base(r.URL.Path); op != "encode" && op != "decode" {
		http.Error(w, "codec server: POST to .../encode or .../decode", http.StatusNotFound)
		return
	}
	if !h.authorize(r) {
		hdr.Set("WWW-Authenticate", `Bearer realm="codec"`)
		http.Error(w, "codec server: sign in to the web app in this browser, or send Authorization: Bearer <token> (orchestrator codec token)", http.StatusUnauthorized)
		return
	}
	ns := r.Header.Get("X-Namespace")
	if ns == "" {
		http.Error(w, "codec server: X-Namespace header required", http.StatusBadRequest)
		return
	}
	if !slices.Contains(h.namespaces, ns) {
		http.Error(w, "codec server: namespace "+strconv.Quote(clip(ns))+" is not served here", http.StatusForbidden)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		http.Error(w, "codec server: Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	if r.ContentLength > h.max {
		http.Error(w, fmt.Sprintf("codec server: body over %d bytes", h.max), http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("codec server: body over %d bytes", h.max), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "codec server: read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	h.codec.ServeHTTP(w, r)
}

func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
