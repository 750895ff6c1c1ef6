package integration

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
	"github.com/execution-orchestrator/orchestrator/web/oidctest"
)

// redirect GETs path and returns the status and Location, for answers that
// send the browser elsewhere.
func (b *browser) redirect(path string) (int, string) {
	b.t.Helper()
	res, err := b.hc.Get(b.base + path)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

// oidcLogin signs maria in through the stack's OpenID provider.
func oidcLogin(t *testing.T, s *stack.Stack, b *browser) {
	t.Helper()
	res := oidctest.Login(t, b.hc, s.WebURL, "maria", stack.OIDCPassword)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/inbox" {
		body, _ := io.ReadAll(res.Body) // buffered by Login
		t.Fatalf("sign-in callback: %d to %q, want 303 to /inbox\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
}

// nothingDecided fails unless the workflow still awaits maria with no
// decision recorded and treasury holds no payment.
func nothingDecided(t *testing.T, s *stack.Stack, id, invoice string) {
	t.Helper()
	if st := approvalsOf(t, s, id); len(st.Approvals) != 0 || !strings.Contains(strings.Join(st.PendingApprovers, ","), "maria") {
		t.Fatalf("a refused request changed the approvals: %+v", st)
	}
	if payments := paymentsFor(t, s, invoice); len(payments) != 0 {
		t.Fatalf("paid before anyone approved: %v", payments)
	}
}

// With OpenID Connect instead of the development picker, maria signs in at
// the provider and approves on the web form; the web app's assertion says
// "oidc", the workflow accepts it and pays once. Without a session the same
// form is refused: the CSRF token and digest are not a sign-in.
func TestApproveAfterOIDCSignInPays(t *testing.T) {
	s := stack.Start(t, stack.Options{OIDC: true})
	if s.OIDC == nil {
		t.Fatal("Options.OIDC started no provider")
	}
	run := start(t, s, sandbox.InvoiceMedium)
	st := awaiting(t, s, run.GetID(), "maria")
	detail := "/approvals/" + run.GetID()
	approve := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "decision": {"approve"}, "actionDigest": {st.ActionDigest}, "comment": {"checked against the PO"}}
	}

	// A browser that never signed in: no picker, pages send it to the
	// provider's sign-in, and a decision is refused.
	stranger := newBrowser(t, s.WebURL)
	for _, tt := range []struct{ path, want string }{
		{"/", "/login"},
		{"/inbox", "/login"},
		{detail, "/login?next=" + url.QueryEscape(detail)},
	} {
		if code, loc := stranger.redirect(tt.path); code != http.StatusSeeOther || loc != tt.want {
			t.Errorf("GET %s not signed in: %d to %q, want 303 to %q", tt.path, code, loc, tt.want)
		}
	}
	if code, _ := stranger.do(http.MethodPost, "/session", url.Values{"person": {"maria"}}); code != http.StatusNotFound {
		t.Errorf("development picker POST /session: %d, want 404 with OpenID sign-in", code)
	}
	if code, body := stranger.do(http.MethodPost, detail, approve("no-session")); code != http.StatusUnauthorized {
		t.Fatalf("decision without signing in: %d, want 401\n%s", code, body)
	}
	nothingDecided(t, s, run.GetID(), sandbox.InvoiceMedium)

	b := newBrowser(t, s.WebURL)
	oidcLogin(t, s, b)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, inbox := b.do(http.MethodGet, "/inbox", nil)
		if code == http.StatusOK && strings.Contains(inbox, sandbox.InvoiceMedium) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("inbox (%d) never listed %s:\n%s", code, sandbox.InvoiceMedium, inbox)
		}
		time.Sleep(200 * time.Millisecond)
	}
	code, page := b.do(http.MethodGet, detail, nil)
	if code != http.StatusOK || match(t, digestRE, page) != st.ActionDigest {
		t.Fatalf("detail page %d does not carry digest %s", code, st.ActionDigest)
	}
	if !strings.Contains(page, `<span class="muted">(maria)</span>`) || strings.Contains(page, "dev-identity") {
		t.Fatalf("detail page is not maria's real sign-in:\n%s", page)
	}
	csrf := match(t, csrfRE, page)

	// Signed out, the same browser still holds a valid CSRF pair and the
	// digest; the decision is refused all the same.
	if code, body := b.do(http.MethodPost, "/logout", url.Values{"csrf": {csrf}}); code != http.StatusOK {
		t.Fatalf("sign out: %d\n%s", code, body)
	}
	if code, body := b.do(http.MethodPost, detail, approve(csrf)); code != http.StatusUnauthorized {
		t.Fatalf("decision after signing out: %d, want 401\n%s", code, body)
	}
	nothingDecided(t, s, run.GetID(), sandbox.InvoiceMedium)

	oidcLogin(t, s, b)
	_, page = b.do(http.MethodGet, detail, nil)
	if code, body := b.do(http.MethodPost, detail, approve(match(t, csrfRE, page))); code != http.StatusSeeOther {
		t.Fatalf("approve: %d\n%s", code, body)
	}
	res := result(t, s, run)
	if res.Outcome != vendorpayment.OutcomePaid || len(res.Approvals) != 1 || res.Approvals[0].Approver != "maria" {
		t.Fatalf("result = %+v", res)
	}
	if p := res.Approvals[0].Proof; p == nil || p.Method != proof.MethodOIDC {
		t.Fatalf("approval proof = %+v, want method %q", p, proof.MethodOIDC)
	}
	onePayment(t, s, sandbox.InvoiceMedium)
}
