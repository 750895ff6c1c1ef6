package codec

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

const uiOrigin = "http://127.0.0.1:8233"

func newHandler(t *testing.T, k *Keyring, authorized *bool) http.Handler {
	t.Helper()
	h, err := NewHandler(NewCodec(k), HandlerOptions{
		Origins:      []string{uiOrigin + "/"},
		Namespaces:   []string{"default"},
		Authorize:    func(*http.Request) bool { return *authorized },
		MaxBodyBytes: 64 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func payloadsJSON(t *testing.T, ps ...*commonpb.Payload) []byte {
	t.Helper()
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func codecRequest(method, path, origin string, body []byte) *http.Request {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Namespace", "default")
	return r
}

func TestHandler(t *testing.T) {
	k := ring(t)
	authorized := true
	h := newHandler(t, k, &authorized)
	sealed, err := NewCodec(k).Encode([]*commonpb.Payload{plainPayload(t, secretInvoice)})
	if err != nil {
		t.Fatal(err)
	}
	body := payloadsJSON(t, sealed...)

	t.Run("preflight of the UI's origin, without credentials", func(t *testing.T) {
		authorized = false
		defer func() { authorized = true }()
		r := codecRequest(http.MethodOptions, "/codec/decode", uiOrigin, nil)
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent {
			t.Fatalf("preflight: %d %s", w.Code, w.Body)
		}
		for k, want := range map[string]string{
			"Access-Control-Allow-Origin":      uiOrigin,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods":     "POST",
			"Access-Control-Allow-Headers":     "Content-Type, X-Namespace, Authorization",
		} {
			if got := w.Header().Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
	})

	t.Run("decode for the UI", func(t *testing.T) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, codecRequest(http.MethodPost, "/codec/decode", uiOrigin, body))
		if w.Code != http.StatusOK {
			t.Fatalf("decode: %d %s", w.Code, w.Body)
		}
		if w.Header().Get("Access-Control-Allow-Origin") != uiOrigin {
			t.Errorf("no CORS header for the UI's origin: %v", w.Header())
		}
		var got struct {
			Payloads []struct {
				Metadata map[string][]byte `json:"metadata"`
				Data     []byte            `json:"data"`
			} `json:"payloads"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Payloads) != 1 || string(got.Payloads[0].Metadata["encoding"]) != "json/plain" ||
			!strings.Contains(string(got.Payloads[0].Data), "DE89370400440532013000") {
			t.Fatalf("decoded %s", w.Body)
		}
	})

	t.Run("encode for the CLI (no origin)", func(t *testing.T) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, codecRequest(http.MethodPost, "/codec/encode", "", payloadsJSON(t, plainPayload(t, secretInvoice))))
		if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "INV-1042") || !strings.Contains(w.Body.String(), "YmluYXJ5L2VuY3J5cHRlZA") {
			t.Fatalf("encode: %d %s", w.Code, w.Body)
		}
		if w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Error("CORS headers without an Origin")
		}
	})

	refusals := []struct {
		name   string
		req    func() *http.Request
		unauth bool
		code   int
	}{
		{"another origin", func() *http.Request {
			return codecRequest(http.MethodPost, "/codec/decode", "http://evil.example", body)
		}, false, http.StatusForbidden},
		{"another origin's preflight", func() *http.Request {
			r := codecRequest(http.MethodOptions, "/codec/decode", "http://127.0.0.1:9999", nil)
			r.Header.Set("Access-Control-Request-Method", "POST")
			return r
		}, false, http.StatusForbidden},
		{"null origin", func() *http.Request { return codecRequest(http.MethodPost, "/codec/decode", "null", body) }, false, http.StatusForbidden},
		{"not authorized", func() *http.Request { return codecRequest(http.MethodPost, "/codec/decode", uiOrigin, body) }, true, http.StatusUnauthorized},
		{"not authorized, no origin", func() *http.Request { return codecRequest(http.MethodPost, "/codec/decode", "", body) }, true, http.StatusUnauthorized},
		{"another namespace", func() *http.Request {
			r := codecRequest(http.MethodPost, "/codec/decode", uiOrigin, body)
			r.Header.Set("X-Namespace", "payroll")
			return r
		}, false, http.StatusForbidden},
		{"no namespace", func() *http.Request {
			r := codecRequest(http.MethodPost, "/codec/decode", uiOrigin, body)
			r.Header.Del("X-Namespace")
			return r
		}, false, http.StatusBadRequest},
		{"GET", func() *http.Request { return codecRequest(http.MethodGet, "/codec/decode", uiOrigin, nil) }, false, http.StatusMethodNotAllowed},
		{"form post", func() *http.Request {
			r := codecRequest(http.MethodPost, "/codec/decode", "", body)
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, false, http.StatusUnsupportedMediaType},
		{"oversized", func() *http.Request {
			return codecRequest(http.MethodPost, "/codec/decode", uiOrigin, bytes.Repeat([]byte(" "), 65<<10))
		}, false, http.StatusRequestEntityTooLarge},
		{"oversized, unknown length", func() *http.Request {
			r := codecRequest(http.MethodPost, "/codec/decode", uiOrigin, bytes.Repeat([]byte(" "), 65<<10))
			r.ContentLength = -1
			return r
		}, false, http.StatusRequestEntityTooLarge},
		{"other path", func() *http.Request { return codecRequest(http.MethodPost, "/codec/keys", uiOrigin, body) }, false, http.StatusNotFound},
		{"garbage body", func() *http.Request { return codecRequest(http.MethodPost, "/codec/decode", uiOrigin, []byte("{")) }, false, http.StatusBadRequest},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			authorized = !tt.unauth
			defer func() { authorized = true }()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.req())
			if w.Code != tt.code {
				t.Fatalf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tt.code)
			}
			if strings.Contains(w.Body.String(), "DE89370400440532013000") {
				t.Fatal("a refused request got the plaintext")
			}
			if tt.code == http.StatusForbidden && strings.Contains(tt.name, "origin") && w.Header().Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("refused origin got CORS headers: %v", w.Header())
			}
		})
	}
}

func TestNewHandlerRefusesBadOptions(t *testing.T) {
	c := NewCodec(ring(t))
	ok := func(*http.Request) bool { return true }
	for name, o := range map[string]HandlerOptions{
		"no authorize":  {Namespaces: []string{"default"}},
		"no namespaces": {Authorize: ok},
		"bad origin":    {Authorize: ok, Namespaces: []string{"default"}, Origins: []string{"http://127.0.0.1:8233/ui"}},
		"no scheme":     {Authorize: ok, Namespaces: []string{"default"}, Origins: []string{"127.0.0.1:8233"}},
	} {
		if _, err := NewHandler(c, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if o, err := NormalizeOrigin("HTTPS://UI.Example.com:443/"); err != nil || o != "https://ui.example.com" {
		t.Errorf("NormalizeOrigin = %q, %v", o, err)
	}
}

func TestTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), TokensFileName)
	tokens := OpenTokens(path)
	if tokens.Valid("eoc_anything") {
		t.Fatal("a token is valid without a token file")
	}
	now := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
	tok, err := AddToken(path, "ops-cli", now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "eoc_") || !tokens.Valid(tok) {
		t.Fatalf("new token %q not valid", tok)
	}
	data, _ := readFile(path)
	if strings.Contains(data, tok) || strings.Contains(data, strings.TrimPrefix(tok, "eoc_")) {
		t.Fatal("the token file holds the token itself")
	}
	for _, bad := range []string{"", tok + "x", tok[:len(tok)-1], "Bearer " + tok, strings.ToUpper(tok)} {
		if tokens.Valid(bad) {
			t.Errorf("Valid(%q) = true", bad)
		}
	}
	if _, err := AddToken(path, "ops-cli", now); err == nil {
		t.Error("a second token of the same name")
	}
	other, err := AddToken(path, "ci", now)
	if err != nil || !tokens.Valid(other) || !tokens.Valid(tok) {
		t.Fatalf("second token: %v", err)
	}
	list, err := ListTokens(path)
	if err != nil || len(list) != 2 || list[0].Name != "ops-cli" || !list[0].Created.Equal(now) {
		t.Fatalf("ListTokens = %+v, %v", list, err)
	}
	if err := RevokeToken(path, "ops-cli"); err != nil {
		t.Fatal(err)
	}
	if tokens.Valid(tok) || !tokens.Valid(other) {
		t.Fatal("revocation not picked up")
	}
	if err := RevokeToken(path, "ops-cli"); err == nil {
		t.Error("revoked a token twice")
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
