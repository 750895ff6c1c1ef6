package web

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
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

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/linktoken"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
)

const (
	wfID   = "vendor-payment-INV-1001"
	runID  = "run-1"
	digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	wfType = "VendorPayment"
)

// testTypes are the workflow types the test app knows.
var testTypes = []string{wfType, "OverdueInvoiceDetector"}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fakeWorkflows keeps one awaiting payment and records decisions. status
// is what the workflow's query answers; execs what Temporal records.
type fakeWorkflows struct {
	mu        sync.Mutex
	status    map[string]approvals.Status
	execs     map[string]Execution
	approveFn func(workflowID string, req approvals.Request) error
	calls     []approvals.Request
}

func newFake() *fakeWorkflows {
	since := t0
	f := &fakeWorkflows{status: map[string]approvals.Status{wfID: {
		Process: "vendor-payment", WorkflowID: wfID, BusinessKey: "INV-1001", Title: "Pay 48 000.00 EUR to Acme <Tools> & Co (invoice INV-1001)",
		RunID: runID, AwaitingSlot: "finance-manager",
		Stage: approvals.StageAwaitingApproval, RequestedBy: "ana", ActionDigest: digest, Kind: "vendor-payment", Target: "V-7",
		// As the query answer arrives: the action decoded from JSON.
		Action: map[string]any{
			"invoiceId": "INV-1001", "vendorId": "V-7", "vendorName": "Acme <Tools> & Co",
			"amountMinor": 4800000, "currency": "EUR", "reference": "Invoice INV-1001",
			"beneficiary": map[string]any{"iban": "DE89370400440532013000", "bic": "COBADEFFXXX", "accountHolder": "Acme Tools GmbH"},
		},
		ApprovalReason:   "48 000.00 EUR is above the finance-manager limit of 25 000.00 EUR: finance-manager then cfo",
		AmountMinor:      4800000,
		Currency:         "EUR",
		PendingApprovers: []string{"maria", "omar"},
		AwaitingSince:    &since,
	}}}
	// Temporal's record agrees with the answer: one of ours, on our queue.
	f.execs = map[string]Execution{wfID: {RunID: runID, WorkflowType: wfType, TaskQueue: process.TaskQueue, Running: true}}
	return f
}

func (f *fakeWorkflows) PendingApprovals(_ context.Context, personID string) ([]client.PendingApproval, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []client.PendingApproval
	for id, st := range f.status {
		for _, p := range st.PendingApprovers {
			if p == personID {
				out = append(out, client.PendingApproval{WorkflowID: id, BusinessKey: st.BusinessKey, Title: st.Title,
					AmountMinor: st.AmountMinor, Currency: st.Currency, AwaitingSince: st.AwaitingSince, ActionDigest: st.ActionDigest})
			}
		}
	}
	return out, nil
}

func (f *fakeWorkflows) Status(_ context.Context, workflowID string) (approvals.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.status[workflowID]
	if !ok {
		return st, errNotFound
	}
	return st, nil
}

func (f *fakeWorkflows) Describe(_ context.Context, workflowID string) (Execution, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ex, ok := f.execs[workflowID]
	if !ok {
		return ex, errNotFound
	}
	return ex, nil
}

// Approve mimics the workflow: a validator checking digest and approver,
// then recording the decision.
func (f *fakeWorkflows) Approve(_ context.Context, workflowID, _ string, req approvals.Request) error {
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
	st.Approvals = append(st.Approvals, approvals.Approval{Slot: "finance-manager", Approver: req.Approver, Decision: req.Decision,
		Comment: req.Comment, ActionDigest: req.ActionDigest, At: t0.Add(time.Hour)})
	st.PendingApprovers = []string{"chen"}
	f.status[workflowID] = st
	return nil
}

// decisions are the requests sent, without their proofs (signed anew each
// time, so not comparable).
func (f *fakeWorkflows) decisions() []approvals.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]approvals.Request(nil), f.calls...)
	for i := range out {
		out[i].Proof = ""
	}
	return out
}

type harness struct {
	t     *testing.T
	srv   *httptest.Server
	fake  *fakeWorkflows
	links *linktoken.Store
	now   time.Time
	c     *http.Client
}

