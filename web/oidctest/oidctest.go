// Package oidctest is for tests only: it serves a real OpenID provider in
// process over HTTP (zitadel/oidc's example OP: discovery, the authorization
// endpoint and its login form, the token endpoint checking client secrets
// and PKCE, userinfo) and performs the browser's side of signing in through
// that form. Production code must not import it.
package oidctest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is a person the provider knows; they sign in with Username and
// Password on its login form.
type User struct {
	Username  string
	Password  string
	FirstName string
	LastName  string
	// Email and EmailVerified become the ID token's email and
	// email_verified claims.
	Email         string
	EmailVerified bool
}

// Provider is a running OpenID provider; it stops when the test ends.
type Provider struct {
	// IssuerURL is the issuer, http://127.0.0.1:port, whose discovery
	// document is at /.well-known/openid-configuration.
	IssuerURL string

	srv     *httptest.Server
	mu      sync.Mutex
	clients map[string]registered
	idToken atomic.Pointer[string]
}

type registered struct {
	client *storage.Client
	secret string
}

// Start serves a provider whose only users are users.
func Start(t testing.TB, users ...User) *Provider {
	t.Helper()
	byID := userStore{}
	for _, u := range users {
		if u.Username == "" {
			t.Fatalf("oidctest: a user without a username: %+v", u)
		}
		id := "user-" + u.Username
		if byID[id] != nil {
			t.Fatalf("oidctest: user %q given twice", u.Username)
		}
		byID[id] = &storage.User{ID: id, Username: u.Username, Password: u.Password, FirstName: u.FirstName, LastName: u.LastName,
			Email: u.Email, EmailVerified: u.EmailVerified}
	}
	p := &Provider{srv: httptest.NewUnstartedServer(nil), clients: map[string]registered{}}
	// The issuer must be known before the OP is built, so the listener is
	// bound first.
	p.IssuerURL = "http://" + p.srv.Listener.Addr().String()
	// The example storage's own client map is read without a lock we could
	// take, so clients live here instead and may be added while it serves.
	st := &store{Storage: storage.NewStorageWithClients(byID, map[string]*storage.Client{}), p: p}
	// A nil logger keeps the example from replacing slog's default logger.
	p.srv.Config.Handler = p.replaceIDToken(exampleop.SetupServer(p.IssuerURL, st, nil, false))
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

// Client registers a confidential web client (client_secret_basic, the
// authorization code flow) that may redirect only to redirectURLs, and
// returns its credentials.
func (p *Provider) Client(t testing.TB, redirectURLs ...string) (id, secret string) {
	t.Helper()
	if len(redirectURLs) == 0 {
		// storage.WebClient would otherwise fall back to its own example
		// redirect on localhost:9999.
		t.Fatal("oidctest: Client needs at least one redirect URL")
	}
	for _, r := range redirectURLs {
		if u, err := url.Parse(r); err != nil || u.Scheme == "" || u.Host == "" {
			t.Fatalf("oidctest: redirect URL %q is not absolute", r)
		}
	}
	secret = rand.Text()
	p.mu.Lock()
	defer p.mu.Unlock()
	id = fmt.Sprintf("client-%d", len(p.clients)+1)
	p.clients[id] = registered{client: storage.WebClient(id, secret, redirectURLs...), secret: secret}
	return id, secret
}

// ReplaceIDToken makes the token endpoint answer with raw as the ID token
// (the rest of the answer is genuine), as a compromised network path or a
// confused provider would; "" restores genuine answers.
func (p *Provider) ReplaceIDToken(raw string) {
	if raw == "" {
		p.idToken.Store(nil)
		return
	}
	p.idToken.Store(&raw)
}

func (p *Provider) replaceIDToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		swap := p.idToken.Load()
		if swap == nil || r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["id_token"] == nil {
			http.Error(w, "oidctest: no id_token to replace in "+rec.Body.String(), http.StatusInternalServerError)
			return
		}
		body["id_token"] = *swap
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
}

// store is the example storage with the provider's client registry in place
// of the example's fixed map; everything else is the example's.
type store struct {
	*storage.Storage
	p *Provider
}

func (s *store) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	c, ok := s.p.clients[id]
	if !ok {
		return nil, errors.New("client not found")
	}
	// As the example does: its clients are checked with redirect globs.
	return storage.RedirectGlobsClient(c.client), nil
}

func (s *store) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	c, ok := s.p.clients[id]
	if !ok {
		return errors.New("client not found")
	}
	if subtle.ConstantTimeCompare([]byte(c.secret), []byte(secret)) != 1 {
		return errors.New("invalid secret")
	}
	return nil
}

// userStore is the provider's user directory, by user ID.
type userStore map[string]*storage.User

func (u userStore) GetUserByID(id string) *storage.User { return u[id] }

func (u userStore) GetUserByUsername(name string) *storage.User {
	for _, user := range u {
		if user.Username == name {
			return user
		}
	}
	return nil
}

