package web

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

const testUI = "http://127.0.0.1:8233"

// The ledger is what the views read.
var _ AuditReader = (*audit.Ledger)(nil)

// fakeOps is an exceptions queue.
type fakeOps struct {
	items []WaitingItem
	err   error
}

func (f fakeOps) Waiting(context.Context) ([]WaitingItem, error) { return f.items, f.err }

// fakeAudit is a ledger: entries for the KPIs, histories by key.
type fakeAudit struct {
	mu      sync.Mutex
	entries []audit.Entry
	history map[string][]audit.Entry
	err     error
	filters []audit.Filter
}

func (f *fakeAudit) Entries(_ context.Context, flt audit.Filter) ([]audit.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, flt)
	return f.entries, f.err
}

func (f *fakeAudit) History(_ context.Context, key string) ([]audit.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.history[key], f.err
}

// entry makes a ledger entry of kind with data, at.
func entry(t *testing.T, seq int64, kind audit.Kind, at time.Time, actor, summary string, data any) audit.Entry {
	t.Helper()
	raw, err := json.Marshal(data)
	require.NoError(t, err)
	return audit.Entry{Seq: seq, Hash: "h" + strings.Repeat("0", 10) + string(rune('a'+seq%26)), Event: audit.Event{
		ID: "vendor-payment-INV-1001/run-1/" + string(rune('0'+seq%10)), Process: "vendor-payment", BusinessKey: "INV-1001",
		WorkflowID: wfID, RunID: runID, Kind: kind, Actor: actor, Summary: summary, At: at, Data: raw,
	}}
}

// queue is an exceptions queue as TemporalOps would classify it, at now:
// an approval awaiting maria and omar, and a human task whose assignee is
// overdue and which was escalated.
func queue(t *testing.T, now time.Time) []WaitingItem {
	t.Helper()
	since := now.Add(-2 * time.Hour)
	ap, ok := ApprovalWaiting(WaitingItem{WorkflowID: wfID, WorkflowType: wfType}, approvals.Status{
		Process: "vendor-payment", WorkflowID: wfID, BusinessKey: "INV-1001", Title: "Pay 48 000.00 EUR to Acme (invoice INV-1001)",
		Stage: approvals.StageAwaitingApproval, AwaitingSlot: "finance-manager", PendingApprovers: []string{"maria", "omar"},
		AwaitingSince: &since, ApprovalReason: "amount over autonomy threshold",
	}, now)
	require.True(t, ok)
	st := assigned(now.Add(-5 * time.Hour))
	st.Escalations = []humantask.Escalation{{At: now.Add(-2 * time.Hour), Reason: "overdue", To: []string{"fatima@example.com"}}}
	task, ok := TaskWaiting(WaitingItem{WorkflowID: taskWF, WorkflowType: humantask.Workflow, Since: now.Add(-6 * time.Hour)}, st, nil, now)
	require.True(t, ok)
	require.True(t, task.Stuck)
	return []WaitingItem{ap, task}
}

// newOpsHarness serves the app with an exceptions queue and a ledger.
func newOpsHarness(t *testing.T, opts ...func(*Config)) (*harness, *fakeAudit) {
	t.Helper()
	led := &fakeAudit{history: map[string][]audit.Entry{}}
	var h *harness
	h = newHarness(t, append([]func(*Config){func(c *Config) {
		c.Ops = fakeOps{items: queue(t, t0.Add(3*time.Hour+12*time.Minute))}
		c.Audit, c.TemporalUIURL = led, testUI
	}}, opts...)...)
	return h, led
}

var waitingRowRE = regexp.MustCompile(`data-workflow-id="([^"]+)"`)

