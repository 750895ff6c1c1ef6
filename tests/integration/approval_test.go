package integration

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
)

var (
	csrfRE   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	digestRE = regexp.MustCompile(`name="actionDigest" value="([^"]+)"`)
	linkRE   = regexp.MustCompile(`https?://\S+/approvals/\S+\?token=[A-Za-z0-9_-]+`)
)

// browser is a person's HTTP client for the web app: cookies, no redirects
// followed, so each answer is checked as it is.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) (int, string) {
	b.t.Helper()
	target := path
	if !strings.HasPrefix(path, "http") {
		target = b.base + path
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func match(t *testing.T, re *regexp.Regexp, page string) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("page lacks %s:\n%s", re, page)
	}
	return m[len(m)-1]
}

// signIn uses the development person picker.
func (b *browser) signIn(person string) {
	b.t.Helper()
	_, page := b.do(http.MethodGet, "/", nil)
	code, body := b.do(http.MethodPost, "/session", url.Values{"person": {person}, "csrf": {match(b.t, csrfRE, page)}})
	if code != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: %d %s", person, code, body)
	}
}

// awaiting waits until the workflow waits for one of want.
func awaiting(t *testing.T, s *stack.Stack, id string, want string) vendorpayment.VendorPaymentStatus {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := vendorpayment.QueryStatus(context.Background(), s.Temporal, id)
		if err == nil && st.Stage == vendorpayment.StageAwaitingApproval && slices.Contains(st.PendingApprovers, want) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never awaited %s: %+v (%v)", id, want, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// paymentsFor reads back what treasury holds for an invoice.
func paymentsFor(t *testing.T, s *stack.Stack, invoiceID string) []treasury.Payment {
	t.Helper()
	payments, err := treasury.New(s.Sandbox.HTTPURL()).ListPaymentsForInvoice(context.Background(), invoiceID)
	if err != nil {
		t.Fatal(err)
	}
	return payments
}

func onePayment(t *testing.T, s *stack.Stack, invoiceID string) {
	t.Helper()
	if n := len(paymentsFor(t, s, invoiceID)); n != 1 {
		t.Fatalf("%d payments for %s, want exactly 1", n, invoiceID)
	}
}

// A finance-manager approves through the web form's HTTP endpoints: the
// inbox lists the payment (a visibility query), the detail page shows the
// digest, a POST approves, the payment is released once.
func TestApproveThroughWebForm(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	run := start(t, s, sandbox.InvoiceMedium)
	st := awaiting(t, s, run.GetID(), "maria")

	b := newBrowser(t, s.WebURL)
	b.signIn("maria")
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, inbox := b.do(http.MethodGet, "/inbox", nil)
		if strings.Contains(inbox, sandbox.InvoiceMedium) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("inbox never listed %s:\n%s", sandbox.InvoiceMedium, inbox)
		}
		time.Sleep(200 * time.Millisecond)
	}
	code, page := b.do(http.MethodGet, "/approvals/"+run.GetID(), nil)
	if code != http.StatusOK || match(t, digestRE, page) != st.ActionDigest {
		t.Fatalf("detail page %d does not carry digest %s", code, st.ActionDigest)
	}
	for _, want := range []string{"Initech Software AG", "CH9300762011623852957", "9", "EUR", "finance-manager"} {
		if !strings.Contains(page, want) {
			t.Errorf("detail page lacks %q", want)
		}
	}
	code, body := b.do(http.MethodPost, "/approvals/"+run.GetID(), url.Values{"csrf": {match(t, csrfRE, page)},
		"decision": {"approve"}, "actionDigest": {st.ActionDigest}, "comment": {"matches the PO"}})
	if code != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", code, body)
	}
	res := result(t, s, run)
	if res.Outcome != vendorpayment.OutcomePaid || len(res.Approvals) != 1 || res.Approvals[0].Approver != "maria" {
		t.Fatalf("result = %+v", res)
	}
	onePayment(t, s, sandbox.InvoiceMedium)
}

