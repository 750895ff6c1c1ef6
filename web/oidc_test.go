package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/execution-orchestrator/orchestrator/internal/testlog"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/web/oidctest"
)

// These tests sign in against a real OpenID provider, zitadel/oidc's example
// OP served over HTTP by package oidctest: discovery, the authorization
// endpoint, its login form, the token endpoint (client secret and PKCE
// checked) and userinfo all run as in production.

const (
	// otherRedirect is never connected to: the test stops at the redirect.
	otherRedirect = "http://127.0.0.1:1/other/callback"
	testPassword  = "correct horse battery"
)

// testUsers are the provider's users.
var testUsers = []oidctest.User{
	// Mixed case: the directory says maria@example.com.
	{Username: "maria", Password: testPassword, FirstName: "Maria", LastName: "Rossi", Email: "Maria@Example.com", EmailVerified: true},
	{Username: "mallory", Password: testPassword, Email: "mallory@example.com", EmailVerified: true},
	{Username: "chen-unverified", Password: testPassword, Email: "chen@example.com", EmailVerified: false},
}

type oidcHarness struct {
	t    *testing.T
	app  *httptest.Server
	base string
	host string
	prov *oidctest.Provider
	// The app's client at the provider, and another app's client there.
	clientID, clientSecret string
	otherID, otherSecret   string
	fake                   *fakeWorkflows
	srv                    *Server
	skew                   atomic.Int64 // added to the app's clock
	logs                   *testlog.Buffer
}

func (h *oidcHarness) now() time.Time { return time.Now().Add(time.Duration(h.skew.Load())) }

// newOIDCHarness serves the app with OpenID sign-in; with tls the app is
// https, so its cookies must be Secure.
func newOIDCHarness(t *testing.T, tls bool) *oidcHarness {
	t.Helper()
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	h := &oidcHarness{t: t, fake: newFake(), logs: &testlog.Buffer{}, app: httptest.NewUnstartedServer(nil)}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	h.host = h.app.Listener.Addr().String()
	h.base = scheme + "://" + h.host
	h.prov = oidctest.Start(t, testUsers...)
	h.clientID, h.clientSecret = h.prov.Client(t, h.base+callbackPath)
	h.otherID, h.otherSecret = h.prov.Client(t, otherRedirect)
	s, err := New(Config{Workflows: h.fake, Directory: dir, Now: h.now, BaseURL: h.base, SecretKey: []byte("test-key"), Signer: testSigner(t),
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)), WorkflowTypes: testTypes,
		OIDC: &OIDCConfig{IssuerURL: h.prov.IssuerURL, ClientID: h.clientID, ClientSecret: h.clientSecret}})
	require.NoError(t, err)
	h.srv = s
	h.app.Config = NewHTTPServer(s.Handler())
	if tls {
		h.app.StartTLS()
	} else {
		h.app.Start()
	}
	t.Cleanup(h.app.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("app log:\n%s", h.logs)
		}
	})
	return h
}

// browser is one person's browser: a cookie jar and a client that never
// follows redirects, to look at each answer.
type browser struct {
	jar  *cookiejar.Jar
	step *http.Client
}

