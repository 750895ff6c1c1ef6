package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"

	"github.com/execution-orchestrator/orchestrator/codec"
)

// CodecPath is where the codec server is mounted: the Temporal UI's codec
// endpoint is <BaseURL>/codec, and it calls /codec/encode and /codec/decode.
const CodecPath = "/codec"

// maxCodecRequestBytes bounds a codec request (the UI batches payloads).
const maxCodecRequestBytes = codec.DefaultMaxBodyBytes

// CodecConfig configures the codec server for the Temporal UI and tools:
// it decrypts the payloads in Temporal's history for people signed in to
// this app (their session cookie, sent by the UI with "include cross-origin
// credentials" on) and for holders of a bearer token (the temporal CLI's
// --codec-auth). See docs/codec.md.
type CodecConfig struct {
	// Codec encrypts and decrypts (codec.NewCodec of the keyring the
	// worker uses). Required.
	Codec converter.PayloadCodec
	// UIOrigins are the Temporal UI's origins, e.g. http://127.0.0.1:8233:
	// the only pages a browser may call the codec server from.
	UIOrigins []string
	// Namespaces are the Temporal namespaces served (the X-Namespace the
	// UI and CLI send). Required.
	Namespaces []string
	// Roles, when set, limit the codec to people holding one of them;
	// nil admits every person of the directory. Field workers never.
	Roles []string
	// Tokens checks "Authorization: Bearer <token>" (a *codec.Tokens: only
	// hashes are stored, compared in constant time); nil admits no token.
	Tokens TokenChecker
}

// TokenChecker says whether a bearer token is valid (*codec.Tokens).
type TokenChecker interface {
	Valid(token string) bool
}

// codecHandler is the codec server, or nil when cfg is nil.
func (s *Server) codecHandler(cfg *CodecConfig) (http.Handler, error) {
	if cfg == nil {
		return nil, nil
	}
	if cfg.Codec == nil {
		return nil, errors.New("web: Config.Codec.Codec is required: the payload codec of the worker's keyring")
	}
	c := *cfg
	c.Roles = slices.Clone(cfg.Roles)
	h, err := codec.NewHandler(c.Codec, codec.HandlerOptions{
		Origins:      c.UIOrigins,
		Namespaces:   c.Namespaces,
		Authorize:    func(r *http.Request) bool { return s.codecAuthorized(&c, r) },
		MaxBodyBytes: maxCodecRequestBytes,
	})
	if err != nil {
		return nil, errors.New("web: Config.Codec: " + strings.TrimPrefix(err.Error(), "codec: "))
	}
	return h, nil
}

// codecAuthorized admits a valid bearer token, or else a person of the
// directory signed in here (with one of cfg.Roles, when set). A field
// worker's session is sealed for another purpose and never passes as a
// person's. A request that shows a bearer token is judged by it alone.
func (s *Server) codecAuthorized(cfg *CodecConfig, r *http.Request) bool {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		ok = ok && strings.EqualFold(scheme, "Bearer") && cfg.Tokens != nil && cfg.Tokens.Valid(strings.TrimSpace(token))
		if !ok {
			s.log.Info("codec server: bearer token refused", "path", r.URL.Path)
		}
		return ok
	}
	me, ok := s.auth.Person(r)
	if !ok {
		return false
	}
	if len(cfg.Roles) > 0 && !slices.ContainsFunc(cfg.Roles, func(role string) bool { return s.dir.HasRole(me, role) }) {
		s.log.Info("codec server: person lacks the codec roles", "person", me)
		return false
	}
	s.log.Debug("codec server", "person", me, "path", r.URL.Path)
	return true
}

// isCodecPath reports whether a request is for the codec server.
func isCodecPath(path string) bool { return strings.HasPrefix(path, CodecPath+"/") }
