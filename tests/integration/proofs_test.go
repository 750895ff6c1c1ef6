package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
	"github.com/execution-orchestrator/orchestrator/totp"
)

// approvalsOf reads the kernel's "approvals" query.
func approvalsOf(t *testing.T, s *stack.Stack, id string) approvals.Status {
	t.Helper()
	st, err := client.ApprovalStatus(context.Background(), s.Temporal, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// refusedSignals waits until the workflow has recorded n refused signals.
func refusedSignals(t *testing.T, s *stack.Stack, id string, n int) approvals.Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := approvalsOf(t, s, id)
		if len(st.RejectedMessages) >= n {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s recorded %d refused signals, want %d: %+v", id, len(st.RejectedMessages), n, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func signal(t *testing.T, s *stack.Stack, id string, req approvals.Request) {
	t.Helper()
	if err := s.Temporal.SignalWorkflow(context.Background(), id, "", approvals.SignalName, req); err != nil {
		t.Fatal(err)
	}
}

func noPayment(t *testing.T, s *stack.Stack, invoiceID string) {
	t.Helper()
	if p := paymentsFor(t, s, invoiceID); len(p) != 0 {
		t.Fatalf("payments for %s: %+v, want none", invoiceID, p)
	}
}

// Anyone who reaches the Temporal frontend can send the Signal the Temporal
// UI sends, with any name in it. Without a proof, or with one signed by a
// key we do not trust, it changes nothing and is recorded with the reason.
func TestForgedSignalPaysNothing(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	run := start(t, s, sandbox.InvoiceMedium)
	awaiting(t, s, run.GetID(), "maria")
	st := approvalsOf(t, s, run.GetID())

	signal(t, s, run.GetID(), approvals.Request{Decision: "approve", Approver: "maria", ActionDigest: st.ActionDigest, Comment: "sent as mallory@evil"})
	_, priv, _ := proof.GenerateKey()
	forged := stack.Sign(t, proof.NewSigner(priv), proof.MethodOIDC, "maria", "approve", st)
	signal(t, s, run.GetID(), approvals.Request{Decision: "approve", Approver: "maria", ActionDigest: st.ActionDigest, Proof: forged})
	signal(t, s, run.GetID(), approvals.Request{Decision: "approve", Approver: "maria", ActionDigest: st.ActionDigest, Proof: "000000"})

	got := refusedSignals(t, s, run.GetID(), 3)
	for i, want := range []string{"proof: required", "proof.kid: unknown key", "one-time code refused"} {
		if !strings.Contains(got.RejectedMessages[i].Reason, want) {
			t.Errorf("refused signal %d: %q, want it to say %q", i, got.RejectedMessages[i].Reason, want)
		}
	}
	if got.Stage != approvals.StageAwaitingApproval || len(got.Approvals) != 0 {
		t.Fatalf("a forged signal changed the workflow: %+v", got)
	}
	noPayment(t, s, sandbox.InvoiceMedium)
}

// The Update door refuses the same forgeries synchronously, naming the field.
func TestForgedUpdateRefused(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	// People's keys are listed before the wait starts: the workflow reads
	// the trusted keys when it opens a slot.
	maria := s.PersonKey(t, "maria")
	chen := s.PersonKey(t, "chen")
	run := start(t, s, sandbox.InvoiceMedium)
	awaiting(t, s, run.GetID(), "maria")
	st := approvalsOf(t, s, run.GetID())
	_, priv, _ := proof.GenerateKey()
	stranger := proof.NewSigner(priv)

	tests := []struct {
		name  string
		proof string
		want  string
	}{
		{"no proof", "", "proof: required"},
		{"untrusted key", stack.Sign(t, stranger, proof.MethodKey, "maria", "approve", st), "proof.kid: unknown key"},
		{"chen's key signing as maria", stack.Sign(t, chen, proof.MethodKey, "maria", "approve", st), "proof."},
		{"maria's key claiming oidc", stack.Sign(t, maria, proof.MethodOIDC, "maria", "approve", st), "proof."},
		{"a proof for a reject sent as approve", stack.Sign(t, maria, proof.MethodKey, "maria", "reject", st), "proof.decision"},
		{"garbage", "eo1.not.a-token", "proof."},
		{"oversized", strings.Repeat("x", 5000), "proof: longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := client.Approve(ctx, s.Temporal, run.GetID(), approvals.Request{
				Decision: "approve", Approver: "maria", ActionDigest: st.ActionDigest, Proof: tt.proof})
			var refused *client.ApprovalRefusedError
			if !errors.As(err, &refused) || !strings.Contains(refused.Reason, tt.want) {
				t.Fatalf("Approve = %v, want a refusal saying %q", err, tt.want)
			}
		})
	}
	if cur := approvalsOf(t, s, run.GetID()); len(cur.Approvals) != 0 {
		t.Fatalf("a forged update was accepted: %+v", cur.Approvals)
	}
	noPayment(t, s, sandbox.InvoiceMedium)
}

