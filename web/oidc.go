package web

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// OIDCConfig configures OpenID Connect sign-in (authorization code flow with
// PKCE). The provider must have a client registered with RedirectURL.
type OIDCConfig struct {
	// IssuerURL is the provider's issuer; its discovery document is read on
	// the first sign-in. https is required except on loopback addresses.
	IssuerURL string
	// ClientID is this app's client at the provider; ID tokens issued to any
	// other client are refused.
	ClientID string
	// ClientSecret may be empty for a public client (PKCE still applies).
	ClientSecret string
	// RedirectURL is where the provider sends people back; it must end in
	// /auth/callback. Empty means Config.BaseURL + "/auth/callback".
	RedirectURL string
	// PersonClaim names the claim matched (case-insensitively) against the
	// directory's email addresses; empty means "email", the only value
	// accepted: the provider vouches for it with email_verified, which must
	// be true. Another claim (upn, preferred_username) carries no such
	// flag, and an address someone typed in at the provider could then open
	// another person's approvals.
	PersonClaim string
	// Scopes requested; "openid" and "email" are always included.
	Scopes []string
	// SessionTTL is how long a sign-in lasts; empty means 8 hours.
	SessionTTL time.Duration
}

const (
	callbackPath      = "/auth/callback"
	loginCookiePrefix = "eo_login_"
	// loginTTL bounds the time between leaving for the provider and coming
	// back: long enough to type a password and pass a second factor.
	loginTTL          = 10 * time.Minute
	defaultSessionTTL = 8 * time.Hour
	providerTimeout   = 10 * time.Second
	// maxCompletedLogins bounds the replay cache: completed logins are kept
	// until their login state would have expired anyway, or until this many
	// later ones push them out.
	maxCompletedLogins = 10000
)

// Field caps on the OpenID callback; real values are far shorter.
const (
	maxState = 128
	maxCode  = 2048
)

// OIDC is the production Authenticator: people sign in at an OpenID
// provider, and the verified email (or the configured claim) names a person
// in the policy directory. The session is a signed, expiring cookie.
type OIDC struct {
	cfg      OIDCConfig
	dir      *policy.Directory
	workers  Workforce // nil: only the organisation's people sign in
	sessions sessions
	login    sealer
	secure   bool
	now      func() time.Time
	log      *slog.Logger
	httpc    *http.Client

	provMu   sync.Mutex // held while discovering, so concurrent logins wait for one discovery
	prov     *oidc.Provider
	verifier *oidc.IDTokenVerifier

	usedMu    sync.Mutex
	used      map[string]time.Time // login states already completed, until they expire
	usedOrder []string             // the keys of used, oldest completion first
	maxUsed   int                  // bound on used; maxCompletedLogins but in tests
}

