package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Authenticator says who is making a request. Identity comes only from here
// (and, for one page and one decision, from an emailed link token): OIDC in
// production, DevSessions (the person picker) in development.
type Authenticator interface {
	Person(r *http.Request) (personID string, ok bool)
}

// WorkerAuthenticator is implemented by authenticators that also sign in
// field workers (people of the workforce directory, not the organisation):
// a worker's session is sealed for another purpose than a person's, so
// one is never taken for the other.
type WorkerAuthenticator interface {
	Worker(r *http.Request) (workerID string, ok bool)
}

// SessionStarter is implemented by authenticators that let the app itself
// sign people in and out: the development person picker.
type SessionStarter interface {
	SignIn(w http.ResponseWriter, personID string)
	SignOut(w http.ResponseWriter)
}

const (
	sessionCookie = "eo_session"
	csrfCookie    = "eo_csrf"
	csrfField     = "csrf"
)

// Why a sealed value was refused; callers mostly only log these.
var (
	errSealMalformed = errors.New("malformed value")
	errSealSignature = errors.New("bad signature")
	errSealExpired   = errors.New("expired")
)

// sealer signs small values that carry their own expiry, so a copied cookie
// stops working on its own even if the browser keeps it past MaxAge. The
// purpose is part of the MAC: a value sealed for one use (say the OIDC login
// state) is never accepted as another (a session).
type sealer struct{ key []byte }

// seal returns base64url(payload) "." unix-expiry "." base64url(MAC).
func (s sealer) seal(purpose string, payload []byte, exp time.Time) string {
	p := base64.RawURLEncoding.EncodeToString(payload)
	e := strconv.FormatInt(exp.Unix(), 10)
	return p + "." + e + "." + sign(s.key, purpose+"|"+p+"|"+e)
}

// open checks a sealed value and returns its payload and expiry.
func (s sealer) open(purpose, v string, now time.Time) ([]byte, time.Time, error) {
	// Cookies are capped by MaxHeaderBytes already; this keeps a hostile
	// value from costing more than a few microseconds.
	if len(v) > 4096 {
		return nil, time.Time{}, errSealMalformed
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return nil, time.Time{}, errSealMalformed
	}
	p, e, mac := parts[0], parts[1], parts[2]
	if !hmac.Equal([]byte(mac), []byte(sign(s.key, purpose+"|"+p+"|"+e))) {
		return nil, time.Time{}, errSealSignature
	}
	unix, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return nil, time.Time{}, errSealMalformed
	}
	exp := time.Unix(unix, 0)
	if !now.Before(exp) {
		return nil, exp, errSealExpired
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil, time.Time{}, errSealMalformed
	}
	return payload, exp, nil
}

// sessions is the signed session cookie both authenticators use: the person
// id and an expiry under an HMAC. purpose differs per authenticator, so a
// development session is never an OIDC one.
type sessions struct {
	seal    sealer
	purpose string
	known   func(personID string) bool
	// knownWorker says whether a worker id is in the workforce directory;
	// nil means workers cannot sign in.
	knownWorker func(ctx context.Context, workerID string) bool
	secure      bool
	ttl         time.Duration
	now         func() time.Time
}

// workerPurpose seals a worker's session: a person's session does not open
// as a worker's, nor the other way round.
func (s sessions) workerPurpose() string { return s.purpose + "|worker" }

func (s sessions) person(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	id, _, err := s.seal.open(s.purpose, c.Value, s.now())
	// known rejects people removed from the directory since they signed in.
	if err != nil || len(id) == 0 || !s.known(string(id)) {
		return "", false
	}
	return string(id), true
}

func (s sessions) worker(r *http.Request) (string, bool) {
	if s.knownWorker == nil {
		return "", false
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	id, _, err := s.seal.open(s.workerPurpose(), c.Value, s.now())
	// knownWorker rejects workers removed from the workforce since.
	if err != nil || len(id) == 0 || !s.knownWorker(r.Context(), string(id)) {
		return "", false
	}
	return string(id), true
}

func (s sessions) start(w http.ResponseWriter, personID string) {
	s.startAs(w, s.purpose, personID)
}

func (s sessions) startWorker(w http.ResponseWriter, workerID string) {
	s.startAs(w, s.workerPurpose(), workerID)
}

func (s sessions) startAs(w http.ResponseWriter, purpose, id string) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: s.seal.seal(purpose, []byte(id), s.now().Add(s.ttl)),
		Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: int(s.ttl.Seconds()),
	})
}

func (s sessions) end(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// DevSessions is the development identity: a person picked on "/" is kept in
// a signed, expiring cookie. Anyone can pick anyone, so the server serves it
// only with Config.DevIdentity and shows a warning banner on every page.
type DevSessions struct{ s sessions }

// NewDevSessions signs cookies with key; known rejects ids not in the
// directory (e.g. after the directory changed). secure sets the Secure flag;
// now is the clock session expiry is checked against.
func NewDevSessions(key []byte, known func(string) bool, secure bool, now func() time.Time) *DevSessions {
	return &DevSessions{s: sessions{seal: sealer{key}, purpose: "session|dev", known: known, secure: secure, ttl: 12 * time.Hour, now: now}}
}

// Person implements Authenticator.
func (d *DevSessions) Person(r *http.Request) (string, bool) { return d.s.person(r) }

// SignIn implements SessionStarter.
func (d *DevSessions) SignIn(w http.ResponseWriter, personID string) { d.s.start(w, personID) }

// SignOut implements SessionStarter.
func (d *DevSessions) SignOut(w http.ResponseWriter) { d.s.end(w) }

// WithWorkers lets field workers sign in too; known rejects ids not in the
// workforce directory. It returns d.
func (d *DevSessions) WithWorkers(known func(ctx context.Context, workerID string) bool) *DevSessions {
	d.s.knownWorker = known
	return d
}

// Worker implements WorkerAuthenticator.
func (d *DevSessions) Worker(r *http.Request) (string, bool) { return d.s.worker(r) }

// SignInWorker starts a field worker's session (the picker's "field
// worker" buttons).
func (d *DevSessions) SignInWorker(w http.ResponseWriter, workerID string) {
	d.s.startWorker(w, workerID)
}

// csrf implements the per-browser-session CSRF token: a random nonce in a
// cookie, and in forms the HMAC of that nonce. A cross-site page can make the
// browser send the cookie but can neither read it nor compute the field. This
// backs up http.CrossOriginProtection for browsers that send neither
// Sec-Fetch-Site nor Origin.
type csrf struct {
	key    []byte
	secure bool
}

// token returns the form value for this browser, setting the cookie if needed.
func (c csrf) token(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) >= 22 && len(ck.Value) <= 64 {
		return sign(c.key, "csrf|"+ck.Value)
	}
	nonce := randomString(16)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: nonce, Path: "/", HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
	return sign(c.key, "csrf|"+nonce)
}

// valid checks a submitted form against the cookie.
func (c csrf) valid(r *http.Request) bool {
	ck, err := r.Cookie(csrfCookie)
	if err != nil || len(ck.Value) < 22 || len(ck.Value) > 64 {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(sign(c.key, "csrf|"+ck.Value)))
}

func sign(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func randomString(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