func (h *oidcHarness) browser() *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(h.t, err)
	transport := http.DefaultTransport
	if h.app.TLS != nil {
		transport = h.app.Client().Transport // trusts the test certificate
	}
	return &browser{jar: jar, step: &http.Client{Jar: jar, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (h *oidcHarness) get(c *http.Client, u string) (resp, *http.Response) {
	h.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = h.base + u
	}
	r, err := c.Get(u)
	require.NoError(h.t, err)
	return read(h.t, r), r
}

// signInAtProvider starts at /login?next=..., fills in the provider's login
// form as username and returns the callback URL the provider sends the
// browser to (not yet opened) and the authorization request URL.
func (h *oidcHarness) signInAtProvider(b *browser, next, username string) (callback, authorize *url.URL) {
	h.t.Helper()
	flow := oidctest.SignIn(h.t, b.step, h.base+"/login?next="+url.QueryEscape(next), h.base+callbackPath, username, testPassword)
	require.True(h.t, strings.HasPrefix(flow.Form.String(), h.prov.IssuerURL), "login form is the provider's: %s", flow.Form)
	require.True(h.t, strings.HasPrefix(flow.Authorize.String(), h.prov.IssuerURL), "authorization request goes to the provider: %s", flow.Authorize)
	return flow.Callback, flow.Authorize
}

// signedIn reports who the app thinks b is, via the inbox.
func (h *oidcHarness) signedIn(b *browser) string {
	h.t.Helper()
	r, _ := h.get(b.step, "/inbox")
	if r.code != http.StatusOK {
		require.Equal(h.t, http.StatusSeeOther, r.code)
		require.Equal(h.t, "/login", r.location)
		return ""
	}
	m := regexp.MustCompile(`Signed in as <strong>[^<]+</strong> <span class="muted">\(([^)]+)\)`).FindStringSubmatch(r.body)
	require.NotNil(h.t, m, r.body)
	return m[1]
}

// idTokenFor runs a code flow as any client, directly against the provider,
// and returns the ID token it issues, with the given nonce.
func (h *oidcHarness) idTokenFor(clientID, secret, redirect, username, nonce string) string {
	h.t.Helper()
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, h.prov.IssuerURL)
	require.NoError(h.t, err)
	conf := oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: redirect, Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email"}}
	jar, err := cookiejar.New(nil)
	require.NoError(h.t, err)
	flow := oidctest.SignIn(h.t, &http.Client{Jar: jar}, conf.AuthCodeURL("direct-state", oidc.Nonce(nonce)), redirect, username, testPassword)
	tok, err := conf.Exchange(ctx, flow.Callback.Query().Get("code"))
	require.NoError(h.t, err)
	raw, _ := tok.Extra("id_token").(string)
	require.NotEmpty(h.t, raw)
	return raw
}