// newOIDC validates cfg and builds the authenticator; it does not contact
// the provider, so the app starts even while the provider is unreachable.
func newOIDC(cfg OIDCConfig, baseURL *url.URL, dir *policy.Directory, key []byte, secure bool, now func() time.Time, log *slog.Logger) (*OIDC, error) {
	if err := checkIssuer(cfg.IssuerURL); err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, errors.New("web: OIDC.ClientID is required")
	}
	if cfg.RedirectURL == "" {
		if baseURL == nil {
			return nil, errors.New("web: OIDC.RedirectURL is required when Config.BaseURL is empty")
		}
		cfg.RedirectURL = strings.TrimSuffix(baseURL.String(), "/") + callbackPath
	}
	ru, err := url.Parse(cfg.RedirectURL)
	if err != nil || (ru.Scheme != "http" && ru.Scheme != "https") || ru.Host == "" || ru.Path != callbackPath || ru.RawQuery != "" {
		return nil, fmt.Errorf("web: OIDC.RedirectURL: %q must be an absolute http(s) URL whose path is %s", cfg.RedirectURL, callbackPath)
	}
	// The login cookie is set on the base URL's host; a callback on another
	// host would never see it.
	if baseURL != nil && (!strings.EqualFold(ru.Scheme, baseURL.Scheme) || !strings.EqualFold(ru.Host, baseURL.Host)) {
		return nil, fmt.Errorf("web: OIDC.RedirectURL: %q is not on Config.BaseURL %q", cfg.RedirectURL, baseURL.String())
	}
	if cfg.PersonClaim == "" {
		cfg.PersonClaim = "email"
	}
	if cfg.PersonClaim != "email" {
		return nil, fmt.Errorf(`web: OIDC.PersonClaim: %q is not supported: only "email" comes with a verified flag (email_verified), and an unverified value must not name a person`, cfg.PersonClaim)
	}
	if cfg.SessionTTL < 0 {
		return nil, fmt.Errorf("web: OIDC.SessionTTL: %s is negative", cfg.SessionTTL)
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = defaultSessionTTL
	}
	scopes := []string{oidc.ScopeOpenID, "email"}
	for _, sc := range cfg.Scopes {
		if sc = strings.TrimSpace(sc); sc != "" && !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	cfg.Scopes = scopes
	known := func(id string) bool { _, ok := dir.Person(id); return ok }
	return &OIDC{
		cfg: cfg, dir: dir, secure: secure, now: now, log: log,
		sessions: sessions{seal: sealer{key}, purpose: "session|oidc", known: known, secure: secure, ttl: cfg.SessionTTL, now: now},
		login:    sealer{key},
		httpc:    &http.Client{Timeout: providerTimeout},
		used:     map[string]time.Time{},
		maxUsed:  maxCompletedLogins,
	}, nil
}

// checkIssuer wants https, except on loopback where a local provider runs
// for development and tests.
func checkIssuer(issuer string) error {
	if strings.TrimSpace(issuer) == "" {
		return errors.New("web: OIDC.IssuerURL is required")
	}
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("web: OIDC.IssuerURL: %q is not an absolute http(s) URL", issuer)
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("web: OIDC.IssuerURL: %q must use https (http only on loopback)", issuer)
		}
	}
	return nil
}

// Person implements Authenticator.
func (o *OIDC) Person(r *http.Request) (string, bool) { return o.sessions.person(r) }

// Worker implements WorkerAuthenticator: a field worker whose verified
// email is in the workforce directory.
func (o *OIDC) Worker(r *http.Request) (string, bool) { return o.sessions.worker(r) }

// withWorkers lets the people of the workforce directory sign in as field
// workers, matched by verified email after the organisation's people.
func (o *OIDC) withWorkers(wf Workforce) {
	o.workers = wf
	o.sessions.knownWorker = workerKnown(wf)
}

// ProofMethod names how the person was identified, for the decision
// assertions the app signs.
func (o *OIDC) ProofMethod() string { return proof.MethodOIDC }

// provider discovers the provider once; a failure is not cached, so the
// next sign-in tries again.
func (o *OIDC) provider(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	o.provMu.Lock()
	defer o.provMu.Unlock()
	if o.prov != nil {
		return o.prov, o.verifier, nil
	}
	ctx, cancel := context.WithTimeout(ctx, providerTimeout)
	defer cancel()
	// The provider keeps this client for key and userinfo fetches; it does
	// not keep ctx, so the request ending does not break later sign-ins.
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.httpc), o.cfg.IssuerURL)
	if err != nil {
		return nil, nil, fmt.Errorf("discover OpenID provider %s: %w", o.cfg.IssuerURL, err)
	}
	o.prov = p
	o.verifier = p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID, Now: o.now})
	return o.prov, o.verifier, nil
}

func (o *OIDC) oauth(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: o.cfg.Scopes}
}

// loginState travels in the login cookie, sealed, from /login to the
// callback; the browser cannot read or change it.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x,omitempty"`
}