func TestOpsListsAWaitingApprovalAndAStuckTask(t *testing.T) {
	h, _ := newOpsHarness(t)
	h.signIn(h.c, "ana") // controller
	r := h.get(h.c, "/ops")
	require.Equal(t, http.StatusOK, r.code, r.body)
	body := html.UnescapeString(r.body)

	// Oldest first: the task has waited since its assignee accepted.
	var order []string
	for _, m := range waitingRowRE.FindAllStringSubmatch(r.body, -1) {
		order = append(order, m[1])
	}
	assert.Equal(t, []string{taskWF, wfID}, order)

	assert.Contains(t, body, "Pay 48 000.00 EUR to Acme (invoice INV-1001)")
	assert.Contains(t, body, "awaiting finance-manager approval (amount over autonomy threshold)")
	assert.Contains(t, body, "Maria Rossi")
	assert.Contains(t, body, "Omar Haddad")
	assert.Contains(t, body, "Verify the identity of customer ACC-1001")
	assert.Contains(t, body, "assigned to ana-field, overdue since")
	assert.Contains(t, body, "escalated to fatima@example.com")
	assert.Contains(t, body, "1 stuck")

	// Links: the approval page, the audit view and the Temporal UI.
	assert.Contains(t, r.body, `href="/approvals/`+wfID+`"`)
	assert.Contains(t, r.body, `href="/audit/INV-1001"`)
	assert.Contains(t, r.body, `href="/audit/`+taskID+`"`)
	assert.Contains(t, r.body, `href="`+testUI+`/namespaces/default/workflows/`+wfID+`"`)
	assert.Contains(t, r.body, `href="`+testUI+`/namespaces/default/workflows/`+taskWF+`"`)
	assert.NotContains(t, r.body, `href="/approvals/`+taskWF+`"`, "a task waiting for its worker has no approval page")

	// The header links the operations view for those who may see it.
	assert.Contains(t, r.body, `<a href="/ops">Operations</a>`)
	m := newClient(t)
	h.signIn(m, "maria")
	assert.NotContains(t, h.get(m, "/inbox").body, `<a href="/ops">`)
}

func TestOpsPageCSPAllowsOnlyItsOwnScripts(t *testing.T) {
	h, _ := newOpsHarness(t)
	h.signIn(h.c, "chen")
	res, err := h.c.Get(h.srv.URL + "/ops")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	csp := res.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'none'")
	assert.Contains(t, csp, "script-src 'self'")
	assert.NotContains(t, csp, "unsafe-inline'; script", "no inline scripts")
	assert.NotContains(t, csp, "script-src 'self' 'unsafe")
	// Scripts come from /static, with their version; no inline script.
	assert.Regexp(t, `<script src="/static/vendor/chartjs/chart\.umd\.min\.js\?v=[0-9a-f]{16}" defer>`, string(body))
	assert.Regexp(t, `<script src="/static/ops\.js\?v=[0-9a-f]{16}" defer>`, string(body))
	for _, m := range regexp.MustCompile(`<script([^>]*)>`).FindAllStringSubmatch(string(body), -1) {
		assert.True(t, strings.Contains(m[1], "src=") || strings.Contains(m[1], `type="application/json"`), "inline script: %s", m[0])
	}

	// Every other page keeps the no-script policy.
	for _, path := range []string{"/inbox", "/", "/approvals/" + wfID, "/audit/INV-1001"} {
		res, err := h.c.Get(h.srv.URL + path)
		require.NoError(t, err)
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		assert.True(t, strings.HasPrefix(csp, "default-src 'none'"), path)
		assert.NotContains(t, csp, "script-src", path)
	}
}

