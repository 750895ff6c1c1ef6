package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

// Authenticator says who is making a request. Identity comes only from here
// (and, for one page and one decision, from an emailed link token), so a
// later OIDC login replaces DevSessions without touching the handlers.
type Authenticator interface {
	Person(r *http.Request) (personID string, ok bool)
}

// SessionStarter is implemented by authenticators that let the app itself
// sign people in and out: the development person picker, and the sign-in that
// follows redeeming an emailed link.
type SessionStarter interface {
	SignIn(w http.ResponseWriter, personID string)
	SignOut(w http.ResponseWriter)
}

const (
	sessionCookie = "eo_session"
	csrfCookie    = "eo_csrf"
	csrfField     = "csrf"
)

// DevSessions is the development identity: a person picked on "/" is kept in
// an HMAC-signed cookie. Anyone can pick anyone; it exists so the approval
// flow can be tried end to end before real sign-in is wired up.
type DevSessions struct {
	key    []byte
	known  func(personID string) bool
	secure bool
	ttl    time.Duration
}

// NewDevSessions signs cookies with key; known rejects ids not in the
// directory (e.g. after the directory changed). secure sets the Secure flag.
func NewDevSessions(key []byte, known func(string) bool, secure bool) *DevSessions {
	return &DevSessions{key: key, known: known, secure: secure, ttl: 12 * time.Hour}
}

// Person implements Authenticator.
func (d *DevSessions) Person(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	// Person ids may contain '.', the base64url MAC never does.
	i := strings.LastIndexByte(c.Value, '.')
	if i < 0 {
		return "", false
	}
	id, mac := c.Value[:i], c.Value[i+1:]
	if !hmac.Equal([]byte(mac), []byte(sign(d.key, "session|"+id))) || !d.known(id) {
		return "", false
	}
	return id, true
}

// SignIn implements SessionStarter.
func (d *DevSessions) SignIn(w http.ResponseWriter, personID string) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: personID + "." + sign(d.key, "session|"+personID),
		Path: "/", HttpOnly: true, Secure: d.secure, SameSite: http.SameSiteLaxMode, MaxAge: int(d.ttl.Seconds()),
	})
}

// SignOut implements SessionStarter.
func (d *DevSessions) SignOut(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: d.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
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
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) >= 22 {
		return sign(c.key, "csrf|"+ck.Value)
	}
	nonce := randomString(16)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: nonce, Path: "/", HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
	return sign(c.key, "csrf|"+nonce)
}

// valid checks a submitted form against the cookie.
func (c csrf) valid(r *http.Request) bool {
	ck, err := r.Cookie(csrfCookie)
	if err != nil || len(ck.Value) < 22 {
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