// ExampleClientID names the example's JWT-profile service user; no test
// here uses it, but the storage needs one.
func (u userStore) ExampleClientID() string { return storage.ServiceUserID }

// Flow is what a browser went through signing in at the provider.
type Flow struct {
	// Authorize is the authorization request: client_id, redirect_uri,
	// state, nonce, scope and the PKCE challenge, as the app asked for them.
	Authorize *url.URL
	// Form is the provider's login form page.
	Form *url.URL
	// Callback is where the provider sent the browser back (code and state
	// in the query); SignIn does not open it.
	Callback *url.URL
}

var (
	formActionRE = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	formIDRE     = regexp.MustCompile(`name="id" value="([^"]*)"`)
	formErrorRE  = regexp.MustCompile(`color:\s*red[^>]*>([^<]*)<`)
)

// SignIn is a browser with hc's cookie jar and transport: it opens start
// (the app's /login, or an authorization URL), follows redirects to the
// provider's login form, submits username and password, and follows the
// provider's redirects up to, not into, redirectURL (matched without its
// query). hc's own redirect policy is not used, so a client that never
// follows redirects works.
func SignIn(t testing.TB, hc *http.Client, start, redirectURL, username, password string) Flow {
	t.Helper()
	if hc.Jar == nil {
		// The app's login cookie and the provider's auth request must
		// survive the round trip, as in a browser.
		t.Fatal("oidctest: SignIn needs an http.Client with a cookie jar")
	}
	back, err := url.Parse(redirectURL)
	if err != nil {
		t.Fatalf("oidctest: redirect URL: %v", err)
	}
	var seen []*url.URL
	if u, err := url.Parse(start); err == nil {
		seen = append(seen, u)
	}
	c := &http.Client{Jar: hc.Jar, Transport: hc.Transport, Timeout: hc.Timeout,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if sameEndpoint(req.URL, back) {
				return http.ErrUseLastResponse
			}
			seen = append(seen, req.URL)
			return nil
		}}

	res, err := c.Get(start)
	if err != nil {
		t.Fatalf("oidctest: open %s: %v", start, err)
	}
	form := readAll(t, res)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("oidctest: %s ended at %s with %d, not the provider's login form:\n%s", start, res.Request.URL, res.StatusCode, form)
	}
	var flow Flow
	flow.Form = res.Request.URL
	for _, u := range seen {
		if q := u.Query(); q.Get("client_id") != "" && q.Get("redirect_uri") != "" {
			flow.Authorize = u
			break
		}
	}
	if flow.Authorize == nil {
		t.Fatalf("oidctest: no authorization request among %v", seen)
	}
	action, id := formActionRE.FindStringSubmatch(form), formIDRE.FindStringSubmatch(form)
	if action == nil || id == nil {
		t.Fatalf("oidctest: %s is not the provider's login form:\n%s", flow.Form, form)
	}
	post, err := flow.Form.Parse(html.UnescapeString(action[1]))
	if err != nil {
		t.Fatalf("oidctest: login form action: %v", err)
	}

	res, err = c.PostForm(post.String(), url.Values{"id": {html.UnescapeString(id[1])}, "username": {username}, "password": {password}})
	if err != nil {
		t.Fatalf("oidctest: post credentials: %v", err)
	}
	body := readAll(t, res)
	loc, err := res.Location()
	if err != nil || !sameEndpoint(loc, back) {
		why := strings.TrimSpace(body)
		if m := formErrorRE.FindStringSubmatch(body); m != nil && strings.TrimSpace(m[1]) != "" {
			why = strings.TrimSpace(html.UnescapeString(m[1]))
		}
		t.Fatalf("oidctest: the provider did not send %s back to %s (%d, Location %q): %s", username, redirectURL, res.StatusCode, res.Header.Get("Location"), why)
	}
	flow.Callback = loc
	return flow
}

// Login signs username in to the app at appBaseURL as a person does: GET
// /login on the app, the provider's form, and back to the app's
// /auth/callback, which it opens without following the app's answer. It
// returns that answer with its body buffered (so the caller need not close
// it); on success the session cookie is in hc's jar. It does not judge the
// answer, so tests can also sign in people the app must refuse.
func Login(t testing.TB, hc *http.Client, appBaseURL, username, password string) *http.Response {
	t.Helper()
	base := strings.TrimSuffix(appBaseURL, "/")
	flow := SignIn(t, hc, base+"/login", base+"/auth/callback", username, password)
	c := &http.Client{Jar: hc.Jar, Transport: hc.Transport, Timeout: hc.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(flow.Callback.String())
	if err != nil {
		t.Fatalf("oidctest: open the callback: %v", err)
	}
	body := readAll(t, res)
	res.Body = io.NopCloser(strings.NewReader(body))
	return res
}

// sameEndpoint compares scheme, host and path: the provider adds code and
// state to the registered redirect URL's query.
func sameEndpoint(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host) && a.Path == b.Path
}

func readAll(t testing.TB, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("oidctest: read %s: %v", res.Request.URL, err)
	}
	return string(b)
}