// start begins a sign-in: it sets the login cookie and returns the
// provider's authorization URL. The cookie is named after the state, so
// sign-ins started in two tabs do not overwrite each other.
func (o *OIDC) start(ctx context.Context, w http.ResponseWriter, next string) (string, error) {
	p, _, err := o.provider(ctx)
	if err != nil {
		return "", err
	}
	ls := loginState{State: randomString(32), Nonce: randomString(32), Verifier: oauth2.GenerateVerifier(), Next: next}
	payload, err := json.Marshal(ls)
	if err != nil {
		return "", fmt.Errorf("encode login state: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: loginCookiePrefix + ls.State, Value: o.login.seal("oidc-login", payload, o.now().Add(loginTTL)),
		// Lax, not Strict: the provider's redirect back is a cross-site
		// top-level GET, which Lax cookies accompany.
		Path: callbackPath, HttpOnly: true, Secure: o.secure, SameSite: http.SameSiteLaxMode, MaxAge: int(loginTTL.Seconds()),
	})
	return o.oauth(p).AuthCodeURL(ls.State, oidc.Nonce(ls.Nonce), oauth2.S256ChallengeOption(ls.Verifier)), nil
}

// authError is a refused sign-in: what the person is told, and for the log
// what actually went wrong.
type authError struct {
	status           int
	heading, message string
	err              error
}

func (e *authError) Error() string { return fmt.Sprintf("%s: %v", e.heading, e.err) }
func (e *authError) Unwrap() error { return e.err }

func refuse(status int, heading, message string, err error) *authError {
	return &authError{status: status, heading: heading, message: message, err: err}
}

const restartHint = "Start again from the sign-in page."

// finish completes a sign-in on the callback: it checks the state against
// the login cookie (once), exchanges the code with the PKCE verifier,
// verifies the ID token and its nonce, and maps the identity to a person.
// It returns who signed in and the local page to go to.
func (o *OIDC) finish(ctx context.Context, w http.ResponseWriter, r *http.Request) (who identity, next string, _ *authError) {
	q := r.URL.Query()
	state, code := q.Get("state"), q.Get("code")
	switch {
	case len(state) > maxState:
		return identity{}, "", refuse(http.StatusBadRequest, "Bad sign-in response", fmt.Sprintf("state: longer than %d characters.", maxState), errors.New("state too long"))
	case len(code) > maxCode:
		return identity{}, "", refuse(http.StatusBadRequest, "Bad sign-in response", fmt.Sprintf("code: longer than %d characters.", maxCode), errors.New("code too long"))
	}
	ls, exp, aerr := o.takeLoginState(w, r, state)
	if pe := q.Get("error"); pe != "" {
		// The provider said no (the person cancelled, or is not allowed to
		// use this app there); its description is shown, shortened.
		desc := q.Get("error_description")
		if len(desc) > 200 {
			desc = desc[:200] + "…"
		}
		return identity{}, "", refuse(http.StatusForbidden, "Sign-in refused", "The sign-in provider refused the sign-in: "+shorten(pe, 64)+" "+desc, fmt.Errorf("provider error %q", pe))
	}
	if aerr != nil {
		return identity{}, "", aerr
	}
	if code == "" {
		return identity{}, "", refuse(http.StatusBadRequest, "Bad sign-in response", "code: missing. "+restartHint, errors.New("no code"))
	}
	// A completed callback replayed is refused before its code goes to the
	// provider again. Only completed ones are remembered (below): anyone
	// can start a login and send a made-up code, and remembering those
	// would let them fill the store.
	replayed := func(err error) *authError {
		return refuse(http.StatusForbidden, "Sign-in already used", "This sign-in response was already used. "+restartHint, err)
	}
	if o.completed(ls.State) {
		return identity{}, "", replayed(errors.New("login state replayed"))
	}

	p, verifier, err := o.provider(ctx)
	if err != nil {
		return identity{}, "", refuse(http.StatusBadGateway, "Sign-in unavailable", "The sign-in provider could not be reached. Try again in a moment.", err)
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.httpc), 2*providerTimeout)
	defer cancel()
	tok, err := o.oauth(p).Exchange(ctx, code, oauth2.VerifierOption(ls.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return identity{}, "", refuse(http.StatusForbidden, "Sign-in refused", "The sign-in provider did not accept this sign-in. "+restartHint, fmt.Errorf("exchange code: %w", err))
		}
		return identity{}, "", refuse(http.StatusBadGateway, "Sign-in unavailable", "The sign-in provider could not be reached. Try again in a moment.", fmt.Errorf("exchange code: %w", err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return identity{}, "", refuse(http.StatusBadGateway, "Sign-in failed", "The sign-in provider sent no ID token.", errors.New("token response has no id_token"))
	}
	notVerified := func(err error) *authError {
		return refuse(http.StatusForbidden, "Sign-in refused", "The sign-in could not be verified. "+restartHint, err)
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return identity{}, "", notVerified(fmt.Errorf("verify ID token: %w", err))
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(ls.Nonce)) != 1 {
		return identity{}, "", notVerified(errors.New("verify ID token: nonce does not match the login state"))
	}
	// The provider issued an ID token for this very login: from here on the
	// state is used up, even if the person is then refused. Marking checks
	// again, so of two copies of a callback racing here one loses, even if
	// the provider redeemed its code twice.
	if err := o.markUsed(ls.State, exp); err != nil {
		return identity{}, "", replayed(err)
	}
	// at_hash ties the access token (used for userinfo below) to this ID token.
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return identity{}, "", notVerified(fmt.Errorf("verify access token: %w", err))
		}
	}
	claims, aerr := o.claims(ctx, p, idt, tok)
	if aerr != nil {
		return identity{}, "", aerr
	}
	who, aerr = o.identify(ctx, claims)
	if aerr != nil {
		return identity{}, "", aerr
	}
	if who.Worker {
		o.sessions.startWorker(w, who.ID)
		o.log.InfoContext(ctx, "signed in", "worker", who.ID, "subject", idt.Subject, "issuer", idt.Issuer)
	} else {
		o.sessions.start(w, who.ID)
		o.log.InfoContext(ctx, "signed in", "person", who.ID, "subject", idt.Subject, "issuer", idt.Issuer)
	}
	return who, ls.Next, nil
}