func TestOpsAccess(t *testing.T) {
	h, led := newOpsHarness(t)
	led.history["INV-1001"] = paymentHistory(t)

	// Anonymous: sign in first, and come back.
	r := h.get(h.c, "/ops")
	assert.Equal(t, http.StatusSeeOther, r.code)
	assert.Equal(t, "/?next=%2Fops", r.location)
	r = h.get(h.c, "/audit/INV-1001")
	assert.Equal(t, http.StatusSeeOther, r.code)
	assert.Equal(t, "/?next=%2Faudit%2FINV-1001", r.location)

	// A person without an ops role: refused, saying why.
	m := newClient(t)
	h.signIn(m, "maria")
	for _, path := range []string{"/ops", "/audit/INV-1001"} {
		r = h.get(m, path)
		assert.Equal(t, http.StatusForbidden, r.code, path)
		assert.Contains(t, r.body, "controller, cfo, field-coordinator", path)
		assert.NotContains(t, r.body, "Acme", path)
	}

	// Each ops role is in.
	for _, who := range []string{"ana", "chen", "fatima"} {
		c := newClient(t)
		h.signIn(c, who)
		assert.Equal(t, http.StatusOK, h.get(c, "/ops").code, who)
		assert.Equal(t, http.StatusOK, h.get(c, "/audit/INV-1001").code, who)
	}

	// OpsRoles replaces the default.
	h2, _ := newOpsHarness(t, func(c *Config) { c.OpsRoles = []string{"finance-manager"} })
	c := newClient(t)
	h2.signIn(c, "maria")
	assert.Equal(t, http.StatusOK, h2.get(c, "/ops").code)
	c = newClient(t)
	h2.signIn(c, "ana")
	assert.Equal(t, http.StatusForbidden, h2.get(c, "/ops").code)
}

// fakeEvidence is an evidence store nobody uploads to.
type fakeEvidence struct{}

func (fakeEvidence) Put(context.Context, evidence.PutRequest) (evidence.Upload, error) {
	return evidence.Upload{}, errors.New("no uploads here")
}

func (fakeEvidence) Blob(context.Context, string) (io.ReadCloser, evidence.Upload, error) {
	return nil, evidence.Upload{}, evidence.ErrNotFound
}

func TestOpsRefusesFieldWorkers(t *testing.T) {
	h, led := newOpsHarness(t, func(c *Config) {
		c.Workforce = fakeWorkforce{workers: []workforce.Worker{{ID: ana, Name: "Ana Ferreira", Active: true}}}
		c.Evidence, c.Tasks = fakeEvidence{}, &fakeTasks{status: map[string]humantask.Status{}}
	})
	led.history["INV-1001"] = paymentHistory(t)
	page := h.get(h.c, "/")
	r := h.post(h.c, "/session", url.Values{"worker": {ana}, "csrf": {csrfOf(t, page.body)}})
	require.Equal(t, http.StatusSeeOther, r.code, r.body)
	for _, path := range []string{"/ops", "/audit/INV-1001"} {
		r = h.get(h.c, path)
		assert.Equal(t, http.StatusForbidden, r.code, path)
		assert.Contains(t, r.body, "Not for field workers", path)
		assert.NotContains(t, r.body, "Maria Rossi", path)
	}
}

