package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/connectors/chat"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/processes/customerescalation"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
	"github.com/execution-orchestrator/orchestrator/worker"
)

// fastSLAs shortens every severity's SLAs to seconds.
func fastSLAs(ack, update, confirm time.Duration) func(*worker.Config) {
	return func(c *worker.Config) {
		cfg := customerescalation.DefaultConfig()
		cfg.SLAs = map[string]customerescalation.SLA{}
		for _, sev := range []string{customerescalation.Sev1, customerescalation.Sev2, customerescalation.Sev3} {
			cfg.SLAs[sev] = customerescalation.SLA{AckWithin: ack, UpdateEvery: update, ConfirmWithin: confirm}
		}
		if c.Tuning == nil {
			c.Tuning = map[string]any{}
		}
		c.Tuning[customerescalation.ProcessName] = cfg
	}
}

// fastChain is policy/org.yaml with the engineering chain's steps seconds
// apart instead of 15 and 30 minutes.
func fastChain(t *testing.T) *policy.Directory {
	t.Helper()
	org, err := os.ReadFile(filepath.Join("..", "..", "policy", "org.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fast := strings.NewReplacer("{person: mateo, after: 15m}", "{person: mateo, after: 2s}", "{person: vera, after: 30m}", "{person: vera, after: 4s}").Replace(string(org))
	if fast == string(org) {
		t.Fatal("policy/org.yaml no longer has the chain fastChain shortens")
	}
	dir, err := policy.ParseDirectory([]byte(fast))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// startEscalation escalates the Globex P1 ticket as the detector would.
func startEscalation(t *testing.T, s *stack.Stack, ref string) string {
	t.Helper()
	in := customerescalation.Input{Ref: ref, AccountID: sandbox.AccountGlobex, Severity: customerescalation.Sev1,
		Trigger: customerescalation.TriggerTicket, TicketID: sandbox.IssueGlobexP1,
		Summary: "Checkout API returns 500 for all EU customers", RequestedBy: "schedule:customer-escalation-detector"}
	run, err := customerescalation.Start(context.Background(), s.Temporal, in)
	if err != nil {
		t.Fatal(err)
	}
	return run.GetID()
}

func escStatus(t *testing.T, s *stack.Stack, id string, until func(customerescalation.Status) bool) customerescalation.Status {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, err := customerescalation.QueryStatus(context.Background(), s.Temporal, id)
		if err == nil && until(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the state: %+v (%v)", id, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// act sends a person's step as the web app does: signed by its key for the
// open step, bound to exactly this request.
func act(t *testing.T, s *stack.Stack, id, person, action, message string) error {
	t.Helper()
	st := escStatus(t, s, id, func(st customerescalation.Status) bool { return st.OpenStep != "" || st.Outcome != "" })
	req := customerescalation.EscalationRequest{Action: action, Person: person, Message: message, Via: customerescalation.ViaWeb, Step: st.OpenStep}
	digest, err := customerescalation.RequestDigest(req)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := s.Temporal.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	req.Proof, err = s.Web.Sign(proof.Assertion{Kind: proof.KindTask, WorkflowID: id, RunID: desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(),
		Slot: req.Step, ActionDigest: digest, Decision: customerescalation.ProofDecision, Subject: person, Method: proof.MethodDev,
		IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return customerescalation.Send(context.Background(), s.Temporal, id, req)
}

// customerToken reads the link token from the newest "Is your issue
// resolved?" email to the Globex contact.
var customerTokenRE = regexp.MustCompile(`/customer\?token=([A-Za-z0-9_-]+)`)

func customerToken(t *testing.T, s *stack.Stack, seen int) (string, int) {
	t.Helper()
	mail := email.New(s.Sandbox.SMTPAddr(), s.Sandbox.HTTPURL())
	deadline := time.Now().Add(60 * time.Second)
	for {
		msgs, err := mail.List(context.Background(), "it@globex.example")
		var asks []email.StoredMessage
		for _, m := range msgs {
			if strings.Contains(m.Subject, "resolved?") {
				asks = append(asks, m)
			}
		}
		if err == nil && len(asks) > seen {
			last := asks[len(asks)-1]
			m := customerTokenRE.FindStringSubmatch(last.Body)
			if m == nil {
				t.Fatalf("no link in %q", last.Body)
			}
			return m[1], len(asks)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no customer question mailed (%v): %+v", err, msgs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func answer(t *testing.T, s *stack.Stack, id, token, ans string) {
	t.Helper()
	if err := s.Temporal.SignalWorkflow(context.Background(), id, "", customerescalation.CustomerSignal,
		customerescalation.CustomerAnswer{Answer: ans, Token: token}); err != nil {
		t.Fatal(err)
	}
}

func resolveTicket(t *testing.T, s *stack.Stack, issueID string) {
	t.Helper()
	tc := ticketing.New(s.Sandbox.HTTPURL())
	ctx := context.Background()
	for _, to := range []string{ticketing.StatusInProgress, ticketing.StatusResolved} {
		// A fresh key per call: a reopened ticket is fixed again.
		if _, err := tc.Transition(ctx, issueID, "test-fix-"+issueID+"-"+to+"-"+time.Now().Format(time.RFC3339Nano), to, "eli"); err != nil {
			t.Fatalf("move %s to %s: %v", issueID, to, err)
		}
	}
}

func final(t *testing.T, s *stack.Stack, id string) customerescalation.Status {
	t.Helper()
	var res customerescalation.Result
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := s.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// Acknowledged in time by the on-call engineer, a customer update emailed
// and confirmed delivered, "resolved" refused while the engineering ticket
// is open and accepted once ticketing shows it resolved, the customer
// confirms: resolved, with a CRM note and the story in the ledger.
func TestEscalationAcknowledgedResolvedConfirmed(t *testing.T) {
	s := stack.Start(t, stack.Options{Worker: fastSLAs(time.Minute, time.Minute, time.Minute)})
	id := startEscalation(t, s, "ESC-OK")
	st := escStatus(t, s, id, func(st customerescalation.Status) bool { return st.Stage == customerescalation.StageAwaitingAck })
	if st.EngTicket == "" || st.Holder == "" {
		t.Fatalf("status = %+v, want an engineering ticket and a holder", st)
	}
	holder := st.Holder
	if err := act(t, s, id, holder, customerescalation.ActionAck, ""); err != nil {
		t.Fatalf("%s acknowledges: %v", holder, err)
	}
	if err := act(t, s, id, holder, customerescalation.ActionUpdate, "We found the faulty release and are rolling back."); err != nil {
		t.Fatalf("customer update: %v", err)
	}
	// Marked resolved while ticketing still shows the ticket open: refused.
	err := act(t, s, id, holder, customerescalation.ActionResolve, "")
	if err == nil || !strings.Contains(err.Error(), st.EngTicket) {
		t.Fatalf("resolve with the ticket open: %v, want a refusal naming %s", err, st.EngTicket)
	}
	if cur := escStatus(t, s, id, func(customerescalation.Status) bool { return true }); cur.Outcome != "" {
		t.Fatalf("closed although the ticket is open: %+v", cur)
	}
	resolveTicket(t, s, st.EngTicket)
	if err := act(t, s, id, holder, customerescalation.ActionResolve, ""); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	token, _ := customerToken(t, s, 0)
	answer(t, s, id, token, customerescalation.AnswerConfirmed)
	res := final(t, s, id)
	if res.Outcome != customerescalation.OutcomeResolved || res.SLAState == customerescalation.SLABreached {
		t.Fatalf("result = %s (%s), sla %s", res.Outcome, res.Reason, res.SLAState)
	}
	if len(res.Updates) != 1 || !res.Updates[0].Delivered {
		t.Errorf("customer updates = %+v, want one, delivered", res.Updates)
	}
	entries, err := s.Ledger.History(context.Background(), "ESC-OK")
	if err != nil {
		t.Fatal(err)
	}
	if _, out := entriesOf[audit.OutcomeData](t, entries, audit.KindOutcome); len(out) != 1 || out[0].Outcome != customerescalation.OutcomeResolved {
		t.Errorf("ledger outcome = %+v", out)
	}
}

// Nobody acknowledges: the escalation walks the engineering chain (on-call
// engineer, then mateo, then vera), each step a recorded handoff, the SLA
// state breached.
func TestEscalationNotAcknowledgedWalksTheChain(t *testing.T) {
	s := stack.Start(t, stack.Options{Worker: fastSLAs(2*time.Second, time.Hour, time.Hour), Directory: fastChain(t)})
	id := startEscalation(t, s, "ESC-LATE")
	st := escStatus(t, s, id, func(st customerescalation.Status) bool { return st.Holder == "vera" })
	if st.SLAState != customerescalation.SLABreached || len(st.Breaches) == 0 || st.Breaches[0].SLA != "ack" {
		t.Fatalf("status = %+v, want the ack SLA breached", st)
	}
	var to []string
	for _, h := range st.Handoffs {
		to = append(to, h.To)
	}
	if i, j := slices.Index(to, "mateo"), slices.Index(to, "vera"); i < 0 || j < i {
		t.Fatalf("handoffs to %v, want mateo then vera", to)
	}
	entries, err := s.Ledger.History(context.Background(), "ESC-LATE")
	if err != nil {
		t.Fatal(err)
	}
	_, hs := entriesOf[audit.HandoffData](t, entries, audit.KindHandoff)
	var recorded []string
	for _, h := range hs {
		recorded = append(recorded, h.To...)
	}
	if !slices.Contains(recorded, "mateo") || !slices.Contains(recorded, "vera") {
		t.Errorf("ledger handoffs to %v, want mateo and vera", recorded)
	}
	if err := s.Temporal.CancelWorkflow(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
}

// The customer says it is not fixed: the ticket reopens and the cycle
// repeats; the second time the customer confirms.
func TestEscalationCustomerNotFixedReopens(t *testing.T) {
	s := stack.Start(t, stack.Options{Worker: fastSLAs(time.Minute, time.Minute, time.Minute)})
	id := startEscalation(t, s, "ESC-AGAIN")
	st := escStatus(t, s, id, func(st customerescalation.Status) bool { return st.Stage == customerescalation.StageAwaitingAck })
	holder := st.Holder
	if err := act(t, s, id, holder, customerescalation.ActionAck, ""); err != nil {
		t.Fatal(err)
	}
	resolveTicket(t, s, st.EngTicket)
	if err := act(t, s, id, holder, customerescalation.ActionResolve, ""); err != nil {
		t.Fatal(err)
	}
	token, seen := customerToken(t, s, 0)
	answer(t, s, id, token, customerescalation.AnswerNotFixed)
	st = escStatus(t, s, id, func(st customerescalation.Status) bool { return st.Cycle >= 2 })
	if !slices.Contains(st.CycleOutcomes, customerescalation.OutcomeReopened) {
		t.Fatalf("cycle outcomes = %v, want reopened", st.CycleOutcomes)
	}
	issue, err := ticketing.New(s.Sandbox.HTTPURL()).GetIssue(context.Background(), st.EngTicket)
	if err != nil || issue.Status != ticketing.StatusOpen {
		t.Fatalf("ticket %s after not fixed: %+v (%v), want open again", st.EngTicket, issue.Status, err)
	}
	// The old link no longer counts.
	answer(t, s, id, token, customerescalation.AnswerConfirmed)
	holder = escStatus(t, s, id, func(st customerescalation.Status) bool { return st.OpenStep != "" }).Holder
	if err := act(t, s, id, holder, customerescalation.ActionAck, ""); err != nil {
		t.Fatal(err)
	}
	resolveTicket(t, s, st.EngTicket)
	if err := act(t, s, id, holder, customerescalation.ActionResolve, ""); err != nil {
		t.Fatal(err)
	}
	token, _ = customerToken(t, s, seen)
	answer(t, s, id, token, customerescalation.AnswerConfirmed)
	if res := final(t, s, id); res.Outcome != customerescalation.OutcomeResolved || res.Cycle != 2 {
		t.Fatalf("result = %s in cycle %d (%s)", res.Outcome, res.Cycle, res.Reason)
	}
}

// With 30 % of ticketing's and chat's calls failing (many after the
// change), the escalation opens exactly one engineering ticket and posts
// each event to the channel once.
func TestEscalationUnderTicketingFaultsDuplicatesNothing(t *testing.T) {
	faults := map[string]sandbox.Fault{}
	for _, name := range []string{"ticketing.create", "ticketing.link", "ticketing.transition", "ticketing.get", "chat.post"} {
		// Half of the failures come after the change: the answer is lost,
		// the retry must not do it twice.
		faults[name] = sandbox.Fault{ErrorRate: 0.3, AfterEffect: name != "ticketing.get"}
	}
	s := stack.Start(t, stack.Options{Faults: faults, Worker: func(c *worker.Config) {
		fastSLAs(time.Minute, time.Minute, time.Minute)(c)
		fastRetries(c)
	}})
	id := startEscalation(t, s, "ESC-FLAKY")
	st := escStatus(t, s, id, func(st customerescalation.Status) bool { return st.Stage == customerescalation.StageAwaitingAck })
	if err := s.Temporal.CancelWorkflow(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	escStatus(t, s, id, func(st customerescalation.Status) bool { return st.Outcome != "" })

	if err := s.Sandbox.SetFaults(nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	issues, err := ticketing.New(s.Sandbox.HTTPURL()).ListIssues(ctx, ticketing.Filter{Project: "ENG", AccountID: sandbox.AccountGlobex})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, is := range issues {
		if strings.Contains(is.Title, "ESC-FLAKY") || is.ID == st.EngTicket {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d engineering tickets for the escalation, want 1: %+v", n, issues)
	}
	msgs, err := chat.New(s.Sandbox.HTTPURL()).Messages(ctx, st.Channel, "")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range msgs {
		if m.Author == chat.BotHandle && strings.Contains(m.Text, "ESC-FLAKY") {
			seen[m.Text]++
		}
	}
	if len(seen) == 0 {
		t.Fatalf("no posts for the escalation in %s: %+v", st.Channel, msgs)
	}
	for text, k := range seen {
		if k != 1 {
			t.Errorf("posted %d times: %q", k, text)
		}
	}
	b, _ := json.Marshal(seen)
	t.Logf("posts: %s", b)
}

// "ack ESC-…" typed in the account's channel reaches the escalation
// through the chat webhook: from a chat user the directory does not know,
// nothing happens; from the on-call engineer's handle, it is acknowledged,
// proven as sent from chat.
func TestEscalationAcknowledgedFromChat(t *testing.T) {
	s := stack.Start(t, stack.Options{Worker: fastSLAs(time.Minute, time.Minute, time.Minute)})
	id := startEscalation(t, s, "ESC-CHAT")
	st := escStatus(t, s, id, func(st customerescalation.Status) bool { return st.Stage == customerescalation.StageAwaitingAck })
	holder, ok := s.Dir.Person(st.Holder)
	if !ok || holder.Chat == "" {
		t.Fatalf("holder %q has no chat handle", st.Holder)
	}
	c := chat.New(s.Sandbox.HTTPURL())
	ctx := context.Background()
	if _, err := c.PostAs(ctx, st.Channel, "", "@mallory", "ack ESC-CHAT"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the webhook delivers within milliseconds
	if cur := escStatus(t, s, id, func(customerescalation.Status) bool { return true }); cur.Acknowledged {
		t.Fatalf("an unknown chat user acknowledged: %+v", cur)
	}
	if _, err := c.PostAs(ctx, st.Channel, "", holder.Chat, "ack ESC-CHAT"); err != nil {
		t.Fatal(err)
	}
	cur := escStatus(t, s, id, func(st customerescalation.Status) bool { return st.Acknowledged })
	if cur.AckedBy != holder.ID {
		t.Fatalf("acknowledged by %q, want %s", cur.AckedBy, holder.ID)
	}
	if err := s.Temporal.CancelWorkflow(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
}

// An agent with the escalations:create scope starts an escalation through
// the gateway's REST API: proven as the agent, joined (not duplicated) when
// it asks again, refused to an agent without the scope and for a field at
// fault.
func TestEscalationStartedByAgent(t *testing.T) {
	s := stack.Start(t, stack.Options{AgentAPI: true, Worker: fastSLAs(time.Minute, time.Minute, time.Minute)})
	ctx := context.Background()
	key, err := s.Agents.Create(ctx, "support-bot", []string{"escalations:create"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Agents.Create(ctx, "reader-bot", []string{"actions:read"})
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"ref": "ESC-AGENT-1", "accountId": sandbox.AccountGlobex, "severity": "sev2", "summary": "Error rate on the EU checkout doubled"}
	if code := rest(t, s, "POST", "/v1/escalations", other, body, nil); code != 403 {
		t.Fatalf("without the scope: %d, want 403", code)
	}
	var bad map[string]any
	if code := rest(t, s, "POST", "/v1/escalations", key, map[string]any{"ref": "ESC-AGENT-2", "accountId": sandbox.AccountGlobex, "severity": "sev9", "summary": "x"}, &bad); code != 400 || !strings.Contains(strings.ToLower(jsonString(bad)), "severity") {
		t.Fatalf("bad severity: %d %v, want 400 naming severity", code, bad)
	}
	huge := map[string]any{"ref": "ESC-AGENT-3", "accountId": sandbox.AccountGlobex, "severity": "sev2", "summary": strings.Repeat("x", 2<<20)}
	if code := rest(t, s, "POST", "/v1/escalations", key, huge, nil); code != 413 && code != 400 {
		t.Fatalf("oversized: %d, want 413 or 400", code)
	}
	if _, err := s.Temporal.DescribeWorkflowExecution(ctx, customerescalation.WorkflowID("ESC-AGENT-3"), ""); err == nil {
		t.Fatal("an oversized request started an escalation")
	}
	var first, again map[string]any
	if code := rest(t, s, "POST", "/v1/escalations", key, body, &first); code/100 != 2 {
		t.Fatalf("start: %d %v", code, first)
	}
	if code := rest(t, s, "POST", "/v1/escalations", key, body, &again); code/100 != 2 || again["runId"] != first["runId"] {
		t.Fatalf("again: %d %v, want the same run as %v", code, again, first)
	}
	id := customerescalation.WorkflowID("ESC-AGENT-1")
	st := escStatus(t, s, id, func(st customerescalation.Status) bool { return st.Stage == customerescalation.StageAwaitingAck })
	if st.RequestedBy != "agent:support-bot" || st.Trigger != customerescalation.TriggerAgent {
		t.Fatalf("status = %+v", st)
	}
	if err := s.Temporal.CancelWorkflow(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