// A proof admits one decision: maria's accepted proof for the first slot of
// the CFO tier cannot be replayed, by anyone, for the CFO slot.
func TestReplayedProofRefused(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	maria := s.PersonKey(t, "maria")
	run := start(t, s, sandbox.InvoiceLarge)
	awaiting(t, s, run.GetID(), "maria")
	st := approvalsOf(t, s, run.GetID())
	tok := stack.Sign(t, maria, proof.MethodKey, "maria", "approve", st)
	if err := client.Approve(ctx, s.Temporal, run.GetID(), approvals.Request{Decision: "approve", Approver: "maria", ActionDigest: st.ActionDigest, Proof: tok}); err != nil {
		t.Fatal(err)
	}
	awaiting(t, s, run.GetID(), "chen")
	for _, approver := range []string{"chen", "maria"} {
		err := client.Approve(ctx, s.Temporal, run.GetID(), approvals.Request{Decision: "approve", Approver: approver, ActionDigest: st.ActionDigest, Proof: tok})
		var refused *client.ApprovalRefusedError
		if !errors.As(err, &refused) {
			t.Fatalf("replayed proof as %s: %v, want a refusal", approver, err)
		}
	}
	signal(t, s, run.GetID(), approvals.Request{Decision: "approve", Approver: "chen", ActionDigest: st.ActionDigest, Proof: tok})
	refusedSignals(t, s, run.GetID(), 1)
	if cur := approvalsOf(t, s, run.GetID()); len(cur.Approvals) != 1 || cur.AwaitingSlot != "cfo" {
		t.Fatalf("after replays: %+v, want only maria's approval and the cfo slot open", cur)
	}
	noPayment(t, s, sandbox.InvoiceLarge)
}

// The requester cannot approve their own payment under another spelling of
// their identity, even with a valid proof of who they are.
func TestSelfApprovalUnderAnotherSpellingRefused(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	maria := s.PersonKey(t, "maria")
	for _, requester := range []string{"cli:Maria", "MARIA"} {
		t.Run(requester, func(t *testing.T) {
			inv := splitInvoice(t, s, "INV-SELF-"+strings.NewReplacer(":", "", "A", "a").Replace(requester), sandbox.VendorInitech, 900000)
			run, err := vendorpayment.Start(ctx, s.Temporal, vendorpayment.VendorPaymentInput{InvoiceID: inv, RequestedBy: requester})
			if err != nil {
				t.Fatal(err)
			}
			st := awaitingSlot(t, s, run.GetID())
			if slices.Contains(st.PendingApprovers, "maria") {
				t.Fatalf("the requester is awaited: %v", st.PendingApprovers)
			}
			err = client.Approve(ctx, s.Temporal, run.GetID(), approvals.Request{Decision: "approve", Approver: "maria", ActionDigest: st.ActionDigest,
				Proof: stack.Sign(t, maria, proof.MethodKey, "maria", "approve", st)})
			var refused *client.ApprovalRefusedError
			if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "requested this action") {
				t.Fatalf("self-approval: %v, want refused as the requester", err)
			}
			noPayment(t, s, inv)
		})
	}
}

// awaitingSlot waits until the workflow awaits any decision.
func awaitingSlot(t *testing.T, s *stack.Stack, id string) approvals.Status {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := client.ApprovalStatus(context.Background(), s.Temporal, id)
		if err == nil && st.AwaitingSlot != "" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never awaited a decision: %+v (%v)", id, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// splitInvoice creates an overdue, scheduled invoice in the sandbox ERP.
func splitInvoice(t *testing.T, s *stack.Stack, id, vendorID string, amountMinor int64) string {
	t.Helper()
	vendors := map[string]erp.Vendor{}
	for _, v := range sandbox.SeedVendors() {
		vendors[v.ID] = v
	}
	today := time.Now().UTC()
	inv := erp.Invoice{ID: id, VendorID: vendorID, AmountMinor: amountMinor, Currency: "EUR",
		IssueDate: today.AddDate(0, 0, -30).Format(time.DateOnly), DueDate: today.AddDate(0, 0, -2).Format(time.DateOnly),
		BankAccount: vendors[vendorID].BankAccount, Status: erp.InvoiceOpen}
	put(t, http.MethodPost, s.SandboxURL("/erp/invoices"), inv)
	put(t, http.MethodPut, s.SandboxURL("/erp/schedule/"+id), erp.ScheduleEntry{InvoiceID: id, Approved: true,
		PayOn: today.AddDate(0, 0, -1).Format(time.DateOnly), AmountMinor: amountMinor})
	return id
}

func put(t *testing.T, method, url string, body any) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
}