// The Temporal UI's Signal dialog sends the same JSON as a Signal: an
// invalid one (an agent) is recorded and ignored, a valid one approves.
func TestApproveBySignal(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	maria := s.PersonKey(t, "maria")
	run := start(t, s, sandbox.InvoiceMedium)
	st := awaiting(t, s, run.GetID(), "maria")
	ctx := context.Background()
	send := func(req vendorpayment.ApprovalRequest) {
		if err := s.Temporal.SignalWorkflow(ctx, run.GetID(), "", vendorpayment.ApprovalSignal, req); err != nil {
			t.Fatal(err)
		}
	}
	send(vendorpayment.ApprovalRequest{Decision: "approve", Approver: "agent:payables-bot", ActionDigest: st.ActionDigest})
	deadline := time.Now().Add(30 * time.Second)
	for {
		cur, err := vendorpayment.QueryStatus(ctx, s.Temporal, run.GetID())
		if err != nil {
			t.Fatal(err)
		}
		if len(cur.RejectedMessages) == 1 {
			if cur.Stage != vendorpayment.StageAwaitingApproval || len(cur.Approvals) != 0 {
				t.Fatalf("an agent's signal changed the workflow: %+v", cur)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent signal not recorded: %+v", cur)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// An assertion copied from the web app (here: signed with maria's own
	// key) pasted into the Signal's "proof" approves.
	ap := approvalsOf(t, s, run.GetID())
	send(vendorpayment.ApprovalRequest{Decision: "approve", Approver: "maria", Comment: "via Temporal UI", ActionDigest: st.ActionDigest,
		Proof: stack.Sign(t, maria, proof.MethodKey, "maria", "approve", ap)})
	if res := result(t, s, run); res.Outcome != vendorpayment.OutcomePaid {
		t.Fatalf("outcome = %s (%s)", res.Outcome, res.Reason)
	}
	onePayment(t, s, sandbox.InvoiceMedium)
}

// The emailed link opens the page without consuming its token; a forged
// token is refused; the real one approves once; reusing it is refused.
// Above the manager limit a finance-manager then the CFO must approve.
func TestEmailedLinkTokens(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	maria := s.PersonKey(t, "maria")
	run := start(t, s, sandbox.InvoiceLarge)
	st := awaiting(t, s, run.GetID(), "maria")
	if err := client.Approve(ctx, s.Temporal, run.GetID(), vendorpayment.ApprovalRequest{
		Decision: "approve", Approver: "maria", ActionDigest: st.ActionDigest,
		Proof: stack.Sign(t, maria, proof.MethodKey, "maria", "approve", approvalsOf(t, s, run.GetID()))}); err != nil {
		t.Fatal(err)
	}
	// maria cannot fill the CFO slot too.
	awaiting(t, s, run.GetID(), "chen")
	err := client.Approve(ctx, s.Temporal, run.GetID(), vendorpayment.ApprovalRequest{
		Decision: "approve", Approver: "maria", ActionDigest: st.ActionDigest,
		Proof: stack.Sign(t, maria, proof.MethodKey, "maria", "approve", approvalsOf(t, s, run.GetID()))})
	if err == nil {
		t.Fatal("one person filled two slots")
	}

	mail := email.New(s.Sandbox.SMTPAddr(), s.Sandbox.HTTPURL())
	var link string
	deadline := time.Now().Add(30 * time.Second)
	for link == "" {
		msgs, err := mail.List(ctx, "chen@example.com")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if l := linkRE.FindString(m.Body); l != "" {
				link = l
			}
		}
		if link == "" && time.Now().After(deadline) {
			t.Fatalf("no approval link emailed to chen: %+v", msgs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	token := u.Query().Get("token")
	b := newBrowser(t, s.WebURL)
	path := u.Path + "?" + u.RawQuery
	for range 2 { // a mail scanner's GET, then the person's: neither consumes it
		if code, page := b.do(http.MethodGet, path, nil); code != http.StatusOK || !strings.Contains(page, `name="token"`) {
			t.Fatalf("link page: %d\n%s", code, page)
		}
	}
	_, page := b.do(http.MethodGet, path, nil)
	form := func(tok string) url.Values {
		return url.Values{"csrf": {match(t, csrfRE, page)}, "token": {tok}, "decision": {"approve"},
			"actionDigest": {st.ActionDigest}, "comment": {"approved from the emailed link"}}
	}
	if code, body := b.do(http.MethodPost, u.Path, form(strings.Repeat("A", len(token)))); code != http.StatusForbidden {
		t.Fatalf("forged token: %d, want 403\n%s", code, body)
	}
	if code, body := b.do(http.MethodPost, u.Path, form(token)); code != http.StatusOK || !strings.Contains(body, "Your approval was recorded") {
		t.Fatalf("approve with link token: %d\n%s", code, body)
	}
	// The link admitted one decision; it signed nobody in.
	if code, _ := b.do(http.MethodGet, "/inbox", nil); code != http.StatusSeeOther {
		t.Errorf("inbox after a link decision: %d, want a redirect to sign in", code)
	}
	if code, _ := b.do(http.MethodPost, u.Path, form(token)); code != http.StatusForbidden {
		t.Fatalf("reused token: %d, want 403", code)
	}
	res := result(t, s, run)
	if res.Outcome != vendorpayment.OutcomePaid || len(res.Approvals) != 2 || res.Approvals[1].Approver != "chen" {
		t.Fatalf("result = %+v", res)
	}
	onePayment(t, s, sandbox.InvoiceLarge)
}

// A rejection ends the workflow with outcome rejected and pays nothing.
func TestRejectThroughCLIPath(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	maria := s.PersonKey(t, "maria")
	run := start(t, s, sandbox.InvoiceMedium)
	st := awaiting(t, s, run.GetID(), "maria")
	if err := client.Approve(context.Background(), s.Temporal, run.GetID(), vendorpayment.ApprovalRequest{
		Decision: "reject", Approver: "maria", Comment: "duplicate invoice", ActionDigest: st.ActionDigest,
		Proof: stack.Sign(t, maria, proof.MethodKey, "maria", "reject", approvalsOf(t, s, run.GetID()))}); err != nil {
		t.Fatal(err)
	}
	res := result(t, s, run)
	if res.Outcome != vendorpayment.OutcomeRejected || res.Reason == "" {
		t.Fatalf("result = %+v", res)
	}
	if payments := paymentsFor(t, s, sandbox.InvoiceMedium); len(payments) != 0 {
		t.Fatalf("payments after rejection: %v", payments)
	}
}

// Left alone, an approval reminds, escalates to the approver's manager and
// ends expired — never paid, never recorded as a rejection. The org file is
// the embedded one with its deadlines shortened to seconds.
func TestApprovalRemindsEscalatesExpires(t *testing.T) {
	org, err := os.ReadFile("../../policy/org.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fast := strings.NewReplacer("reminderAfter: 4h", "reminderAfter: 2s", "escalateAfter: 24h", "escalateAfter: 4s",
		"expireAfter: 72h", "expireAfter: 6s").Replace(string(org))
	dir, err := policy.ParseDirectory([]byte(fast))
	if err != nil {
		t.Fatal(err)
	}
	s := stack.Start(t, stack.Options{Directory: dir})
	run := start(t, s, sandbox.InvoiceMedium)
	res := result(t, s, run)
	if res.Outcome != vendorpayment.OutcomeExpired || len(res.Approvals) != 0 {
		t.Fatalf("result = %+v, want expired with no approvals", res)
	}
	mail := email.New(s.Sandbox.SMTPAddr(), s.Sandbox.HTTPURL())
	for _, to := range []string{"maria@example.com", "chen@example.com"} {
		msgs, err := mail.List(context.Background(), to)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			t.Errorf("nobody emailed %s", to)
		}
	}
	maria, _ := mail.List(context.Background(), "maria@example.com")
	if len(maria) < 2 {
		t.Errorf("maria got %d emails, want the request and a reminder", len(maria))
	}
	if payments := paymentsFor(t, s, sandbox.InvoiceMedium); len(payments) != 0 {
		t.Fatalf("payments after expiry: %v", payments)
	}
}