// newHarness serves the app with the development person picker, on the
// same http.Server settings cmd uses; opts adjust the config.
func newHarness(t *testing.T, opts ...func(*Config)) *harness {
	t.Helper()
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	h := &harness{t: t, fake: newFake(), now: t0.Add(3*time.Hour + 12*time.Minute)}
	links, err := linktoken.Open(context.Background(), "", filepath.Join(t.TempDir(), "links.db"), func() time.Time { return h.now })
	require.NoError(t, err)
	t.Cleanup(func() { links.Close() })
	h.links = links
	// Unstarted, so BaseURL (the Host allowlist) knows the random port.
	h.srv = httptest.NewUnstartedServer(nil)
	cfg := Config{Workflows: h.fake, Directory: dir, Links: links, Now: func() time.Time { return h.now }, SecretKey: []byte("test-key"),
		DevIdentity: true, BaseURL: "http://" + h.srv.Listener.Addr().String(), Signer: testSigner(t), WorkflowTypes: testTypes}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	require.NoError(t, err)
	h.srv.Config = NewHTTPServer(s.Handler())
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	h.c = newClient(t)
	return h
}

func testSigner(t *testing.T) *proof.Signer {
	t.Helper()
	_, priv, err := proof.GenerateKey()
	require.NoError(t, err)
	return proof.NewSigner(priv)
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
	assert.Equal(t, []approvals.Request{{Decision: "approve", Approver: "maria", Comment: "looks right", ActionDigest: digest}}, h.fake.decisions())
	a := assertionOf(t, h.fake.calls[0].Proof)
	assert.Equal(t, proof.Assertion{Kind: proof.KindApproval, WorkflowID: wfID, RunID: runID, Slot: "finance-manager", ActionDigest: digest,
		Decision: "approve", Subject: "maria", Method: proof.MethodDev}, proof.Assertion{Kind: a.Kind, WorkflowID: a.WorkflowID, RunID: a.RunID,
		Slot: a.Slot, ActionDigest: a.ActionDigest, Decision: a.Decision, Subject: a.Subject, Method: a.Method})

	r = h.get(h.c, r.location)
	require.Equal(t, http.StatusOK, r.code)
	assert.Contains(t, r.body, "Your approval was recorded")
	assert.Contains(t, r.body, "approved")
	assert.Contains(t, r.body, "looks right")
	assert.Contains(t, r.body, "Chen Wei", "next pending approver is shown")
	assert.Contains(t, r.body, "You are not one of the pending approvers", "maria cannot decide twice")
}

// assertionOf reads the assertion a proof token carries, unverified.
func assertionOf(t *testing.T, token string) proof.Assertion {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, token)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var a proof.Assertion
	require.NoError(t, json.Unmarshal(raw, &a))
	return a
}

