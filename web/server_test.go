package web

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/linktoken"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/workflows"
)

const (
	wfID   = "vendor-payment-INV-1001"
	digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fakeWorkflows keeps one awaiting payment and records decisions.
type fakeWorkflows struct {
	mu        sync.Mutex
	status    map[string]workflows.VendorPaymentStatus
	approveFn func(workflowID string, req workflows.ApprovalRequest) error
	calls     []workflows.ApprovalRequest
}

func newFake() *fakeWorkflows {
	since := t0
	return &fakeWorkflows{status: map[string]workflows.VendorPaymentStatus{wfID: {
		Stage: workflows.StageAwaitingApproval, InvoiceID: "INV-1001", RequestedBy: "ana", ActionDigest: digest,
		Action: &action.Payment{
			Kind: action.KindVendorPayment, InvoiceID: "INV-1001", VendorID: "V-7", VendorName: "Acme <Tools> & Co",
			AmountMinor: 4800000, Currency: "EUR", Reference: "Invoice INV-1001",
			Beneficiary: erp.BankAccount{IBAN: "DE89370400440532013000", BIC: "COBADEFFXXX", AccountHolder: "Acme Tools GmbH"},
		},
		ApprovalReason:   "48 000.00 EUR is above the finance-manager limit of 25 000.00 EUR: finance-manager then cfo",
		AmountMinor:      4800000,
		Currency:         "EUR",
		PendingApprovers: []string{"maria", "omar"},
		AwaitingSince:    &since,
	}}}
}

func (f *fakeWorkflows) PendingApprovals(_ context.Context, personID string) ([]client.PendingApproval, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []client.PendingApproval
	for id, st := range f.status {
		for _, p := range st.PendingApprovers {
			if p == personID {
				out = append(out, client.PendingApproval{WorkflowID: id, InvoiceID: st.InvoiceID, VendorName: st.Action.VendorName,
					AmountMinor: st.AmountMinor, Currency: st.Currency, AwaitingSince: st.AwaitingSince, ActionDigest: st.ActionDigest})
			}
		}
	}
	return out, nil
}

func (f *fakeWorkflows) Status(_ context.Context, workflowID string) (workflows.VendorPaymentStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.status[workflowID]
	if !ok {
		return st, errNotFound
	}
	return st, nil
}

// Approve mimics the workflow: a validator checking digest and approver,
// then recording the decision.
func (f *fakeWorkflows) Approve(_ context.Context, workflowID string, req workflows.ApprovalRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, req)
	if f.approveFn != nil {
		return f.approveFn(workflowID, req)
	}
	st, ok := f.status[workflowID]
	if !ok {
		return client.ErrNotRunning
	}
	if req.ActionDigest != st.ActionDigest {
		return &client.ApprovalRefusedError{WorkflowID: workflowID, Reason: "actionDigest does not match the current payment"}
	}
	idx := -1
	for i, p := range st.PendingApprovers {
		if p == req.Approver {
			idx = i
		}
	}
	if idx < 0 {
		return &client.ApprovalRefusedError{WorkflowID: workflowID, Reason: req.Approver + " is not a pending approver"}
	}
	st.Approvals = append(st.Approvals, workflows.Approval{Slot: "finance-manager", Approver: req.Approver, Decision: req.Decision,
		Comment: req.Comment, ActionDigest: req.ActionDigest, At: t0.Add(time.Hour)})
	st.PendingApprovers = []string{"chen"}
	f.status[workflowID] = st
	return nil
}

func (f *fakeWorkflows) decisions() []workflows.ApprovalRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]workflows.ApprovalRequest(nil), f.calls...)
}

type harness struct {
	t     *testing.T
	srv   *httptest.Server
	fake  *fakeWorkflows
	links *linktoken.Store
	now   time.Time
	c     *http.Client
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	h := &harness{t: t, fake: newFake(), now: t0.Add(3*time.Hour + 12*time.Minute)}
	links, err := linktoken.Open(context.Background(), "", filepath.Join(t.TempDir(), "links.db"), func() time.Time { return h.now })
	require.NoError(t, err)
	t.Cleanup(func() { links.Close() })
	h.links = links
	s, err := New(Config{Workflows: h.fake, Directory: dir, Links: links, Now: func() time.Time { return h.now }, SecretKey: []byte("test-key")})
	require.NoError(t, err)
	h.srv = httptest.NewServer(s.Handler())
	t.Cleanup(h.srv.Close)
	h.c = newClient(t)
	return h
}

func newClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type resp struct {
	code     int
	body     string
	location string
}

func (h *harness) get(c *http.Client, path string) resp {
	h.t.Helper()
	r, err := c.Get(h.srv.URL + path)
	require.NoError(h.t, err)
	return read(h.t, r)
}

func (h *harness) post(c *http.Client, path string, form url.Values, header ...string) resp {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(form.Encode()))
	require.NoError(h.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	r, err := c.Do(req)
	require.NoError(h.t, err)
	return read(h.t, r)
}

func read(t *testing.T, r *http.Response) resp {
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	return resp{code: r.StatusCode, body: string(b), location: r.Header.Get("Location")}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	m := csrfRE.FindStringSubmatch(body)
	require.NotNil(t, m, "page has no csrf field")
	return html.UnescapeString(m[1])
}

// signIn picks a person on the picker like a browser would.
func (h *harness) signIn(c *http.Client, person string) {
	h.t.Helper()
	page := h.get(c, "/")
	require.Equal(h.t, http.StatusOK, page.code)
	r := h.post(c, "/session", url.Values{"person": {person}, "csrf": {csrfOf(h.t, page.body)}})
	require.Equal(h.t, http.StatusSeeOther, r.code, r.body)
	require.Equal(h.t, "/inbox", r.location)
}

func TestHealthz(t *testing.T) {
	h := newHarness(t)
	r := h.get(h.c, "/healthz")
	assert.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, "ok\n", r.body)
}

func TestPickerAndSignIn(t *testing.T) {
	h := newHarness(t)
	page := h.get(h.c, "/")
	require.Equal(t, http.StatusOK, page.code)
	for _, name := range []string{"Maria Rossi", "Chen Wei", "Omar Haddad", "absent"} {
		assert.Contains(t, page.body, name)
	}
	csrf := csrfOf(t, page.body)

	tests := []struct {
		name     string
		form     url.Values
		header   []string
		wantCode int
		wantBody string
	}{
		{"unknown person", url.Values{"person": {"bob"}, "csrf": {csrf}}, nil, http.StatusBadRequest, `person: &#34;bob&#34; is not in the directory`},
		{"missing csrf", url.Values{"person": {"maria"}}, nil, http.StatusForbidden, "security token"},
		{"wrong csrf", url.Values{"person": {"maria"}, "csrf": {"forged"}}, nil, http.StatusForbidden, "security token"},
		{"cross-site", url.Values{"person": {"maria"}, "csrf": {csrf}}, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, "Cross-site request refused"},
		{"cross origin", url.Values{"person": {"maria"}, "csrf": {csrf}}, []string{"Origin", "https://evil.example"}, http.StatusForbidden, "Cross-site request refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.post(h.c, "/session", tt.form, tt.header...)
			assert.Equal(t, tt.wantCode, r.code)
			assert.Contains(t, r.body, tt.wantBody)
		})
	}
	// Not signed in by any of the refused attempts.
	assert.Equal(t, http.StatusSeeOther, h.get(h.c, "/inbox").code)

	h.signIn(h.c, "maria")
	inbox := h.get(h.c, "/inbox")
	require.Equal(t, http.StatusOK, inbox.code)
	assert.Contains(t, inbox.body, "Signed in as <strong>Maria Rossi</strong>")

	// A tampered session cookie is not a session.
	u, _ := url.Parse(h.srv.URL)
	h.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: "chen.AAAA", Path: "/"}})
	assert.Equal(t, http.StatusSeeOther, h.get(h.c, "/inbox").code)
}

func TestSignInRedirectsOnlyLocally(t *testing.T) {
	h := newHarness(t)
	page := h.get(h.c, "/?next=/approvals/"+wfID)
	assert.Contains(t, page.body, `name="next" value="/approvals/`+wfID+`"`)
	csrf := csrfOf(t, page.body)
	for next, want := range map[string]string{
		"/approvals/" + wfID:   "/approvals/" + wfID,
		"//evil.example/x":     "/inbox",
		"https://evil.example": "/inbox",
		`/\evil.example`:       "/inbox",
		"/\t/evil.example":     "/inbox", // browsers drop the tab: //evil.example
		"/\n/evil.example":     "/inbox",
	} {
		r := h.post(h.c, "/session", url.Values{"person": {"maria"}, "csrf": {csrf}, "next": {next}})
		assert.Equal(t, want, r.location, next)
	}
}