// Splitting a large payment into invoices each under the autonomous limit
// does not escape approval: the vendor's daily cap (vendor.daily-cap in
// policy/vendorpayment.cedar) sends the third to a finance-manager.
func TestInvoiceSplittingOverDailyCapNeedsApproval(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	maria := s.PersonKey(t, "maria")
	var ids []string
	for i := range 3 {
		ids = append(ids, splitInvoice(t, s, fmt.Sprintf("INV-SPLIT-%d", i+1), sandbox.VendorUmbrella, 240000))
	}
	for _, id := range ids[:2] {
		run, err := vendorpayment.Start(ctx, s.Temporal, vendorpayment.VendorPaymentInput{InvoiceID: id, RequestedBy: "agent:payables-bot"})
		if err != nil {
			t.Fatal(err)
		}
		if res := result(t, s, run); res.Outcome != vendorpayment.OutcomePaid {
			t.Fatalf("%s: %+v, want paid autonomously (4 800.00 EUR today is within the cap)", id, res)
		}
	}
	run, err := vendorpayment.Start(ctx, s.Temporal, vendorpayment.VendorPaymentInput{InvoiceID: ids[2], RequestedBy: "agent:payables-bot"})
	if err != nil {
		t.Fatal(err)
	}
	st := awaiting(t, s, run.GetID(), "maria")
	if st.Gate == nil || st.Gate.Permit || !slices.ContainsFunc(st.Gate.Reasons, func(r gate.Reason) bool { return r.PolicyID == "vendor.daily-cap" }) {
		t.Fatalf("gate decision %+v, want a deny by vendor.daily-cap", st.Gate)
	}
	noPayment(t, s, ids[2])

	// A finance-manager's proven approval lifts the cap for this payment.
	ap := approvalsOf(t, s, run.GetID())
	if err := client.Approve(ctx, s.Temporal, run.GetID(), approvals.Request{Decision: "approve", Approver: "maria", ActionDigest: ap.ActionDigest,
		Proof: stack.Sign(t, maria, proof.MethodKey, "maria", "approve", ap)}); err != nil {
		t.Fatal(err)
	}
	if res := result(t, s, run); res.Outcome != vendorpayment.OutcomePaid {
		t.Fatalf("after approval: %+v", res)
	}
}

// Changing a number in a .cedar file changes the decision of the running
// worker at its next evaluation, with no code change and no restart.
func TestPolicyEditChangesDecisionOnRunningWorker(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	before := splitInvoice(t, s, "INV-POLICY-1", sandbox.VendorAcme, 240000)
	run, err := vendorpayment.Start(ctx, s.Temporal, vendorpayment.VendorPaymentInput{InvoiceID: before, RequestedBy: "agent:payables-bot"})
	if err != nil {
		t.Fatal(err)
	}
	if res := result(t, s, run); res.Outcome != vendorpayment.OutcomePaid {
		t.Fatalf("before the edit: %+v, want paid autonomously", res)
	}

	file := filepath.Join(s.PolicyDir, "vendorpayment.cedar")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), "context.amountMinor > 500000", "context.amountMinor > 100000", 1)
	if edited == string(data) {
		t.Fatal("the autonomous threshold is not written as `context.amountMinor > 500000` in vendorpayment.cedar")
	}
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	after := splitInvoice(t, s, "INV-POLICY-2", sandbox.VendorGlobex, 240000)
	run, err = vendorpayment.Start(ctx, s.Temporal, vendorpayment.VendorPaymentInput{InvoiceID: after, RequestedBy: "agent:payables-bot"})
	if err != nil {
		t.Fatal(err)
	}
	st := awaiting(t, s, run.GetID(), "maria")
	if st.Gate == nil || !slices.ContainsFunc(st.Gate.Reasons, func(r gate.Reason) bool { return r.PolicyID == "autonomy.threshold" }) {
		t.Fatalf("after the edit: gate %+v, want autonomy.threshold to ask for approval", st.Gate)
	}
	noPayment(t, s, after)
}