// TestDecideTrustsTemporalNotTheWorkflow: the approvals query is answered by
// whatever worker polls the workflow's task queue, so a workflow that is not
// ours, or whose answer names another workflow or run than Temporal
// records, gets no signature. Nor does a decision the app can see is wrong.
// Each case is refused before anything is sent, on the detail page too
// where the case is about the workflow rather than the decision.
func TestDecideTrustsTemporalNotTheWorkflow(t *testing.T) {
	tests := []struct {
		name     string
		person   string
		digest   string
		edit     func(ex *Execution, st *approvals.Status)
		gone     bool // Temporal has no such workflow
		wantCode int
		wantBody string
		// detailCode is the detail page's answer; 0 means it shows the
		// payment, with a form only if detailForm.
		detailCode int
		detailForm bool
	}{
		{name: "answer names another run", edit: func(_ *Execution, st *approvals.Status) { st.RunID = "run-of-another-payment" },
			wantCode: http.StatusConflict, wantBody: "does not match Temporal&#39;s record", detailCode: http.StatusConflict},
		{name: "answer names another workflow", edit: func(_ *Execution, st *approvals.Status) { st.WorkflowID = "vendor-payment-INV-9999" },
			wantCode: http.StatusConflict, wantBody: "does not match Temporal&#39;s record", detailCode: http.StatusConflict},
		{name: "new run since the answer", edit: func(ex *Execution, _ *approvals.Status) { ex.RunID = "run-2" },
			wantCode: http.StatusConflict, wantBody: "does not match Temporal&#39;s record", detailCode: http.StatusConflict},
		{name: "foreign task queue", edit: func(ex *Execution, _ *approvals.Status) { ex.TaskQueue = "attacker-queue" },
			wantCode: http.StatusForbidden, wantBody: "not run by ExecutionOrchestrator", detailCode: http.StatusForbidden},
		{name: "unknown workflow type", edit: func(ex *Execution, _ *approvals.Status) { ex.WorkflowType = "LooksLikeVendorPayment" },
			wantCode: http.StatusForbidden, wantBody: "not run by ExecutionOrchestrator", detailCode: http.StatusForbidden},
		{name: "no such workflow at Temporal", gone: true,
			wantCode: http.StatusNotFound, wantBody: "There is no workflow", detailCode: http.StatusNotFound},
		{name: "finished", edit: func(ex *Execution, _ *approvals.Status) { ex.Running = false },
			wantCode: http.StatusConflict, wantBody: "not waiting for approval"},
		{name: "past the approval stage", edit: func(_ *Execution, st *approvals.Status) { st.Stage = "executing" },
			wantCode: http.StatusConflict, wantBody: "not waiting for approval"},
		{name: "not a pending approver", person: "chen",
			wantCode: http.StatusForbidden, wantBody: "You are not one of the pending approvers"},
		{name: "stale digest", digest: "sha256:what-the-page-showed-before",
			wantCode: http.StatusConflict, wantBody: "The payment changed since you opened it", detailForm: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			person := cmp.Or(tt.person, "maria")
			h.signIn(h.c, person)
			csrf := csrfOf(t, h.get(h.c, "/inbox").body)
			ex, st := h.fake.execs[wfID], h.fake.status[wfID]
			if tt.edit != nil {
				tt.edit(&ex, &st)
			}
			h.fake.execs[wfID], h.fake.status[wfID] = ex, st
			if tt.gone {
				delete(h.fake.execs, wfID)
			}

			r := h.post(h.c, "/approvals/"+wfID, url.Values{"csrf": {csrf}, "decision": {"approve"}, "actionDigest": {cmp.Or(tt.digest, digest)}})
			assert.Equal(t, tt.wantCode, r.code, r.body)
			assert.Contains(t, r.body, tt.wantBody)
			assert.Empty(t, h.fake.calls, "no decision sent, nothing signed")

			d := h.get(h.c, "/approvals/"+wfID)
			assert.Equal(t, tt.detailForm, strings.Contains(d.body, `value="approve"`), "decision form on the detail page")
			if tt.detailCode != 0 {
				assert.Equal(t, tt.detailCode, d.code)
				assert.Contains(t, d.body, tt.wantBody)
				assert.NotContains(t, d.body, "DE89370400440532013000", "nothing the workflow claims is shown")
			} else {
				assert.Equal(t, http.StatusOK, d.code)
			}
		})
	}

	t.Run("emailed link for a foreign workflow", func(t *testing.T) {
		h := newHarness(t)
		tok, err := h.links.Issue(context.Background(), "maria", wfID, runID, digest, time.Hour)
		require.NoError(t, err)
		ex := h.fake.execs[wfID]
		ex.TaskQueue = "attacker-queue"
		h.fake.execs[wfID] = ex
		r := h.post(newClient(t), "/approvals/"+wfID, url.Values{"token": {tok}, "decision": {"approve"}, "actionDigest": {digest}})
		assert.Equal(t, http.StatusForbidden, r.code)
		assert.Contains(t, r.body, "not run by ExecutionOrchestrator")
		assert.Empty(t, h.fake.calls)
		_, err = h.links.Peek(context.Background(), tok)
		assert.NoError(t, err, "the link is not used up")
	})
}