func TestInbox(t *testing.T) {
	h := newHarness(t)
	r := h.get(h.c, "/inbox")
	assert.Equal(t, http.StatusSeeOther, r.code, "inbox needs a signed-in person")
	assert.Equal(t, "/", r.location)

	h.signIn(h.c, "maria")
	r = h.get(h.c, "/inbox")
	require.Equal(t, http.StatusOK, r.code)
	assert.Contains(t, r.body, "INV-1001")
	assert.Contains(t, r.body, "Acme &lt;Tools&gt; &amp; Co", "vendor name is escaped")
	assert.NotContains(t, r.body, "<Tools>")
	assert.Contains(t, r.body, "48 000.00 EUR")
	assert.Contains(t, r.body, "3h 12m")
	assert.Contains(t, r.body, `href="/approvals/`+wfID+`"`)

	other := newClient(t)
	h.signIn(other, "ana")
	r = h.get(other, "/inbox")
	assert.Contains(t, r.body, "Nothing is waiting for your approval")
}

func TestDetailShowsExactlyWhatExecutes(t *testing.T) {
	h := newHarness(t)
	r := h.get(h.c, "/approvals/"+wfID)
	assert.Equal(t, http.StatusSeeOther, r.code)
	assert.Equal(t, "/?next=%2Fapprovals%2F"+wfID, r.location)

	h.signIn(h.c, "maria")
	r = h.get(h.c, "/approvals/"+wfID)
	require.Equal(t, http.StatusOK, r.code)
	for _, want := range []string{
		"Acme &lt;Tools&gt; &amp; Co", "V-7", "Acme Tools GmbH", "DE89370400440532013000", "COBADEFFXXX",
		"48 000.00 EUR", "Invoice INV-1001", digest,
		"48 000.00 EUR is above the finance-manager limit of 25 000.00 EUR: finance-manager then cfo",
		"Maria Rossi", "Omar Haddad", "No decisions yet", "3h 12m",
		`name="actionDigest" value="` + digest + `"`, `value="approve"`, `value="reject"`,
	} {
		assert.Contains(t, r.body, want)
	}
	assert.NotContains(t, r.body, `name="token"`)
	assert.NotContains(t, r.body, "<script", "no JavaScript")

	// Someone who is not a pending approver sees the payment but no form.
	ana := newClient(t)
	h.signIn(ana, "ana")
	r = h.get(ana, "/approvals/"+wfID)
	require.Equal(t, http.StatusOK, r.code)
	assert.Contains(t, r.body, "You are not one of the pending approvers")
	assert.NotContains(t, r.body, `value="approve"`)

	r = h.get(h.c, "/approvals/vendor-payment-NOPE")
	assert.Equal(t, http.StatusNotFound, r.code)
	assert.Empty(t, h.fake.decisions(), "GET never acts")
}

func TestDecideWithSession(t *testing.T) {
	h := newHarness(t)
	h.signIn(h.c, "maria")
	page := h.get(h.c, "/approvals/"+wfID)
	csrf := csrfOf(t, page.body)

	r := h.post(h.c, "/approvals/"+wfID, url.Values{"csrf": {csrf}, "decision": {"approve"}, "actionDigest": {digest}, "comment": {"  looks right  "}})
	require.Equal(t, http.StatusSeeOther, r.code, r.body)
	assert.Equal(t, "/approvals/"+wfID+"?recorded=approve", r.location)
	assert.Equal(t, []workflows.ApprovalRequest{{Decision: "approve", Approver: "maria", Comment: "looks right", ActionDigest: digest}}, h.fake.decisions())

	r = h.get(h.c, r.location)
	require.Equal(t, http.StatusOK, r.code)
	assert.Contains(t, r.body, "Your approval was recorded")
	assert.Contains(t, r.body, "approved")
	assert.Contains(t, r.body, "looks right")
	assert.Contains(t, r.body, "Chen Wei", "next pending approver is shown")
	assert.Contains(t, r.body, "You are not one of the pending approvers", "maria cannot decide twice")
}