// takeLoginState reads and clears the login cookie for state.
func (o *OIDC) takeLoginState(w http.ResponseWriter, r *http.Request, state string) (loginState, time.Time, *authError) {
	expired := func(err error) *authError {
		return refuse(http.StatusForbidden, "Sign-in expired",
			"This sign-in was not started in this browser, has expired, or was already completed. "+restartHint, err)
	}
	if state == "" {
		return loginState{}, time.Time{}, refuse(http.StatusBadRequest, "Bad sign-in response", "state: missing. "+restartHint, errors.New("no state"))
	}
	ck, err := r.Cookie(loginCookiePrefix + state)
	if err != nil {
		return loginState{}, time.Time{}, expired(errors.New("no login cookie for this state"))
	}
	http.SetCookie(w, &http.Cookie{Name: ck.Name, Value: "", Path: callbackPath, HttpOnly: true, Secure: o.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	payload, exp, err := o.login.open("oidc-login", ck.Value, o.now())
	if err != nil {
		return loginState{}, time.Time{}, expired(fmt.Errorf("login cookie: %w", err))
	}
	var ls loginState
	if err := json.Unmarshal(payload, &ls); err != nil {
		return loginState{}, time.Time{}, expired(fmt.Errorf("login cookie: %w", err))
	}
	if subtle.ConstantTimeCompare([]byte(ls.State), []byte(state)) != 1 {
		return loginState{}, time.Time{}, expired(errors.New("login cookie is for another state"))
	}
	return ls, exp, nil
}

// completed says whether a login state was already used for a sign-in.
func (o *OIDC) completed(state string) bool {
	o.usedMu.Lock()
	defer o.usedMu.Unlock()
	_, ok := o.used[state]
	return ok
}

// markUsed records a login state whose ID token verified; a second use is
// refused. The store stays bounded by forgetting the oldest entries first:
// expired ones (their login cookie has expired too, so the callback is
// refused anyway), then, when still full, the oldest completed. Forgetting
// one early costs little: its code is already redeemed at the provider and
// only the browser holding its login cookie could send it again, whereas
// refusing new entries would lock everyone out.
func (o *OIDC) markUsed(state string, exp time.Time) error {
	o.usedMu.Lock()
	defer o.usedMu.Unlock()
	if _, dup := o.used[state]; dup {
		return errors.New("login state replayed")
	}
	now := o.now()
	for len(o.usedOrder) > 0 {
		oldest := o.usedOrder[0]
		if now.Before(o.used[oldest]) && len(o.used) < o.maxUsed {
			break
		}
		delete(o.used, oldest)
		o.usedOrder = o.usedOrder[1:]
	}
	o.used[state] = exp
	o.usedOrder = append(o.usedOrder, state)
	return nil
}

// claims returns the ID token's claims; when they lack the person claim or
// email_verified (providers may keep those for the userinfo endpoint, as
// OIDC Core 5.4 allows), the userinfo response for the same subject.
func (o *OIDC) claims(ctx context.Context, p *oidc.Provider, idt *oidc.IDToken, tok *oauth2.Token) (map[string]any, *authError) {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, refuse(http.StatusForbidden, "Sign-in refused", "The sign-in could not be read.", fmt.Errorf("decode ID token claims: %w", err))
	}
	if o.complete(claims) || p.UserInfoEndpoint() == "" {
		return claims, nil
	}
	ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return nil, refuse(http.StatusBadGateway, "Sign-in unavailable", "The sign-in provider did not say who you are. Try again in a moment.", fmt.Errorf("userinfo: %w", err))
	}
	// OIDC Core 5.3.2: userinfo for another subject must not be used.
	if ui.Subject != idt.Subject {
		return nil, refuse(http.StatusForbidden, "Sign-in refused", "The sign-in could not be verified. "+restartHint,
			fmt.Errorf("userinfo subject %q is not the ID token's %q", ui.Subject, idt.Subject))
	}
	var uc map[string]any
	if err := ui.Claims(&uc); err != nil {
		return nil, refuse(http.StatusBadGateway, "Sign-in failed", "The sign-in provider's answer could not be read.", fmt.Errorf("decode userinfo: %w", err))
	}
	// Both values come from the same answer, so a verified flag is never
	// paired with an address it was not about.
	claims[o.cfg.PersonClaim] = uc[o.cfg.PersonClaim]
	claims["email_verified"] = uc["email_verified"]
	return claims, nil
}