func TestDecideRefusals(t *testing.T) {
	tests := []struct {
		name      string
		form      func(csrf string) url.Values
		header    []string
		approveFn func(string, approvals.Request) error
		wantCode  int
		wantBody  string
		wantCalls int
	}{
		{name: "validator refusal is shown", wantCode: http.StatusUnprocessableEntity, wantCalls: 1,
			approveFn: func(id string, _ approvals.Request) error {
				return &client.ApprovalRefusedError{WorkflowID: id, Reason: "the payment window is closed"}
			},
			form: func(c string) url.Values {
				return url.Values{"csrf": {c}, "decision": {"approve"}, "actionDigest": {digest}, "comment": {"my note"}}
			},
			wantBody: "the payment window is closed"},
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
			approveFn: func(string, approvals.Request) error { return client.ErrNotRunning },
			form: func(c string) url.Values {
				return url.Values{"csrf": {c}, "decision": {"approve"}, "actionDigest": {digest}}
			}},
		{name: "temporal down", wantCode: http.StatusBadGateway, wantBody: "may not have been recorded", wantCalls: 1,
			approveFn: func(string, approvals.Request) error { return errors.New("connection refused") },
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

	t.Run("stale digest keeps the form and comment", func(t *testing.T) {
		h := newHarness(t)
		h.signIn(h.c, "maria")
		csrf := csrfOf(t, h.get(h.c, "/approvals/"+wfID).body)
		r := h.post(h.c, "/approvals/"+wfID, url.Values{"csrf": {csrf}, "decision": {"approve"}, "actionDigest": {"sha256:old"}, "comment": {"<b>note</b>"}})
		require.Equal(t, http.StatusConflict, r.code)
		assert.Contains(t, r.body, "The payment changed since you opened it")
		assert.Contains(t, r.body, "&lt;b&gt;note&lt;/b&gt;</textarea>")
		assert.Contains(t, r.body, `name="actionDigest" value="`+digest+`"`, "the retry uses the current digest")
		assert.Empty(t, h.fake.decisions(), "nothing signed or sent for a digest the app can see is stale")
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
	tok, err := h.links.Issue(ctx, "maria", wfID, runID, digest, 24*time.Hour)
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
	assert.Equal(t, []approvals.Request{{Decision: "approve", Approver: "maria", Comment: "via mail", ActionDigest: digest}}, h.fake.decisions())
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
			tok, err := h.links.Issue(context.Background(), "maria", wfID, runID, digest, time.Minute)
			require.NoError(h.t, err)
			h.now = h.now.Add(2 * time.Minute)
			return tok, "/approvals/" + wfID, digest
		}, "expired"},
		{"other workflow", func(h *harness) (string, string, string) {
			tok, err := h.links.Issue(context.Background(), "maria", "vendor-payment-OTHER", runID, digest, time.Hour)
			require.NoError(h.t, err)
			return tok, "/approvals/" + wfID, digest
		}, "different payment"},
		{"other digest", func(h *harness) (string, string, string) {
			tok, err := h.links.Issue(context.Background(), "maria", wfID, runID, "sha256:previous", time.Hour)
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
	_, err = New(Config{Workflows: newFake(), WorkflowTypes: testTypes})
	assert.ErrorContains(t, err, "Directory is required")
	_, err = New(Config{Directory: dir, DevIdentity: true, WorkflowTypes: testTypes})
	assert.ErrorContains(t, err, "Temporal is required")

	oidc := func(mod func(*OIDCConfig)) *OIDCConfig {
		c := &OIDCConfig{IssuerURL: "https://id.example.com", ClientID: "orchestrator", ClientSecret: "s"}
		if mod != nil {
			mod(c)
		}
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string // "" means accepted
	}{
		{"neither sign-in", Config{}, "no sign-in configured: set Config.OIDC (OpenID Connect) or Config.DevIdentity"},
		{"both sign-ins", Config{DevIdentity: true, OIDC: oidc(nil), BaseURL: "https://approvals.example.com"}, "Config.OIDC and Config.DevIdentity are mutually exclusive"},
		{"dev identity", Config{DevIdentity: true}, ""},
		{"oidc", Config{OIDC: oidc(nil), BaseURL: "https://approvals.example.com"}, ""},
		{"oidc on loopback http", Config{OIDC: oidc(func(c *OIDCConfig) { c.IssuerURL = "http://127.0.0.1:5556/dex" }), BaseURL: "http://127.0.0.1:8080"}, ""},
		{"base url with path", Config{DevIdentity: true, BaseURL: "https://approvals.example.com/app"}, "Config.BaseURL"},
		{"base url not a url", Config{DevIdentity: true, BaseURL: "approvals.example.com"}, "Config.BaseURL"},
		{"no issuer", Config{OIDC: oidc(func(c *OIDCConfig) { c.IssuerURL = "" }), BaseURL: "https://a.example.com"}, "OIDC.IssuerURL is required"},
		{"plain http issuer", Config{OIDC: oidc(func(c *OIDCConfig) { c.IssuerURL = "http://id.example.com" }), BaseURL: "https://a.example.com"}, "OIDC.IssuerURL: \"http://id.example.com\" must use https"},
		{"no client id", Config{OIDC: oidc(func(c *OIDCConfig) { c.ClientID = " " }), BaseURL: "https://a.example.com"}, "OIDC.ClientID is required"},
		{"no redirect and no base url", Config{OIDC: oidc(nil)}, "OIDC.RedirectURL is required when Config.BaseURL is empty"},
		{"redirect elsewhere", Config{OIDC: oidc(func(c *OIDCConfig) { c.RedirectURL = "https://a.example.com/callback" }), BaseURL: "https://a.example.com"}, "OIDC.RedirectURL"},
		{"redirect on another host", Config{OIDC: oidc(func(c *OIDCConfig) { c.RedirectURL = "https://b.example.com/auth/callback" }), BaseURL: "https://a.example.com"}, "is not on Config.BaseURL"},
		{"negative session ttl", Config{OIDC: oidc(func(c *OIDCConfig) { c.SessionTTL = -time.Hour }), BaseURL: "https://a.example.com"}, "OIDC.SessionTTL"},
		{"person claim email", Config{OIDC: oidc(func(c *OIDCConfig) { c.PersonClaim = "email" }), BaseURL: "https://a.example.com"}, ""},
		{"person claim without a verified flag", Config{OIDC: oidc(func(c *OIDCConfig) { c.PersonClaim = "upn" }), BaseURL: "https://a.example.com"}, `OIDC.PersonClaim: "upn" is not supported`},
		{"person claim preferred_username", Config{OIDC: oidc(func(c *OIDCConfig) { c.PersonClaim = "preferred_username" }), BaseURL: "https://a.example.com"}, "OIDC.PersonClaim"},
		{"no workflow types", Config{DevIdentity: true, WorkflowTypes: []string{}}, "Config.WorkflowTypes is required"},
		{"blank workflow types", Config{DevIdentity: true, WorkflowTypes: []string{" "}}, "Config.WorkflowTypes is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Directory, tt.cfg.Workflows = dir, newFake()
			if tt.cfg.WorkflowTypes == nil {
				tt.cfg.WorkflowTypes = testTypes
			}
			_, err := New(tt.cfg)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestDevIdentityBanner(t *testing.T) {
	h := newHarness(t)
	const banner = "Development sign-in: anyone can act as anyone. Never expose this server."
	assert.Contains(t, h.get(h.c, "/").body, banner, "picker")
	h.signIn(h.c, "maria")
	for _, path := range []string{"/inbox", "/approvals/" + wfID, "/nope"} {
		assert.Contains(t, h.get(h.c, path).body, banner, path)
	}
}

func TestHostAllowlist(t *testing.T) {
	h := newHarness(t)
	do := func(host, path string) resp {
		req, err := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
		require.NoError(t, err)
		req.Host = host
		r, err := h.c.Do(req)
		require.NoError(t, err)
		return read(t, r)
	}
	own := strings.TrimPrefix(h.srv.URL, "http://")
	tests := []struct {
		host, path string
		want       int
	}{
		{own, "/", http.StatusOK},
		{strings.ToUpper(own), "/", http.StatusOK},
		{"evil.example", "/", http.StatusMisdirectedRequest},
		{"evil.example:" + strings.Split(own, ":")[1], "/inbox", http.StatusMisdirectedRequest},
		{"localhost:" + strings.Split(own, ":")[1], "/", http.StatusMisdirectedRequest}, // DNS rebinding arrives with the attacker's name
		{"evil.example", "/healthz", http.StatusOK},                                     // probes use the pod address
	}
	for _, tt := range tests {
		r := do(tt.host, tt.path)
		assert.Equal(t, tt.want, r.code, "%s %s", tt.host, tt.path)
		if tt.want == http.StatusMisdirectedRequest {
			assert.NotContains(t, r.body, "Maria", "nothing of the app is served")
		}
	}
}

func TestCookiesSecureFromBaseURL(t *testing.T) {
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	tests := []struct {
		base       string
		override   bool
		host       string
		wantSecure bool
	}{
		{"https://approvals.example.com", false, "approvals.example.com", true},
		{"https://approvals.example.com", false, "approvals.example.com:443", true},
		{"http://127.0.0.1:8080", false, "127.0.0.1:8080", false},
		{"http://127.0.0.1:8080", true, "127.0.0.1:8080", true},
	}
	for _, tt := range tests {
		s, err := New(Config{Workflows: newFake(), Directory: dir, DevIdentity: true, BaseURL: tt.base, SecureCookies: tt.override, WorkflowTypes: testTypes})
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = tt.host
		s.Handler().ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, tt.base)
		cookies := rec.Result().Cookies()
		require.NotEmpty(t, cookies)
		for _, c := range cookies {
			assert.Equal(t, tt.wantSecure, c.Secure, "%s: cookie %s", tt.base, c.Name)
			assert.True(t, c.HttpOnly)
		}
	}
}

func TestNewHTTPServerTimeouts(t *testing.T) {
	hs := NewHTTPServer(http.NotFoundHandler())
	assert.NotZero(t, hs.ReadHeaderTimeout)
	assert.NotZero(t, hs.ReadTimeout)
	assert.NotZero(t, hs.IdleTimeout)
	assert.NotZero(t, hs.MaxHeaderBytes)
	// A decision waits up to decideTimeout for the workflow; the answer must
	// still be writable after that.
	assert.Greater(t, hs.WriteTimeout, decideTimeout+readTimeout)
}

func TestDetailReadAuthorization(t *testing.T) {
	secrets := []string{"INV-1001", "Acme", "DE89370400440532013000", "48 000.00", digest}
	tests := []struct {
		name     string
		person   string
		status   func(*approvals.Status)
		cfg      func(*Config)
		wantCode int
	}{
		{name: "pending approver", person: "maria", wantCode: http.StatusOK},
		{name: "absent pending approver", person: "omar", wantCode: http.StatusOK},
		{name: "ceo not involved", person: "sofia", wantCode: http.StatusForbidden},
		{name: "cfo by role", person: "chen", wantCode: http.StatusOK},
		{name: "controller by role", person: "ana", wantCode: http.StatusOK},
		{name: "no finance readers configured", person: "chen", cfg: func(c *Config) { c.ReadRoles = []string{} }, wantCode: http.StatusForbidden},
		{name: "requester through a channel", person: "sofia", wantCode: http.StatusOK,
			status: func(st *approvals.Status) { st.RequestedBy = "cli:Sofia" }},
		{name: "requester with another name", person: "sofia", wantCode: http.StatusForbidden,
			status: func(st *approvals.Status) { st.RequestedBy = "cli:sofia2" }},
		{name: "already decided", person: "sofia", wantCode: http.StatusOK,
			status: func(st *approvals.Status) {
				st.Approvals = []approvals.Approval{{Slot: "cfo", Approver: "sofia", Decision: "approve", At: t0}}
			}},
		{name: "decided for", person: "sofia", wantCode: http.StatusOK,
			status: func(st *approvals.Status) {
				st.Approvals = []approvals.Approval{{Slot: "cfo", Approver: "chen", OnBehalfOf: "sofia", Decision: "approve", At: t0}}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []func(*Config)
			if tt.cfg != nil {
				opts = append(opts, tt.cfg)
			}
			h := newHarness(t, opts...)
			if tt.status != nil {
				st := h.fake.status[wfID]
				tt.status(&st)
				h.fake.status[wfID] = st
			}
			h.signIn(h.c, tt.person)
			r := h.get(h.c, "/approvals/"+wfID)
			assert.Equal(t, tt.wantCode, r.code)
			if tt.wantCode == http.StatusForbidden {
				assert.Contains(t, r.body, "You are not involved in this payment")
				for _, s := range secrets {
					assert.NotContains(t, r.body, s)
				}
			} else {
				assert.Contains(t, r.body, "DE89370400440532013000")
			}
		})
	}

	t.Run("link holder is the person in the token", func(t *testing.T) {
		h := newHarness(t)
		tok, err := h.links.Issue(context.Background(), "sofia", wfID, runID, digest, time.Hour)
		require.NoError(t, err)
		r := h.get(newClient(t), "/approvals/"+wfID+"?token="+tok)
		assert.Equal(t, http.StatusForbidden, r.code)
		for _, s := range secrets {
			assert.NotContains(t, r.body, s)
		}
	})

	t.Run("refused decision does not show the payment", func(t *testing.T) {
		h := newHarness(t)
		h.signIn(h.c, "sofia")
		csrf := csrfOf(t, h.get(h.c, "/inbox").body)
		r := h.post(h.c, "/approvals/"+wfID, url.Values{"csrf": {csrf}, "decision": {"approve"}, "actionDigest": {digest}})
		assert.Equal(t, http.StatusForbidden, r.code)
		assert.NotContains(t, r.body, "DE89370400440532013000")
	})
}

func TestRequesterID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ana", "ana"}, {"cli:ana", "ana"}, {"web+sso:ana", "ana"}, {"mailto:ana", "ana"},
		{":ana", ":ana"}, {"1x:ana", "1x:ana"}, {"a b:ana", "a b:ana"}, {"", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, requesterID(tt.in), tt.in)
	}
}

func TestFieldCaps(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	decide := func(mod func(url.Values)) url.Values {
		v := url.Values{"decision": {"approve"}, "actionDigest": {digest}, "comment": {"ok"}}
		mod(v)
		return v
	}
	tests := []struct {
		name, method, path string
		form               url.Values
		want               string
	}{
		{"decision", http.MethodPost, "/approvals/" + wfID, decide(func(v url.Values) { v.Set("decision", long(17)) }), "decision: longer than 16 characters."},
		{"actionDigest", http.MethodPost, "/approvals/" + wfID, decide(func(v url.Values) { v.Set("actionDigest", long(81)) }), "actionDigest: longer than 80 characters."},
		{"token", http.MethodPost, "/approvals/" + wfID, decide(func(v url.Values) { v.Set("token", long(129)) }), "token: longer than 128 characters."},
		{"comment", http.MethodPost, "/approvals/" + wfID, decide(func(v url.Values) { v.Set("comment", long(2001)) }), "comment: longer than 2000 characters."},
		{"comment in runes", http.MethodPost, "/approvals/" + wfID, decide(func(v url.Values) { v.Set("comment", strings.Repeat("é", 2001)) }), "comment: longer than 2000 characters."},
		{"csrf", http.MethodPost, "/approvals/" + wfID, decide(func(v url.Values) { v.Set("csrf", long(129)) }), "csrf: longer than 128 characters."},
		{"second value", http.MethodPost, "/approvals/" + wfID, decide(func(v url.Values) { v.Add("decision", long(17)) }), "decision: longer than 16 characters."},
		{"person", http.MethodPost, "/session", url.Values{"person": {long(65)}}, "person: longer than 64 characters."},
		{"next on sign-in", http.MethodPost, "/session", url.Values{"person": {"maria"}, "next": {"/" + long(512)}}, "next: longer than 512 characters."},
		{"next on picker", http.MethodGet, "/?next=/" + long(512), nil, "next: longer than 512 characters."},
		{"token in link", http.MethodGet, "/approvals/" + wfID + "?token=" + long(129), nil, "token: longer than 128 characters."},
		{"body too large", http.MethodPost, "/approvals/" + wfID, url.Values{"comment": {long(maxFormBytes)}}, "could not be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var r resp
			if tt.method == http.MethodGet {
				r = h.get(h.c, tt.path)
			} else {
				r = h.post(h.c, tt.path, tt.form)
			}
			assert.Equal(t, http.StatusBadRequest, r.code)
			assert.Contains(t, r.body, tt.want)
			assert.Empty(t, h.fake.decisions())
		})
	}

	t.Run("at the caps the form is accepted", func(t *testing.T) {
		h := newHarness(t)
		h.signIn(h.c, "maria")
		csrf := csrfOf(t, h.get(h.c, "/approvals/"+wfID).body)
		// 1000 CRLF line breaks count once each, as in the browser's maxlength.
		comment := "x" + strings.Repeat("\r\n", 999) + long(1000)
		r := h.post(h.c, "/approvals/"+wfID, url.Values{"csrf": {csrf}, "decision": {"approve"}, "actionDigest": {digest}, "comment": {comment}})
		assert.Equal(t, http.StatusSeeOther, r.code, r.body)
	})
}