// A foreign workflow that schedules ReleasePayment on our task queue is
// refused and nothing is paid: not from another workflow type, not from a
// workflow dressed up as this invoice's VendorPayment (its name and id, on
// the attacker's own queue) with another account, and not even with the
// honest action of a small invoice a real run would pay unasked: the
// server says which queue the caller runs on.
func TestForeignWorkflowCannotRelease(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	var inv erp.Invoice
	getJSON(t, s.SandboxURL("/erp/invoices/"+sandbox.InvoiceMedium), &inv)
	var vendor erp.Vendor
	getJSON(t, s.SandboxURL("/erp/vendors/"+inv.VendorID), &vendor)
	vendor.BankAccount = erp.BankAccount{IBAN: "GB33BUKB20201555555555", BIC: "BUKBGB22", AccountHolder: "Mallory Ltd"}
	pay := action.NewPayment(inv, vendor)
	digest, err := action.Digest(pay)
	if err != nil {
		t.Fatal(err)
	}
	release := vendorpayment.ReleaseRequest{IdempotencyKey: vendorpayment.IdempotencyKey(digest), Action: pay, ActionDigest: digest, RequestedBy: "mallory"}

	// The foreign worker polls its own queue and sends the activity to ours.
	foreign := func(ctx workflow.Context, req vendorpayment.ReleaseRequest) (string, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue: process.TaskQueue, StartToCloseTimeout: 30 * time.Second,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		err := workflow.ExecuteActivity(ctx, vendorpayment.ActivityReleasePayment, req).Get(ctx, nil)
		if err == nil {
			return "released", nil
		}
		return "", err
	}
	w := sdkworker.New(s.Temporal, "mallory", sdkworker.Options{})
	w.RegisterWorkflowWithOptions(foreign, workflow.RegisterOptions{Name: "Mallory"})
	// Dressed up: the name and id of our workflow, on the foreign queue.
	w.RegisterWorkflowWithOptions(foreign, workflow.RegisterOptions{Name: vendorpayment.VendorPaymentWorkflow})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	// The honest action of a small invoice: what a real run would pay
	// without asking anyone. Only the workflow's task queue gives it away.
	var small erp.Invoice
	getJSON(t, s.SandboxURL("/erp/invoices/"+sandbox.InvoiceHappyPath), &small)
	var smallVendor erp.Vendor
	getJSON(t, s.SandboxURL("/erp/vendors/"+small.VendorID), &smallVendor)
	honest := action.NewPayment(small, smallVendor)
	honestDigest, err := action.Digest(honest)
	if err != nil {
		t.Fatal(err)
	}
	honestRelease := vendorpayment.ReleaseRequest{IdempotencyKey: vendorpayment.IdempotencyKey(honestDigest), Action: honest, ActionDigest: honestDigest, RequestedBy: "mallory"}

	for _, tc := range []struct {
		id, typ string
		req     vendorpayment.ReleaseRequest
	}{
		{"mallory-1", "Mallory", release},
		{vendorpayment.VendorPaymentID(sandbox.InvoiceMedium), vendorpayment.VendorPaymentWorkflow, release},
		{vendorpayment.VendorPaymentID(sandbox.InvoiceHappyPath), vendorpayment.VendorPaymentWorkflow, honestRelease},
	} {
		run, err := s.Temporal.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{ID: tc.id, TaskQueue: "mallory"}, tc.typ, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = run.Get(cctx, nil)
		cancel()
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != vendorpayment.ErrTypeNotOurs {
			t.Fatalf("foreign release from %s (%s): %v, want refused with %s", tc.id, tc.typ, err, vendorpayment.ErrTypeNotOurs)
		}
	}
	noPayment(t, s, sandbox.InvoiceHappyPath)
	noPayment(t, s, sandbox.InvoiceMedium)
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// From the Temporal UI a person types a one-time code from their
// authenticator app into the Signal's "proof": the worker checks it, signs
// what it checked, and the payment is released. The same code never works
// twice.
func TestTemporalUISignalWithOneTimeCodePays(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	e, err := s.Codes.Enroll(ctx, "maria", "ExecutionOrchestrator")
	if err != nil {
		t.Fatal(err)
	}
	run := start(t, s, sandbox.InvoiceMedium)
	awaiting(t, s, run.GetID(), "maria")
	st := approvalsOf(t, s, run.GetID())
	code, err := totp.Code(e.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Exactly what the Temporal UI's Signal dialog sends (json/plain).
	payload := fmt.Sprintf(`{"decision":"approve","approver":"maria","comment":"from the Temporal UI","actionDigest":%q,"proof":%q}`, st.ActionDigest, code)
	if err := s.Temporal.SignalWorkflow(ctx, run.GetID(), "", approvals.SignalName, json.RawMessage(payload)); err != nil {
		t.Fatal(err)
	}
	res := result(t, s, run)
	if res.Outcome != vendorpayment.OutcomePaid || len(res.Approvals) != 1 || res.Approvals[0].Proof == nil || res.Approvals[0].Proof.Method != proof.MethodTOTP {
		t.Fatalf("result = %+v, want paid with maria's totp-proven approval", res)
	}
	onePayment(t, s, sandbox.InvoiceMedium)

	// The code was used: on another payment it is refused and recorded.
	run2 := start(t, s, sandbox.InvoiceLarge)
	awaiting(t, s, run2.GetID(), "maria")
	st2 := approvalsOf(t, s, run2.GetID())
	signal(t, s, run2.GetID(), approvals.Request{Decision: "approve", Approver: "maria", ActionDigest: st2.ActionDigest, Proof: code})
	got := refusedSignals(t, s, run2.GetID(), 1)
	if !strings.Contains(got.RejectedMessages[0].Reason, "one-time code refused") || len(got.Approvals) != 0 {
		t.Fatalf("reused code: %+v", got)
	}
	noPayment(t, s, sandbox.InvoiceLarge)
}

// A flood of approval signals cannot grow a workflow's history without
// bound: the server refuses signals past history.maximumSignalsPerExecution
// (temporal-dev.yaml), and the workflow keeps only the last refusals.
func TestSignalFloodIsBounded(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	run := start(t, s, sandbox.InvoiceMedium)
	st := awaiting(t, s, run.GetID(), "maria")
	junk := approvals.Request{Decision: "approve", Approver: "maria", ActionDigest: st.ActionDigest, Comment: strings.Repeat("x", 1000)}
	var refused error
	sent := 0
	for ; sent < 1000 && refused == nil; sent++ {
		refused = s.Temporal.SignalWorkflow(ctx, run.GetID(), "", approvals.SignalName, junk)
	}
	if refused == nil || !strings.Contains(refused.Error(), "limit") {
		t.Fatalf("after %d signals: %v, want the server to refuse more", sent, refused)
	}
	if sent > 400 {
		t.Fatalf("the server took %d signals; temporal-dev.yaml bounds them at 300", sent)
	}
	got := refusedSignals(t, s, run.GetID(), 20)
	if len(got.RejectedMessages) > 20 || got.Stage != approvals.StageAwaitingApproval {
		t.Fatalf("status after the flood: %d refused messages kept, stage %s", len(got.RejectedMessages), got.Stage)
	}
	noPayment(t, s, sandbox.InvoiceMedium)
}

// A start can carry a proof of who requested it. A valid one makes the
// requester verified (status, approvals query, and the gate's principal);
// one signed by someone else fails the start naming the field. The
// detector's starts are signed by the worker.
func TestSignedStartVerifiesRequester(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	ana := s.PersonKey(t, "ana")
	maria := s.PersonKey(t, "maria")

	in := vendorpayment.VendorPaymentInput{InvoiceID: sandbox.InvoiceMedium, RequestedBy: "ana"}
	var err error
	if in.RequesterProof, err = vendorpayment.SignStart(ana, in, proof.MethodKey, time.Now()); err != nil {
		t.Fatal(err)
	}
	run, err := vendorpayment.Start(ctx, s.Temporal, in)
	if err != nil {
		t.Fatal(err)
	}
	st := awaiting(t, s, run.GetID(), "maria")
	if !st.RequesterVerified || !approvalsOf(t, s, run.GetID()).RequesterVerified {
		t.Fatalf("requester not verified: %+v", st)
	}

	forged := vendorpayment.VendorPaymentInput{InvoiceID: sandbox.InvoiceLarge, RequestedBy: "ana"}
	if forged.RequesterProof, err = vendorpayment.SignStart(maria, forged, proof.MethodKey, time.Now()); err != nil {
		t.Fatal(err)
	}
	run2, err := vendorpayment.Start(ctx, s.Temporal, forged)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = run2.Get(cctx, nil)
	if err == nil || !strings.Contains(err.Error(), "requesterProof: proof.") {
		t.Fatalf("start signed by maria for ana: %v, want it refused naming requesterProof", err)
	}
	noPayment(t, s, sandbox.InvoiceLarge)
}