func TestDecideRefusals(t *testing.T) {
	tests := []struct {
		name      string
		form      func(csrf string) url.Values
		header    []string
		approveFn func(string, workflows.ApprovalRequest) error
		wantCode  int
		wantBody  string
		wantCalls int
	}{
		{name: "stale digest is refused by the workflow and shown", wantCode: http.StatusUnprocessableEntity, wantCalls: 1,
			form: func(c string) url.Values {
				return url.Values{"csrf": {c}, "decision": {"approve"}, "actionDigest": {"sha256:old"}, "comment": {"my note"}}
			},
			wantBody: "actionDigest does not match the current payment"},
		{name: "missing csrf", wantCode: http.StatusForbidden, wantBody: "security token",
			form: func(string) url.Values { return url.Values{"decision": {"approve"}, "actionDigest": {digest}} }},
		{name: "cross-site post", wantCode: http.StatusForbidden, wantBody: "Cross-site request refused", header: []string{"Sec-Fetch-Site", "cross-site"},
			form: func(c string) url.Values {
				return url.Values{"csrf": {c}, "decision": {"approve"}, "actionDigest": {digest}}
			}},
		{name: "bad decision", wantCode: http.StatusBadRequest, wantBody: "decision: &#34;maybe&#34; is not approve or reject",
			form: func(c string) url.Values {
				return url.Values{"csrf": {c}, "decision": {"maybe"}, "actionDigest": {digest}}
			}},
		{name: "missing digest", wantCode: http.StatusBadRequest, wantBody: "actionDigest: missing",
			form: func(c string) url.Values { return url.Values{"csrf": {c}, "decision": {"approve"}} }},
		{name: "workflow finished", wantCode: http.StatusConflict, wantBody: "no longer waiting", wantCalls: 1,
			approveFn: func(string, workflows.ApprovalRequest) error { return client.ErrNotRunning },
			form: func(c string) url.Values {
				return url.Values{"csrf": {c}, "decision": {"approve"}, "actionDigest": {digest}}
			}},
		{name: "temporal down", wantCode: http.StatusBadGateway, wantBody: "may not have been recorded", wantCalls: 1,
			approveFn: func(string, workflows.ApprovalRequest) error { return errors.New("connection refused") },
			form: func(c string) url.Values {
				return url.Values{"csrf": {c}, "decision": {"approve"}, "actionDigest": {digest}}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.approveFn = tt.approveFn
			h.signIn(h.c, "maria")
			csrf := csrfOf(t, h.get(h.c, "/approvals/"+wfID).body)
			r := h.post(h.c, "/approvals/"+wfID, tt.form(csrf), tt.header...)
			assert.Equal(t, tt.wantCode, r.code)
			assert.Contains(t, r.body, tt.wantBody)
			assert.Len(t, h.fake.decisions(), tt.wantCalls)
		})
	}

	t.Run("refusal keeps the form and comment", func(t *testing.T) {
		h := newHarness(t)
		h.signIn(h.c, "maria")
		csrf := csrfOf(t, h.get(h.c, "/approvals/"+wfID).body)
		r := h.post(h.c, "/approvals/"+wfID, url.Values{"csrf": {csrf}, "decision": {"approve"}, "actionDigest": {"sha256:old"}, "comment": {"<b>note</b>"}})
		require.Equal(t, http.StatusUnprocessableEntity, r.code)
		assert.Contains(t, r.body, "&lt;b&gt;note&lt;/b&gt;</textarea>")
		assert.Contains(t, r.body, `name="actionDigest" value="`+digest+`"`, "the retry uses the current digest")
	})

	t.Run("not signed in", func(t *testing.T) {
		h := newHarness(t)
		csrf := csrfOf(t, h.get(h.c, "/").body)
		r := h.post(h.c, "/approvals/"+wfID, url.Values{"csrf": {csrf}, "decision": {"approve"}, "actionDigest": {digest}})
		assert.Equal(t, http.StatusUnauthorized, r.code)
		assert.Empty(t, h.fake.decisions())
	})
}

var tokenFieldRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