func (o *OIDC) complete(claims map[string]any) bool {
	v, _ := claims[o.cfg.PersonClaim].(string)
	if v == "" {
		return false
	}
	_, hasVerified := claims["email_verified"]
	return hasVerified
}

// identity is who signed in: a person of the organisation directory, or a
// field worker of the workforce directory.
type identity struct {
	ID     string
	Worker bool
}

// home is where someone signed in goes when nothing else is asked.
func (i identity) home() string {
	if i.Worker {
		return "/tasks"
	}
	return "/inbox"
}

// person maps the verified identity to a directory person by email (or, if
// field workers may sign in, to a worker).
func (o *OIDC) person(claims map[string]any) (string, *authError) {
	who, aerr := o.identify(context.Background(), claims)
	return who.ID, aerr
}

// identify maps the verified email to a person of the organisation
// directory, else to a field worker of the workforce directory.
func (o *OIDC) identify(ctx context.Context, claims map[string]any) (identity, *authError) {
	v, _ := claims[o.cfg.PersonClaim].(string)
	v = strings.TrimSpace(v)
	if v == "" {
		return identity{}, refuse(http.StatusForbidden, "Not allowed to sign in",
			fmt.Sprintf("Your sign-in does not say your %s, so it cannot be matched to a person here. Ask an administrator.", o.cfg.PersonClaim),
			fmt.Errorf("claim %q missing", o.cfg.PersonClaim))
	}
	shown := shorten(v, 254)
	// An unverified address could belong to anyone who typed it in at the
	// provider; it must not open someone's approvals. A missing flag counts
	// as unverified.
	if !isTrue(claims["email_verified"]) {
		return identity{}, refuse(http.StatusForbidden, "Not allowed to sign in",
			fmt.Sprintf("The sign-in provider has not verified the email address %s. Verify it there, then sign in again.", shown),
			fmt.Errorf("email %q not verified", v))
	}
	for _, p := range o.dir.People() {
		if strings.EqualFold(p.Email, v) {
			return identity{ID: p.ID}, nil
		}
	}
	if o.workers != nil {
		ws, err := o.workers.List(ctx)
		if err != nil {
			return identity{}, refuse(http.StatusBadGateway, "Sign-in unavailable", "The workforce directory could not be read. Try again in a moment.", fmt.Errorf("list workforce: %w", err))
		}
		for _, wk := range ws {
			if wk.Email != "" && strings.EqualFold(wk.Email, v) {
				return identity{ID: wk.ID, Worker: true}, nil
			}
		}
	}
	return identity{}, refuse(http.StatusForbidden, "Not allowed to sign in",
		fmt.Sprintf("%s is not in the organisation directory, so it cannot approve payments here. Ask an administrator to add it.", shown),
		fmt.Errorf("%s %q not in the directory", o.cfg.PersonClaim, v))
}