func TestOpsWithoutQueueOrLedger(t *testing.T) {
	// No ops configured: no routes.
	h := newHarness(t)
	h.signIn(h.c, "ana")
	assert.Equal(t, http.StatusNotFound, h.get(h.c, "/ops").code)
	assert.Equal(t, http.StatusNotFound, h.get(h.c, "/audit/INV-1001").code)

	// A failing queue and ledger still give a page saying so.
	h2, led := newOpsHarness(t, func(c *Config) { c.Ops = fakeOps{err: errors.New("temporal down")} })
	led.err = errors.New("database down")
	h2.signIn(h2.c, "ana")
	r := h2.get(h2.c, "/ops")
	require.Equal(t, http.StatusOK, r.code)
	assert.Contains(t, r.body, "temporal down")
	assert.Contains(t, r.body, "database down")
	assert.Equal(t, http.StatusBadGateway, h2.get(h2.c, "/audit/INV-1001").code)

	// A bad Temporal UI URL is refused at start.
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	_, err = New(Config{Workflows: newFake(), Directory: dir, DevIdentity: true, WorkflowTypes: testTypes,
		Ops: fakeOps{}, TemporalUIURL: "javascript:alert(1)"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TemporalUIURL")
}

func TestOpsKPIs(t *testing.T) {
	h, led := newOpsHarness(t)
	day := t0.Truncate(24 * time.Hour)
	led.entries = []audit.Entry{
		entry(t, 1, audit.KindOutcome, day.Add(time.Hour), "system", "Outcome: paid", audit.OutcomeData{Outcome: "paid", Autonomous: true}),
		entry(t, 2, audit.KindOutcome, day.Add(2*time.Hour), "system", "Outcome: paid", audit.OutcomeData{Outcome: "paid"}),
		entry(t, 3, audit.KindApproval, day.Add(2*time.Hour), "maria", "Approved", audit.ApprovalData{Decision: "approve", WaitedSeconds: 600}),
		entry(t, 4, audit.KindException, day.Add(3*time.Hour), "system", "Exception (not_settled): INV-1001", audit.ExceptionData{Reason: "not_settled", To: []string{"ops@example.com"}}),
		entry(t, 5, audit.KindGate, day.Add(time.Hour), "system:gate", "Gate: deny", audit.GateData{Permit: false, Reasons: []audit.GateReason{{Policy: "autonomy.threshold", Approval: true}}}),
	}
	h.signIn(h.c, "ana")
	r := h.get(h.c, "/ops")
	require.Equal(t, http.StatusOK, r.code)
	body := html.UnescapeString(r.body)
	assert.Contains(t, body, "<td>Total</td><td>2</td><td>1</td><td>50%</td><td>1</td><td>10m</td><td>10m</td><td>1</td><td>1</td><td>0</td><td>0</td>")
	assert.Contains(t, body, "not_settled")
	assert.Contains(t, body, "autonomy.threshold")
	assert.Contains(t, body, "None yet: no process records an SLA.")
	assert.Contains(t, body, "Exception (not_settled): INV-1001")
	// The chart data is a JSON block the script reads, escaped for HTML.
	m := regexp.MustCompile(`(?s)<script type="application/json" id="kpi-data">(.*?)</script>`).FindStringSubmatch(r.body)
	require.NotNil(t, m)
	var cd chartData
	require.NoError(t, json.Unmarshal([]byte(m[1]), &cd))
	assert.Len(t, cd.Labels, 7)
	require.Len(t, cd.Exceptions, 1)
	assert.Equal(t, "not_settled", cd.Exceptions[0].Label)

	// The ledger was asked for the week, in whole days.
	led.mu.Lock()
	flt := led.filters[len(led.filters)-1]
	led.mu.Unlock()
	now := h.now.UTC()
	assert.Equal(t, now.Truncate(24*time.Hour).Add(24*time.Hour), flt.Until)
	assert.Equal(t, flt.Until.Add(-7*24*time.Hour), flt.Since)

	// Hourly for a day; an unknown window is refused.
	r = h.get(h.c, "/ops?window=24h")
	require.Equal(t, http.StatusOK, r.code)
	m = regexp.MustCompile(`(?s)<script type="application/json" id="kpi-data">(.*?)</script>`).FindStringSubmatch(r.body)
	require.NotNil(t, m)
	require.NoError(t, json.Unmarshal([]byte(m[1]), &cd))
	assert.Len(t, cd.Labels, 24)
	assert.Equal(t, http.StatusBadRequest, h.get(h.c, "/ops?window=1y").code)
}

func TestStaticServesVendoredChartJS(t *testing.T) {
	h := newHarness(t)
	res, err := h.c.Get(h.srv.URL + "/static/vendor/chartjs/chart.umd.min.js")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/javascript; charset=utf-8", res.Header.Get("Content-Type"))
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	assert.Contains(t, string(body[:200]), "Chart.js v4")
	assert.Equal(t, "public, max-age=300", res.Header.Get("Cache-Control"))

	// With its version, cached for a year.
	assets, err := loadStaticAssets()
	require.NoError(t, err)
	u := assets.url("ops.js")
	require.Contains(t, u, "?v=")
	res, err = h.c.Get(h.srv.URL + u)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/javascript; charset=utf-8", res.Header.Get("Content-Type"))
	assert.Equal(t, "public, max-age=31536000, immutable", res.Header.Get("Cache-Control"))

	for _, path := range []string{"/static/", "/static/vendor/chartjs/", "/static/vendor/chartjs/README.md", "/static/vendor/chartjs/LICENSE.md", "/static/nope.js", "/static/../server.go"} {
		res, err := h.c.Get(h.srv.URL + path)
		require.NoError(t, err)
		res.Body.Close()
		assert.NotEqual(t, http.StatusOK, res.StatusCode, path)
	}
}

func TestAuditKeyRefused(t *testing.T) {
	h, _ := newOpsHarness(t)
	h.signIn(h.c, "ana")
	for _, key := range []string{strings.Repeat("K", 300), "..%2Fetc%2Fpasswd", "%2E%2E", "a%00b", "a%0Ab", "a%7Fb", "x%5Cy", "%20INV-1", "%FF%FE"} {
		r := h.get(h.c, "/audit/"+key)
		assert.Equal(t, http.StatusBadRequest, r.code, key)
	}
	// Anonymous too: refused before anything else.
	assert.Equal(t, http.StatusBadRequest, h.get(newClient(t), "/audit/..%2Fx").code)
	// A key with a space or a slash is fine (an agent action's key).
	assert.Empty(t, validAuditKey("deploy prod"))
	assert.Empty(t, validAuditKey("email partner@other.example"))
	r := h.get(h.c, "/audit/deploy%20prod")
	assert.Equal(t, http.StatusNotFound, r.code)
	assert.Contains(t, html.UnescapeString(r.body), `nothing for "deploy prod"`)
}

// paymentHistory is invoice INV-1001's ledger history, out of order: asked
// for, denied by the autonomy threshold, approved by maria and chen with
// verified proofs, permitted at the side effect, released, settled.
func paymentHistory(t *testing.T) []audit.Entry {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	es := []audit.Entry{
		entry(t, 1, audit.KindProposed, at(0), "ana", "Pay 48 000.00 EUR to Acme (invoice INV-1001) requested by ana",
			audit.ProposedData{ActionKind: "vendor-payment", Target: "V-7", ActionDigest: digest, RequestedBy: "ana", RequesterVerified: true}),
		entry(t, 2, audit.KindGate, at(1), "system:gate", "Gate: deny (autonomy.threshold)", audit.GateData{Where: "plan", Permit: false,
			PolicySetHash: "sha256:feedface", ActionDigest: digest, Reasons: []audit.GateReason{{Policy: "autonomy.threshold", Message: "over 5 000.00 EUR", Approval: true}}}),
		entry(t, 3, audit.KindApproval, at(30), "maria", "Approved by maria (finance-manager), oidc", audit.ApprovalData{Decision: "approve",
			Slot: "finance-manager", ActionDigest: digest, WaitedSeconds: 1740, Proof: audit.ProofData{Verified: true, Method: "oidc", KeyID: "web-1", Issuer: "web"}}),
		entry(t, 4, audit.KindApproval, at(90), "chen", "Approved by chen (cfo), link", audit.ApprovalData{Decision: "approve",
			Slot: "cfo", ActionDigest: digest, WaitedSeconds: 3600, Proof: audit.ProofData{Verified: true, Method: "link", KeyID: "web-1"}}),
		entry(t, 5, audit.KindGate, at(91), "system:gate", "Gate at the side effect: permit", audit.GateData{Where: "side_effect", Permit: true,
			PolicySetHash: "sha256:feedface", ActionDigest: digest}),
		entry(t, 6, audit.KindSideEffect, at(92), "system", "Released 48 000.00 EUR to Acme", audit.SideEffectData{System: "treasury",
			Operation: "release", Reference: "TRX-77", IdempotencyKey: "vp-INV-1001", AmountMinor: 4800000, Currency: "EUR"}),
		entry(t, 7, audit.KindVerification, at(100), "system", "Verified: settlement", audit.VerificationData{What: "settlement", Verified: true, Detail: "settled TRX-77"}),
		entry(t, 8, audit.KindOutcome, at(101), "system", "Outcome: paid", audit.OutcomeData{Outcome: "paid"}),
	}
	// The ledger's order is not the page's concern: shuffle.
	return []audit.Entry{es[7], es[2], es[0], es[5], es[1], es[6], es[3], es[4]}
}

var entryRE = regexp.MustCompile(`data-kind="([a-z_]+)" data-seq="([0-9]+)"`)

func TestAuditView(t *testing.T) {
	h, led := newOpsHarness(t)
	led.history["INV-1001"] = paymentHistory(t)
	h.signIn(h.c, "ana")
	r := h.get(h.c, "/audit/INV-1001")
	require.Equal(t, http.StatusOK, r.code, r.body)
	body := html.UnescapeString(r.body)

	// Oldest first.
	var seqs []string
	for _, m := range entryRE.FindAllStringSubmatch(r.body, -1) {
		seqs = append(seqs, m[2])
	}
	assert.Equal(t, []string{"1", "2", "3", "4", "5", "6", "7", "8"}, seqs)

	// Who approved it, with the proofs.
	assert.Regexp(t, `(?s)id="approvers">.*Maria Rossi.*approved.*as finance-manager.*proof verified \(oidc, key web-1, issuer web\).*Chen Wei.*as cfo.*proof verified \(link, key web-1\)`, body)
	// The gate: denied by the autonomy threshold, people may lift it; the policy set.
	assert.Contains(t, body, "autonomy.threshold (people may lift it): over 5 000.00 EUR")
	assert.Contains(t, body, "sha256:feedface")
	assert.Contains(t, r.body, `class="entry deny" data-kind="gate" data-seq="2"`)
	// The side effect and the verified settlement.
	assert.Contains(t, body, "treasury release (TRX-77)")
	assert.Contains(t, body, "48 000.00 EUR")
	assert.Regexp(t, `(?s)id="checks">settlement: <span class="verified">verified</span> — settled TRX-77`, body)
	// The outcome, highlighted.
	assert.Contains(t, r.body, `class="entry outcome" data-kind="outcome" data-seq="8"`)
	assert.Regexp(t, `(?s)id="outcome"><strong>paid</strong>.*people were involved`, body)
	// The run, in the Temporal UI.
	assert.Contains(t, r.body, `href="`+testUI+`/namespaces/default/workflows/`+wfID+`"`)
	assert.Contains(t, body, "Ana Lima (ana)")

	// Nothing recorded: 404.
	assert.Equal(t, http.StatusNotFound, h.get(h.c, "/audit/INV-9999").code)
}

func TestAuditViewUnverifiedProofAndUnreadableData(t *testing.T) {
	h, led := newOpsHarness(t)
	bad := entry(t, 2, audit.KindGate, t0.Add(time.Minute), "system:gate", "Gate", nil)
	bad.Event.Data = json.RawMessage(`{"permit":"maybe"}`)
	led.history["INV-1001"] = []audit.Entry{
		entry(t, 1, audit.KindApproval, t0, "omar", "Approved by omar", audit.ApprovalData{Decision: "approve", Slot: "finance-manager",
			Proof: audit.ProofData{Verified: false, Method: "dev"}}),
		bad,
	}
	h.signIn(h.c, "ana")
	r := h.get(h.c, "/audit/INV-1001")
	require.Equal(t, http.StatusOK, r.code)
	body := html.UnescapeString(r.body)
	assert.Contains(t, body, `<span class="unverified">proof NOT verified (dev)</span>`)
	assert.Contains(t, body, "unreadable")
	assert.Contains(t, body, "not ended yet")
}

// TestOpsAndAuditEscapeRecordedText: summaries, comments, actors, titles
// and reasons come from workflow inputs a requester or an agent controls;
// none may become markup or end the chart data block.
func TestOpsAndAuditEscapeRecordedText(t *testing.T) {
	const xss = `</script><script>alert(1)</script><img src=x onerror=alert(2)>"'`
	h, led := newOpsHarness(t, func(c *Config) {
		c.Ops = fakeOps{items: []WaitingItem{{Process: "human-task", WorkflowID: "task-" + xss, BusinessKey: xss, Title: xss, Kind: WaitingHumanTask,
			WaitingOn: []string{xss}, Why: xss, Since: t0}}}
	})
	day := h.now.UTC().Truncate(24 * time.Hour)
	led.entries = []audit.Entry{
		entry(t, 1, audit.KindException, day, xss, xss, audit.ExceptionData{Reason: xss, To: []string{xss}}),
		entry(t, 2, audit.KindGate, day, "system:gate", xss, audit.GateData{Permit: false, Reasons: []audit.GateReason{{Policy: xss, Message: xss}}}),
	}
	led.history["INV-1001"] = []audit.Entry{
		entry(t, 1, audit.KindProposed, t0, xss, xss, audit.ProposedData{ActionKind: xss, Target: xss, RequestedBy: xss}),
		entry(t, 2, audit.KindApproval, t0.Add(time.Minute), xss, xss, audit.ApprovalData{Decision: xss, Slot: xss, OnBehalfOf: xss, Comment: xss,
			Proof: audit.ProofData{Method: xss, KeyID: xss}}),
		entry(t, 3, audit.KindHandoff, t0.Add(2*time.Minute), "system", xss, audit.HandoffData{Why: xss, To: []string{xss}}),
		entry(t, 4, audit.KindOutcome, t0.Add(3*time.Minute), "system", xss, audit.OutcomeData{Outcome: xss, Reason: xss}),
	}
	h.signIn(h.c, "ana")
	for _, path := range []string{"/ops", "/audit/INV-1001"} {
		r := h.get(h.c, path)
		require.Equal(t, http.StatusOK, r.code, path)
		assert.NotContains(t, r.body, "<script>alert", path)
		assert.NotContains(t, r.body, "<img", path)
		assert.NotContains(t, r.body, "onerror=alert(2)>", path)
		// Exactly the page's own script elements.
		n := len(regexp.MustCompile(`<script`).FindAllString(r.body, -1))
		if path == "/ops" {
			assert.Equal(t, 3, n, "the data block, Chart.js and ops.js")
			m := regexp.MustCompile(`(?s)<script type="application/json" id="kpi-data">(.*?)</script>`).FindStringSubmatch(r.body)
			require.NotNil(t, m)
			var cd chartData
			require.NoError(t, json.Unmarshal([]byte(m[1]), &cd), "the data block is whole JSON")
		} else {
			assert.Zero(t, n, path)
		}
	}
}

// A business key is not unique across processes (a human task may be
// named like an invoice): with several runs, each approval names its run.
func TestAuditViewNamesTheRunOfEachApproval(t *testing.T) {
	h, led := newOpsHarness(t)
	own := entry(t, 1, audit.KindApproval, t0, "maria", "Approved by maria", audit.ApprovalData{Decision: "approve", Slot: "finance-manager",
		Proof: audit.ProofData{Verified: true, Method: "oidc"}})
	other := entry(t, 2, audit.KindApproval, t0.Add(time.Minute), "fatima", "Approved by fatima", audit.ApprovalData{Decision: "approve",
		Slot: "field-coordinator", Proof: audit.ProofData{Verified: true, Method: "oidc"}})
	other.Event.WorkflowID, other.Event.Process = "human-task-INV-1001", "human-task"
	led.history["INV-1001"] = []audit.Entry{own, other}
	h.signIn(h.c, "ana")
	r := h.get(h.c, "/audit/INV-1001")
	require.Equal(t, http.StatusOK, r.code)
	body := html.UnescapeString(r.body)
	assert.Regexp(t, `(?s)id="approvers">.*as finance-manager.*`+regexp.QuoteMeta(wfID)+`.*as field-coordinator.*human-task-INV-1001`, body)
}