func cookieNamed(cs []*http.Cookie, name string) *http.Cookie {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestOIDCSignIn(t *testing.T) {
	h := newOIDCHarness(t, true)
	b := h.browser()
	target := "/approvals/" + wfID

	cb, authz := h.signInAtProvider(b, target, "maria")
	q := authz.Query()
	assert.Equal(t, "code", q.Get("response_type"))
	assert.Equal(t, h.clientID, q.Get("client_id"))
	assert.Equal(t, h.base+callbackPath, q.Get("redirect_uri"))
	assert.Equal(t, "S256", q.Get("code_challenge_method"))
	assert.NotEmpty(t, q.Get("code_challenge"))
	assert.NotEmpty(t, q.Get("nonce"))
	assert.Equal(t, "openid email", q.Get("scope"))
	assert.Equal(t, q.Get("state"), cb.Query().Get("state"))
	assert.NotContains(t, authz.String(), target, "next stays in the signed cookie, not at the provider")

	// The login cookie is HttpOnly, Secure and scoped to the callback.
	loginCookies := b.jar.Cookies(cb)
	require.Len(t, loginCookies, 1)
	assert.Equal(t, loginCookiePrefix+q.Get("state"), loginCookies[0].Name)

	done, res := h.get(b.step, cb.String())
	require.Equal(t, http.StatusSeeOther, done.code, done.body)
	assert.Equal(t, target, done.location, "back to where sign-in started")
	session := cookieNamed(res.Cookies(), sessionCookie)
	require.NotNil(t, session)
	assert.True(t, session.HttpOnly)
	assert.True(t, session.Secure, "https base URL means Secure cookies")
	assert.Equal(t, http.SameSiteLaxMode, session.SameSite)
	assert.Equal(t, int(defaultSessionTTL.Seconds()), session.MaxAge)
	cleared := cookieNamed(res.Cookies(), loginCookies[0].Name)
	require.NotNil(t, cleared, "login cookie is cleared")
	assert.Equal(t, -1, cleared.MaxAge)
	for _, c := range res.Cookies() {
		assert.True(t, c.Secure, c.Name)
	}

	page, _ := h.get(b.step, target)
	require.Equal(t, http.StatusOK, page.code)
	assert.Contains(t, page.body, "Signed in as <strong>Maria Rossi</strong>")
	assert.Contains(t, page.body, "DE89370400440532013000")
	assert.Contains(t, page.body, `value="approve"`, "maria is awaited")
	assert.NotContains(t, page.body, "dev-identity", "no development banner with real sign-in")
	assert.Equal(t, "maria", h.signedIn(b))
	inbox, _ := h.get(b.step, "/inbox")
	assert.Contains(t, inbox.body, "INV-1001")
	assert.Contains(t, inbox.body, `action="/logout"`)

	// Signed in, /login and / go straight on.
	r, _ := h.get(b.step, "/login?next=/inbox")
	assert.Equal(t, "/inbox", r.location)
	r, _ = h.get(b.step, "/")
	assert.Equal(t, "/inbox", r.location)

	// The person picker is not served.
	r, _ = h.get(b.step, "/")
	assert.NotContains(t, r.body, "Who are you?")
	post, err := b.step.PostForm(h.base+"/session", url.Values{"person": {"chen"}, "csrf": {csrfOf(t, inbox.body)}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, read(t, post).code)
	assert.Equal(t, "maria", h.signedIn(b))

	// Signing out ends the session and does not bounce through the provider.
	post, err = b.step.PostForm(h.base+"/logout", url.Values{"csrf": {csrfOf(t, inbox.body)}})
	require.NoError(t, err)
	out := read(t, post)
	assert.Equal(t, http.StatusOK, out.code)
	assert.Contains(t, out.body, "You are signed out")
	assert.Equal(t, "", h.signedIn(b))
	r, _ = h.get(b.step, "/")
	assert.Equal(t, "/login", r.location)
}

func TestOIDCLogoutNeedsCSRF(t *testing.T) {
	h := newOIDCHarness(t, false)
	b := h.browser()
	cb, _ := h.signInAtProvider(b, "", "maria")
	done, _ := h.get(b.step, cb.String())
	require.Equal(t, "/inbox", done.location, "no next: the inbox")
	post, err := b.step.PostForm(h.base+"/logout", url.Values{"csrf": {"forged"}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, read(t, post).code)
	assert.Equal(t, "maria", h.signedIn(b))
}

func TestOIDCCallbackReplay(t *testing.T) {
	h := newOIDCHarness(t, false)
	b := h.browser()
	cb, _ := h.signInAtProvider(b, "/inbox", "maria")
	loginCookie := b.jar.Cookies(cb)
	require.Len(t, loginCookie, 1)
	done, _ := h.get(b.step, cb.String())
	require.Equal(t, http.StatusSeeOther, done.code, done.body)

	// The same browser again: its login cookie is gone.
	again, _ := h.get(b.step, cb.String())
	assert.Equal(t, http.StatusForbidden, again.code)
	assert.Contains(t, again.body, "not started in this browser, has expired, or was already completed")

	// Someone who copied the login cookie too: the state was used up.
	thief := h.browser()
	thief.jar.SetCookies(cb, loginCookie)
	again, _ = h.get(thief.step, cb.String())
	assert.Equal(t, http.StatusForbidden, again.code)
	assert.Contains(t, again.body, "already used")
	assert.Equal(t, "", h.signedIn(thief))
}

// TestOIDCBogusCallbacksDoNotLockOut: anyone can get a login cookie from
// /login and send its state back with a made-up code. Those callbacks must
// not fill the store of completed sign-ins (which would refuse everyone's
// sign-in), and a full store forgets its oldest entries rather than refuse.
func TestOIDCBogusCallbacksDoNotLockOut(t *testing.T) {
	h := newOIDCHarness(t, false)
	const limit = 3 // stands in for maxCompletedLogins
	h.srv.oidc.maxUsed = limit
	attacker := h.browser()
	for i := range 2*limit + 1 {
		r, _ := h.get(attacker.step, "/login")
		require.Equal(t, http.StatusSeeOther, r.code, r.body)
		authz, err := url.Parse(r.location)
		require.NoError(t, err)
		state := authz.Query().Get("state")
		require.NotEmpty(t, state)
		r, _ = h.get(attacker.step, h.base+callbackPath+"?state="+url.QueryEscape(state)+"&code=made-up-code")
		require.Equal(t, http.StatusForbidden, r.code, "bogus callback %d", i)
		require.Contains(t, r.body, "did not accept this sign-in", "bogus callback %d", i)
	}
	assert.Empty(t, h.srv.oidc.used, "no bogus callback was remembered")

	// Real sign-ins, more than the store holds, all succeed.
	var lastCB *url.URL
	var lastCookies []*http.Cookie
	for i := range limit + 2 {
		b := h.browser()
		cb, _ := h.signInAtProvider(b, "/inbox", "maria")
		cookies := b.jar.Cookies(cb)
		done, _ := h.get(b.step, cb.String())
		require.Equal(t, http.StatusSeeOther, done.code, "sign-in %d: %s", i, done.body)
		require.Equal(t, "maria", h.signedIn(b), "sign-in %d", i)
		lastCB, lastCookies = cb, cookies
	}
	assert.Len(t, h.srv.oidc.used, limit, "the store stays bounded")

	// A completed callback replayed with its login cookie is still refused.
	thief := h.browser()
	thief.jar.SetCookies(lastCB, lastCookies)
	again, _ := h.get(thief.step, lastCB.String())
	assert.Equal(t, http.StatusForbidden, again.code)
	assert.Contains(t, again.body, "already used")
	assert.Equal(t, "", h.signedIn(thief))
}

// TestOIDCCompletedLoginsBounded fills the store at its real size: one more
// completed sign-in pushes out the oldest instead of being refused, expired
// entries go first, and a state seen twice is refused.
func TestOIDCCompletedLoginsBounded(t *testing.T) {
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	base, _ := parseBaseURL("https://approvals.example.com")
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	o, err := newOIDC(OIDCConfig{IssuerURL: "https://id.example.com", ClientID: "c"}, base, dir, []byte("k"), true,
		func() time.Time { return now }, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Equal(t, maxCompletedLogins, o.maxUsed)
	state := func(i int) string { return "state-" + strconv.Itoa(i) }
	for i := range maxCompletedLogins + 1 {
		require.NoError(t, o.markUsed(state(i), now.Add(loginTTL)), "completed sign-in %d", i)
	}
	assert.Len(t, o.used, maxCompletedLogins)
	assert.False(t, o.completed(state(0)), "the oldest was forgotten")
	assert.True(t, o.completed(state(maxCompletedLogins)))
	assert.ErrorContains(t, o.markUsed(state(maxCompletedLogins), now.Add(loginTTL)), "replayed")

	// Once they expire, entries go before anything else is forgotten.
	now = now.Add(loginTTL)
	require.NoError(t, o.markUsed("fresh", now.Add(loginTTL)))
	assert.Len(t, o.used, 1)
	assert.True(t, o.completed("fresh"))
}

func TestOIDCRefusals(t *testing.T) {
	h := newOIDCHarness(t, false)
	tests := []struct {
		name     string
		user     string
		callback func(b *browser, cb, authz *url.URL) string // the URL the browser opens
		wantCode int
		wantBody string
		wantLog  string
	}{
		{name: "tampered state", user: "maria", wantCode: http.StatusForbidden, wantBody: "not started in this browser",
			callback: func(_ *browser, cb, _ *url.URL) string {
				return withQuery(cb, "state", cb.Query().Get("state")+"x")
			}},
		{name: "state from another browser", user: "maria", wantCode: http.StatusForbidden, wantBody: "not started in this browser",
			callback: func(b *browser, cb, _ *url.URL) string {
				// The attacker's own callback, opened in the victim's browser
				// (login CSRF): the victim has no login cookie for it.
				b.jar.SetCookies(cb, []*http.Cookie{{Name: loginCookiePrefix + cb.Query().Get("state"), MaxAge: -1, Path: callbackPath}})
				return cb.String()
			}},
		{name: "login cookie for another state", user: "maria", wantCode: http.StatusForbidden, wantBody: "not started in this browser",
			wantLog: "login cookie is for another state",
			callback: func(b *browser, cb, _ *url.URL) string {
				// Defence in depth behind the cookie's name: a correctly
				// signed login state under another state's name is refused.
				other, err := json.Marshal(loginState{State: "another-state", Nonce: "n", Verifier: "v"})
				require.NoError(h.t, err)
				b.jar.SetCookies(cb, []*http.Cookie{{Name: loginCookiePrefix + cb.Query().Get("state"), Path: callbackPath,
					Value: sealer{[]byte("test-key")}.seal("oidc-login", other, time.Now().Add(time.Minute))}})
				return cb.String()
			}},
		{name: "missing state", user: "maria", wantCode: http.StatusBadRequest, wantBody: "state: missing",
			callback: func(_ *browser, cb, _ *url.URL) string { return withQuery(cb, "state", "") }},
		{name: "oversized state", user: "maria", wantCode: http.StatusBadRequest, wantBody: "state: longer than 128 characters",
			callback: func(_ *browser, cb, _ *url.URL) string { return withQuery(cb, "state", strings.Repeat("s", 129)) }},
		{name: "missing code", user: "maria", wantCode: http.StatusBadRequest, wantBody: "code: missing",
			callback: func(_ *browser, cb, _ *url.URL) string { return withQuery(cb, "code", "") }},
		{name: "forged code", user: "maria", wantCode: http.StatusForbidden, wantBody: "did not accept this sign-in", wantLog: "exchange code",
			callback: func(_ *browser, cb, _ *url.URL) string { return withQuery(cb, "code", "forged-code") }},
		{name: "provider refused", user: "maria", wantCode: http.StatusForbidden, wantBody: "refused the sign-in: access_denied",
			callback: func(_ *browser, cb, _ *url.URL) string {
				return h.base + callbackPath + "?error=access_denied&error_description=no&state=" + cb.Query().Get("state")
			}},
		{name: "login expired", user: "maria", wantCode: http.StatusForbidden, wantBody: "has expired", wantLog: "expired",
			callback: func(_ *browser, cb, _ *url.URL) string {
				h.skew.Add(int64(loginTTL + time.Second))
				return cb.String()
			}},
		{name: "email not in the directory", user: "mallory", wantCode: http.StatusForbidden,
			wantBody: "mallory@example.com is not in the organisation directory",
			callback: func(_ *browser, cb, _ *url.URL) string { return cb.String() }},
		{name: "unverified email", user: "chen-unverified", wantCode: http.StatusForbidden,
			wantBody: "has not verified the email address chen@example.com",
			callback: func(_ *browser, cb, _ *url.URL) string { return cb.String() }},
		{name: "ID token for another client", user: "maria", wantCode: http.StatusForbidden, wantBody: "could not be verified",
			wantLog: `expected audience \"` + h.clientID + `\"`,
			callback: func(_ *browser, cb, authz *url.URL) string {
				// A genuine token, same person, same nonce, but issued to
				// another app: only the audience is wrong.
				h.prov.ReplaceIDToken(h.idTokenFor(h.otherID, h.otherSecret, otherRedirect, "maria", authz.Query().Get("nonce")))
				return cb.String()
			}},
		{name: "ID token from another sign-in", user: "maria", wantCode: http.StatusForbidden, wantBody: "could not be verified",
			wantLog: "nonce does not match",
			callback: func(_ *browser, cb, _ *url.URL) string {
				h.prov.ReplaceIDToken(h.idTokenFor(h.clientID, h.clientSecret, h.base+callbackPath, "maria", "another-nonce"))
				return cb.String()
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			t.Cleanup(func() { h.skew.Store(0); h.prov.ReplaceIDToken("") })
			logStart := len(h.logs.String())
			b := h.browser()
			cb, authz := h.signInAtProvider(b, "/inbox", tt.user)
			r, res := h.get(b.step, tt.callback(b, cb, authz))
			assert.Equal(t, tt.wantCode, r.code, r.body)
			assert.Contains(t, r.body, tt.wantBody)
			assert.Nil(t, cookieNamed(res.Cookies(), sessionCookie), "no session cookie")
			h.skew.Store(0)
			assert.Equal(t, "", h.signedIn(b), "nobody is signed in")
			if tt.wantLog != "" {
				assert.Contains(t, h.logs.String()[logStart:], tt.wantLog)
			}
		})
	}
}

func withQuery(u *url.URL, key, value string) string {
	c := *u
	q := c.Query()
	if value == "" {
		q.Del(key)
	} else {
		q.Set(key, value)
	}
	c.RawQuery = q.Encode()
	return c.String()
}

func TestOIDCSessionCookie(t *testing.T) {
	h := newOIDCHarness(t, false)
	b := h.browser()
	cb, _ := h.signInAtProvider(b, "/inbox", "maria")
	_, _ = h.get(b.step, cb.String())
	require.Equal(t, "maria", h.signedIn(b))
	appURL, err := url.Parse(h.base)
	require.NoError(t, err)
	session := cookieNamed(b.jar.Cookies(appURL), sessionCookie)
	require.NotNil(t, session)

	// Still signed in just before the session's end, not after: the expiry
	// is inside the signed value, so a kept cookie stops working too.
	h.skew.Store(int64(defaultSessionTTL - time.Minute))
	assert.Equal(t, "maria", h.signedIn(b))
	h.skew.Store(int64(defaultSessionTTL + time.Minute))
	kept := h.browser()
	kept.jar.SetCookies(appURL, []*http.Cookie{{Name: sessionCookie, Value: session.Value, Path: "/"}})
	assert.Equal(t, "", h.signedIn(kept), "expired session")
	h.skew.Store(0)

	key := sealer{[]byte("test-key")}
	forged := []struct {
		name, value string
	}{
		{"development session format", "chen." + sign([]byte("test-key"), "session|chen")},
		{"development session sealed with the same key", key.seal("session|dev", []byte("chen"), time.Now().Add(time.Hour))},
		{"other person, same signature", strings.Replace(session.Value, strings.Split(session.Value, ".")[0], "Y2hlbg", 1)},
		{"later expiry, same signature", strings.Split(session.Value, ".")[0] + ".9999999999." + strings.Split(session.Value, ".")[2]},
		{"wrong key", sealer{[]byte("other-key")}.seal("session|oidc", []byte("chen"), time.Now().Add(time.Hour))},
		{"garbage", strings.Repeat(".", 5000)},
	}
	for _, f := range forged {
		c := h.browser()
		c.jar.SetCookies(appURL, []*http.Cookie{{Name: sessionCookie, Value: f.value, Path: "/"}})
		assert.Equal(t, "", h.signedIn(c), f.name)
	}
	// The genuine value still works (the forgeries changed nothing).
	c := h.browser()
	c.jar.SetCookies(appURL, []*http.Cookie{{Name: sessionCookie, Value: session.Value, Path: "/"}})
	assert.Equal(t, "maria", h.signedIn(c))
}

func TestOIDCProviderUnreachable(t *testing.T) {
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // a port nothing listens on
	app := httptest.NewUnstartedServer(nil)
	base := "http://" + app.Listener.Addr().String()
	s, err := New(Config{Workflows: newFake(), Directory: dir, BaseURL: base, Logger: slog.New(slog.DiscardHandler), WorkflowTypes: testTypes,
		OIDC: &OIDCConfig{IssuerURL: down.URL, ClientID: "orchestrator"}})
	require.NoError(t, err, "the app starts while the provider is down")
	app.Config = NewHTTPServer(s.Handler())
	app.Start()
	defer app.Close()
	res, err := http.Get(base + "/login")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusBadGateway, res.StatusCode)
	assert.Contains(t, string(body), "could not be reached")
	assert.Equal(t, http.StatusOK, func() int { r, _ := http.Get(base + "/healthz"); r.Body.Close(); return r.StatusCode }())
}

func TestOIDCLoginNext(t *testing.T) {
	h := newOIDCHarness(t, false)
	b := h.browser()
	// Not signed in: pages send people to /login, keeping where they were.
	r, _ := h.get(b.step, "/approvals/"+wfID)
	assert.Equal(t, "/login?next=%2Fapprovals%2F"+wfID, r.location)
	r, _ = h.get(b.step, "/inbox")
	assert.Equal(t, "/login", r.location)
	r, _ = h.get(b.step, "/login?next=/"+strings.Repeat("x", maxNext))
	assert.Equal(t, http.StatusBadRequest, r.code)
	assert.Contains(t, r.body, "next: longer than 512 characters")

	for next, want := range map[string]string{
		"/approvals/" + wfID:   "/approvals/" + wfID,
		"//evil.example/x":     "/inbox",
		"https://evil.example": "/inbox",
	} {
		cb, _ := h.signInAtProvider(b, next, "maria")
		done, _ := h.get(b.step, cb.String())
		assert.Equal(t, want, done.location, next)
		appURL, _ := url.Parse(h.base)
		b.jar.SetCookies(appURL, []*http.Cookie{{Name: sessionCookie, MaxAge: -1, Path: "/"}})
	}
}

func TestOIDCConfigDefaults(t *testing.T) {
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	base, err := parseBaseURL("https://approvals.example.com/")
	require.NoError(t, err)
	tests := []struct {
		name       string
		cfg        OIDCConfig
		wantScopes []string
		wantClaim  string
	}{
		{"defaults", OIDCConfig{}, []string{"openid", "email"}, "email"},
		{"extra scopes keep openid and email", OIDCConfig{Scopes: []string{"profile", "openid"}}, []string{"openid", "email", "profile"}, "email"},
		{"email claim named", OIDCConfig{PersonClaim: "email", Scopes: []string{"profile"}}, []string{"openid", "email", "profile"}, "email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.IssuerURL, tt.cfg.ClientID = "https://id.example.com", "c"
			o, err := newOIDC(tt.cfg, base, dir, []byte("k"), true, time.Now, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			assert.Equal(t, tt.wantScopes, o.cfg.Scopes)
			assert.Equal(t, tt.wantClaim, o.cfg.PersonClaim)
			assert.Equal(t, "https://approvals.example.com"+callbackPath, o.cfg.RedirectURL)
			assert.Equal(t, defaultSessionTTL, o.cfg.SessionTTL)
		})
	}
}

func TestOIDCPersonMapping(t *testing.T) {
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	base, _ := parseBaseURL("https://approvals.example.com")
	emailAuth, err := newOIDC(OIDCConfig{IssuerURL: "https://id.example.com", ClientID: "c"}, base, dir, []byte("k"), true, time.Now, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	tests := []struct {
		name   string
		o      *OIDC
		claims map[string]any
		want   string // person id, or a fragment of the refusal
	}{
		{"verified email", emailAuth, map[string]any{"email": "maria@example.com", "email_verified": true}, "maria"},
		{"case and spaces", emailAuth, map[string]any{"email": " MARIA@example.COM ", "email_verified": true}, "maria"},
		{"verified as a string", emailAuth, map[string]any{"email": "maria@example.com", "email_verified": "true"}, "maria"},
		{"unverified", emailAuth, map[string]any{"email": "maria@example.com", "email_verified": false}, "has not verified"},
		{"verification missing", emailAuth, map[string]any{"email": "maria@example.com"}, "has not verified"},
		{"no email", emailAuth, map[string]any{"sub": "x"}, "does not say your email"},
		{"email not a string", emailAuth, map[string]any{"email": 42, "email_verified": true}, "does not say your email"},
		{"unknown", emailAuth, map[string]any{"email": "bob@example.com", "email_verified": true}, "not in the organisation directory"},
		{"another claim is not read", emailAuth, map[string]any{"upn": "chen@example.com", "email_verified": true}, "does not say your email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, aerr := tt.o.person(tt.claims)
			if aerr != nil {
				assert.Equal(t, http.StatusForbidden, aerr.status)
				assert.Contains(t, aerr.message, tt.want)
				return
			}
			assert.Equal(t, tt.want, id)
		})
	}
}