// isTrue accepts true and "true": some providers send email_verified as a string.
func isTrue(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return strings.EqualFold(b, "true")
	}
	return false
}

func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// ---- handlers ----

// home sends people to their inbox, field workers to their tasks, anyone
// else to sign in.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if who, ok := s.signedIn(r); ok {
		http.Redirect(w, r, who.home(), http.StatusSeeOther)
		return
	}
	next := r.URL.Query().Get("next")
	if len(next) > maxNext || !localPath(next) {
		next = ""
	}
	http.Redirect(w, r, s.signInURL(next), http.StatusSeeOther)
}

func (s *Server) oidcLogin(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if len(next) > maxNext {
		s.fail(w, r, http.StatusBadRequest, "Bad request", fmt.Sprintf("next: longer than %d characters.", maxNext))
		return
	}
	if !localPath(next) {
		next = ""
	}
	if who, ok := s.signedIn(r); ok {
		http.Redirect(w, r, orDefault(next, who.home()), http.StatusSeeOther)
		return
	}
	to, err := s.oidc.start(r.Context(), w, next)
	if err != nil {
		s.log.ErrorContext(r.Context(), "start sign-in", "err", err)
		s.fail(w, r, http.StatusBadGateway, "Sign-in unavailable", "The sign-in provider could not be reached. Try again in a moment.")
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	who, next, aerr := s.oidc.finish(r.Context(), w, r)
	if aerr != nil {
		level := slog.LevelWarn
		if aerr.status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "sign-in refused", "status", aerr.status, "err", aerr)
		s.fail(w, r, aerr.status, aerr.heading, aerr.message)
		return
	}
	http.Redirect(w, r, orDefault(next, who.home()), http.StatusSeeOther)
}

func (s *Server) oidcLogout(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r, map[string]int{csrfField: maxCSRF}) {
		return
	}
	if !s.csrf.valid(r) {
		s.fail(w, r, http.StatusForbidden, "Form expired", "The form's security token is missing or wrong. Reload the page and try again.")
		return
	}
	s.oidc.sessions.end(w)
	// No redirect to "/": it would send the person straight back through
	// the provider, which usually still remembers them.
	p := s.newPage(w, r, "Signed out", "")
	p.Data = failView{Status: http.StatusOK, Heading: "Signed out",
		Message: "You are signed out of the approval app. Your sign-in provider may still remember you; sign out there too on a shared computer."}
	s.render(w, r, http.StatusOK, "error", p)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
