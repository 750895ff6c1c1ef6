package web

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

const testUIOrigin = "http://127.0.0.1:8233"

// codecHarness serves the app with the codec server on, field workers able
// to sign in, and bearer tokens from a token file.
type codecHarness struct {
	*harness
	sealed    []byte // a decode request body: one sealed payload
	tokenPath string
}

func newCodecHarness(t *testing.T, roles ...string) *codecHarness {
	t.Helper()
	ring, err := codec.Generate()
	require.NoError(t, err)
	c := codec.NewCodec(ring)
	plain, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{"iban": "DE89370400440532013000"})
	require.NoError(t, err)
	sealed, err := c.Encode([]*commonpb.Payload{plain})
	require.NoError(t, err)
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: sealed})
	require.NoError(t, err)

	ctx := context.Background()
	dir := t.TempDir()
	wf, err := workforce.Open(ctx, "", filepath.Join(dir, "orchestrator.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { wf.Close() })
	require.NoError(t, wf.Seed(ctx))
	ev, err := evidence.Open(ctx, "", filepath.Join(dir, "orchestrator.db"), filepath.Join(dir, "evidence"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { ev.Close() })
	tokenPath := filepath.Join(dir, codec.TokensFileName)
	h := newHarness(t, func(cfg *Config) {
		cfg.Workforce, cfg.Evidence, cfg.Tasks = wf, ev, &fakeTasks{}
		cfg.Codec = &CodecConfig{Codec: c, UIOrigins: []string{testUIOrigin}, Namespaces: []string{"default"},
			Roles: roles, Tokens: codec.OpenTokens(tokenPath)}
	})
	return &codecHarness{harness: h, sealed: body, tokenPath: tokenPath}
}

// decode POSTs the sealed payload to /codec/decode as the Temporal UI does
// (origin, namespace, JSON), with extra headers.
func (h *codecHarness) decode(c *http.Client, header ...string) resp {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+CodecPath+"/decode", bytes.NewReader(h.sealed))
	require.NoError(h.t, err)
	req.Header.Set("Origin", testUIOrigin)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	r, err := c.Do(req)
	require.NoError(h.t, err)
	return read(h.t, r)
}

const plainIBAN = "DE89370400440532013000"

// plaintextOf is the data of the one json/plain payload a decode answered
// (base64 in the JSON body).
func plaintextOf(t *testing.T, r resp) string {
	t.Helper()
	var got commonpb.Payloads
	require.NoError(t, protojson.Unmarshal([]byte(r.body), &got))
	require.Len(t, got.Payloads, 1)
	require.Equal(t, "json/plain", string(got.Payloads[0].Metadata["encoding"]))
	return string(got.Payloads[0].Data)
}

func TestCodecServerDecodesForASignedInPerson(t *testing.T) {
	h := newCodecHarness(t)
	c := newClient(t)
	h.signIn(c, "maria")
	r := h.decode(c)
	require.Equal(t, http.StatusOK, r.code, r.body)
	assert.Contains(t, plaintextOf(t, r), plainIBAN)

	// The preflight is answered without the cookie, as browsers send it.
	req, err := http.NewRequest(http.MethodOptions, h.srv.URL+CodecPath+"/decode", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", testUIOrigin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	pre, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	pre.Body.Close()
	assert.Equal(t, http.StatusNoContent, pre.StatusCode)
	assert.Equal(t, testUIOrigin, pre.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "true", pre.Header.Get("Access-Control-Allow-Credentials"))

	// Another page, even with the person's cookie, is refused.
	r = h.decode(c, "Origin", "http://evil.example")
	assert.Equal(t, http.StatusForbidden, r.code)
	assert.NotContains(t, r.body, plainIBAN)
}

func TestCodecServerRefusals(t *testing.T) {
	h := newCodecHarness(t)

	t.Run("no session", func(t *testing.T) {
		r := h.decode(newClient(t))
		assert.Equal(t, http.StatusUnauthorized, r.code)
		assert.NotContains(t, r.body, plainIBAN)
	})
	t.Run("field worker session", func(t *testing.T) {
		c := newClient(t)
		page := h.get(c, "/")
		require.Equal(t, http.StatusOK, page.code)
		s := h.post(c, "/session", map[string][]string{"worker": {"ana-field"}, "csrf": {csrfOf(t, page.body)}})
		require.Equal(t, http.StatusSeeOther, s.code, s.body)
		require.Equal(t, "/tasks", s.location)
		r := h.decode(c)
		assert.Equal(t, http.StatusUnauthorized, r.code)
		assert.NotContains(t, r.body, plainIBAN)
	})
	t.Run("forged session cookie", func(t *testing.T) {
		r := h.decode(newClient(t), "Cookie", sessionCookie+"=bWFyaWE."+time.Now().Add(time.Hour).Format("20060102")+".forged")
		assert.Equal(t, http.StatusUnauthorized, r.code)
	})
	t.Run("bearer tokens", func(t *testing.T) {
		tok, err := codec.AddToken(h.tokenPath, "ops-cli", time.Now())
		require.NoError(t, err)
		// The temporal CLI: no Origin, the token in Authorization.
		r := h.decode(newClient(t), "Origin", "", "Authorization", "Bearer "+tok)
		require.Equal(t, http.StatusOK, r.code, r.body)
		assert.Contains(t, plaintextOf(t, r), plainIBAN)
		for name, auth := range map[string]string{
			"forged":           "Bearer eoc_" + strings.Repeat("A", 43),
			"altered":          "Bearer " + tok[:len(tok)-1] + "x",
			"not bearer":       "Basic " + tok,
			"empty":            "Bearer ",
			"hash of the file": "Bearer sha256:" + strings.Repeat("0", 64),
		} {
			r := h.decode(newClient(t), "Authorization", auth)
			assert.Equal(t, http.StatusUnauthorized, r.code, name)
		}
		// A bearer token decides alone: a valid cookie does not rescue a bad token.
		c := newClient(t)
		h.signIn(c, "maria")
		r = h.decode(c, "Authorization", "Bearer eoc_bad")
		assert.Equal(t, http.StatusUnauthorized, r.code)
		// Revoked: refused from the next request, without a restart.
		require.NoError(t, codec.RevokeToken(h.tokenPath, "ops-cli"))
		r = h.decode(newClient(t), "Origin", "", "Authorization", "Bearer "+tok)
		assert.Equal(t, http.StatusUnauthorized, r.code)
	})
	t.Run("outside the app's cross-origin protection, only for the codec", func(t *testing.T) {
		// A form post from another origin to an app page is still refused
		// by the cross-origin protection, codec or not.
		c := newClient(t)
		h.signIn(c, "maria")
		r := h.post(c, "/session/end", nil, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site")
		assert.Equal(t, http.StatusForbidden, r.code)
	})
}

func TestCodecServerRoles(t *testing.T) {
	h := newCodecHarness(t, "cfo", "controller")
	c := newClient(t)
	h.signIn(c, "maria") // finance-manager
	assert.Equal(t, http.StatusUnauthorized, h.decode(c).code)
	c = newClient(t)
	h.signIn(c, "chen") // cfo
	assert.Equal(t, http.StatusOK, h.decode(c).code)
}

func TestCodecServerLargeBatch(t *testing.T) {
	// Beyond the app's 64 KiB form limit, within the codec's.
	h := newCodecHarness(t)
	c := newClient(t)
	h.signIn(c, "maria")
	var ps []*commonpb.Payload
	for range 200 {
		p, err := converter.GetDefaultDataConverter().ToPayload(strings.Repeat("x", 1000))
		require.NoError(t, err)
		ps = append(ps, p)
	}
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	require.NoError(t, err)
	require.Greater(t, len(body), maxFormBytes)
	h.sealed = body
	assert.Equal(t, http.StatusOK, h.decode(c).code)
	h.sealed = bytes.Repeat([]byte(" "), maxCodecRequestBytes+1)
	assert.Equal(t, http.StatusRequestEntityTooLarge, h.decode(c).code)
}

func TestCodecConfigRequired(t *testing.T) {
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	ring, err := codec.Generate()
	require.NoError(t, err)
	base := Config{Workflows: newFake(), Directory: dir, DevIdentity: true, Signer: testSigner(t), WorkflowTypes: testTypes}
	for name, cc := range map[string]*CodecConfig{
		"no codec":      {Namespaces: []string{"default"}},
		"no namespaces": {Codec: codec.NewCodec(ring)},
		"bad origin":    {Codec: codec.NewCodec(ring), Namespaces: []string{"default"}, UIOrigins: []string{"127.0.0.1:8233"}},
	} {
		cfg := base
		cfg.Codec = cc
		_, err := New(cfg)
		assert.Error(t, err, name)
	}
}