func TestEmailedLink(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tok, err := h.links.Issue(ctx, "maria", wfID, digest, 24*time.Hour)
	require.NoError(t, err)

	// Opening the link (twice, as mail scanners do) shows the page as maria
	// without consuming the token.
	for range 2 {
		r := h.get(h.c, "/approvals/"+wfID+"?token="+tok)
		require.Equal(t, http.StatusOK, r.code)
		assert.Contains(t, r.body, "You opened this from an emailed link as <strong>Maria Rossi</strong>")
		m := tokenFieldRE.FindStringSubmatch(r.body)
		require.NotNil(t, m)
		assert.Equal(t, tok, m[1])
	}
	_, err = h.links.Peek(ctx, tok)
	require.NoError(t, err, "GET must not consume the token")

	// The token stands in for the CSRF field (a cross-site page cannot know it).
	r := h.post(h.c, "/approvals/"+wfID, url.Values{"token": {tok}, "decision": {"approve"}, "actionDigest": {digest}, "comment": {"via mail"}})
	require.Equal(t, http.StatusOK, r.code, r.body)
	assert.Equal(t, []workflows.ApprovalRequest{{Decision: "approve", Approver: "maria", Comment: "via mail", ActionDigest: digest}}, h.fake.decisions())
	// The answer shows the result at once ...
	assert.Contains(t, r.body, "Your approval was recorded")

	// ... but the link signed nobody in: a forwarded link never opens an inbox.
	r = h.get(h.c, "/inbox")
	assert.Equal(t, http.StatusSeeOther, r.code, "inbox after a link decision must ask to sign in")

	// Reuse is refused, on GET and POST.
	r = h.get(newClient(t), "/approvals/"+wfID+"?token="+tok)
	assert.Equal(t, http.StatusForbidden, r.code)
	assert.Contains(t, r.body, "already been used")
	r = h.post(newClient(t), "/approvals/"+wfID, url.Values{"token": {tok}, "decision": {"approve"}, "actionDigest": {digest}})
	assert.Equal(t, http.StatusForbidden, r.code)
	assert.Contains(t, r.body, "already been used")
	assert.Len(t, h.fake.decisions(), 1)
}

func TestEmailedLinkRefusals(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(h *harness) (token, path, digest string)
		wantBody string
	}{
		{"forged", func(h *harness) (string, string, string) {
			return strings.Repeat("x", 43), "/approvals/" + wfID, digest
		}, "not valid"},
		{"expired", func(h *harness) (string, string, string) {
			tok, err := h.links.Issue(context.Background(), "maria", wfID, digest, time.Minute)
			require.NoError(h.t, err)
			h.now = h.now.Add(2 * time.Minute)
			return tok, "/approvals/" + wfID, digest
		}, "expired"},
		{"other workflow", func(h *harness) (string, string, string) {
			tok, err := h.links.Issue(context.Background(), "maria", "vendor-payment-OTHER", digest, time.Hour)
			require.NoError(h.t, err)
			return tok, "/approvals/" + wfID, digest
		}, "different payment"},
		{"other digest", func(h *harness) (string, string, string) {
			tok, err := h.links.Issue(context.Background(), "maria", wfID, "sha256:previous", time.Hour)
			require.NoError(h.t, err)
			return tok, "/approvals/" + wfID, digest
		}, "different payment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tok, path, dg := tt.setup(h)
			if tt.name != "other digest" { // the GET only checks the workflow; the digest is bound at POST
				r := h.get(h.c, path+"?token="+url.QueryEscape(tok))
				assert.Equal(t, http.StatusForbidden, r.code)
				assert.Contains(t, r.body, tt.wantBody)
			}
			r := h.post(h.c, path, url.Values{"token": {tok}, "decision": {"approve"}, "actionDigest": {dg}})
			assert.Equal(t, http.StatusForbidden, r.code)
			assert.Contains(t, r.body, tt.wantBody)
			assert.Empty(t, h.fake.decisions())
		})
	}
}

func TestSignOut(t *testing.T) {
	h := newHarness(t)
	h.signIn(h.c, "maria")
	page := h.get(h.c, "/inbox")
	r := h.post(h.c, "/session/end", url.Values{"csrf": {csrfOf(t, page.body)}})
	assert.Equal(t, http.StatusSeeOther, r.code)
	assert.Equal(t, http.StatusSeeOther, h.get(h.c, "/inbox").code)
}

func TestSecurityHeadersAndNotFound(t *testing.T) {
	h := newHarness(t)
	res, err := h.c.Get(h.srv.URL + "/nope")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	assert.Contains(t, res.Header.Get("Content-Security-Policy"), "default-src 'none'")
	assert.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))
}

func TestAgo(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "less than a minute"}, {5 * time.Minute, "5m"}, {3*time.Hour + 12*time.Minute, "3h 12m"}, {50 * time.Hour, "2d 2h"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ago(tt.d))
	}
}

func TestNewValidatesConfig(t *testing.T) {
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	_, err = New(Config{Workflows: newFake()})
	assert.ErrorContains(t, err, "Directory is required")
	_, err = New(Config{Directory: dir})
	assert.ErrorContains(t, err, "Temporal is required")
}
