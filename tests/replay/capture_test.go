package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/evidence/evidencetest"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
	"github.com/execution-orchestrator/orchestrator/processes/customerescalation"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/processes/onboarding"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
	"github.com/execution-orchestrator/orchestrator/totp"
	"github.com/execution-orchestrator/orchestrator/worker"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// TestCaptureHistories records histories into histories/ from real runs on
// the integration stack (tests/stack: Temporal dev server from bin/temporal,
// sandbox, worker). It is a tool, not a check: it runs only with
// EO_CAPTURE_HISTORIES=1, after a deliberate, versioned workflow change. Each
// history is a subtest named like its file, and a subtest whose file exists
// records nothing (delete the file to record it again), so recorded
// histories stay as they ran: `-run 'TestCaptureHistories/proven-'` records
// just the missing ones of those.
//
// The histories without the "proven-approvals" marker were recorded before
// it and prove that runs started then still replay. Their scenarios decide
// without proofs, which the current code refuses, so they cannot be
// recorded again; the proven-* and gate-* subtests record runs under it.
func TestCaptureHistories(t *testing.T) {
	if os.Getenv("EO_CAPTURE_HISTORIES") != "1" {
		t.Skip("set EO_CAPTURE_HISTORIES=1 to record histories")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Shared stacks start when the first subtest that needs one runs.
	lazy := func(opts func() stack.Options) func() *stack.Stack {
		var s *stack.Stack
		return func() *stack.Stack {
			if s == nil {
				s = stack.Start(t, withReplayKeys(opts()))
			}
			return s
		}
	}
	std := lazy(func() stack.Options { return stack.Options{} })
	// Deadlines of seconds, so a request left alone reminds, escalates and
	// expires while the capture waits.
	fast := lazy(func() stack.Options { return stack.Options{Directory: fastDirectory(t)} })
	neverSettles := lazy(func() stack.Options { return stack.Options{SettleAfter: -1} })

	// capture runs a scenario on the stack s returns and saves its history
	// as histories/<name>.json, unless that file exists.
	capture := func(name string, s func(t *testing.T) *stack.Stack, run func(r *recorder) (tclient.WorkflowRun, string)) {
		t.Run(name, func(t *testing.T) {
			path := historyFile(t, name)
			st := s(t)
			r := &recorder{t: t, ctx: ctx, c: st.Temporal, s: st}
			wr, wantOutcome := run(r)
			r.finish(wr, path, wantOutcome)
		})
	}
	shared := func(s func() *stack.Stack) func(*testing.T) *stack.Stack {
		return func(*testing.T) *stack.Stack { return s() }
	}
	// own gives a subtest a stack of its own, stopped when it ends, so each
	// proven scenario starts from the seed invoices.
	own := func(opts stack.Options) func(*testing.T) *stack.Stack {
		return func(t *testing.T) *stack.Stack { return stack.Start(t, withReplayKeys(opts)) }
	}

	// Autonomous payment and a stop before paying.
	capture("autonomous-paid", shared(std), func(r *recorder) (tclient.WorkflowRun, string) {
		return r.start(sandbox.InvoiceHappyPath, "agent:payables-bot"), vendorpayment.OutcomePaid
	})
	capture("bank-details-mismatch", shared(std), func(r *recorder) (tclient.WorkflowRun, string) {
		return r.start(sandbox.InvoiceBankMismatch, "agent:payables-bot"), vendorpayment.OutcomeBankDetailsMismatch
	})

	// Finance-manager tier: an invalid signal is ignored, then maria approves.
	capture("finance-manager-approved", shared(std), func(r *recorder) (tclient.WorkflowRun, string) {
		run := r.start(sandbox.InvoiceMedium, "agent:payables-bot")
		st := r.awaitSlot(run.GetID(), "finance-manager")
		r.signal(run.GetID(), vendorpayment.ApprovalRequest{Decision: vendorpayment.DecisionApprove, Approver: "agent:payables-bot", ActionDigest: st.ActionDigest})
		r.decide(run.GetID(), vendorpayment.ApprovalRequest{Decision: vendorpayment.DecisionApprove, Approver: "maria", ActionDigest: st.ActionDigest, Comment: "checked"})
		return run, vendorpayment.OutcomePaid
	})

	// CFO tier: the finance manager approves, the CFO rejects.
	capture("cfo-rejected", shared(std), func(r *recorder) (tclient.WorkflowRun, string) {
		run := r.start(sandbox.InvoiceLarge, "ana")
		st := r.awaitSlot(run.GetID(), "finance-manager")
		r.decide(run.GetID(), vendorpayment.ApprovalRequest{Decision: vendorpayment.DecisionApprove, Approver: "maria", ActionDigest: st.ActionDigest})
		st = r.awaitSlot(run.GetID(), "cfo")
		r.decide(run.GetID(), vendorpayment.ApprovalRequest{Decision: vendorpayment.DecisionReject, Approver: "chen", ActionDigest: st.ActionDigest, Comment: "renegotiate first"})
		return run, vendorpayment.OutcomeRejected
	})

	// Finance-manager tier decided by Signals only: a malformed one (decision
	// is a number) is recorded and ignored, then maria approves.
	capture("approval-by-signal", shared(std), func(r *recorder) (tclient.WorkflowRun, string) {
		id := r.copyInvoice(sandbox.InvoiceMedium, "INV-2044")
		run := r.start(id, "agent:payables-bot")
		st := r.awaitSlot(run.GetID(), "finance-manager")
		r.signal(run.GetID(), map[string]any{"decision": 5, "approver": "maria", "actionDigest": st.ActionDigest})
		r.signal(run.GetID(), vendorpayment.ApprovalRequest{Decision: vendorpayment.DecisionApprove, Approver: "maria", ActionDigest: st.ActionDigest, Comment: "by signal"})
		return run, vendorpayment.OutcomePaid
	})

	// Left alone: request, reminder, escalation to the manager, expiry.
	capture("approval-expired", shared(fast), func(r *recorder) (tclient.WorkflowRun, string) {
		return r.start(sandbox.InvoiceMedium, "agent:payables-bot"), vendorpayment.OutcomeExpired
	})

	// Cancelled by an operator while waiting for a person, and while a
	// released payment never settles: the clean-up of cancel-cleanup.
	cancelAt := func(name string, invoiceID, stage string) {
		t.Run(name, func(t *testing.T) {
			path := historyFile(t, name)
			s := neverSettles()
			r := &recorder{t: t, ctx: ctx, c: s.Temporal, s: s}
			run := r.start(invoiceID, "agent:payables-bot")
			r.awaitStage(run.GetID(), stage)
			if err := s.Temporal.CancelWorkflow(ctx, run.GetID(), ""); err != nil {
				t.Fatal(err)
			}
			if err := run.Get(ctx, nil); !temporal.IsCanceledError(err) {
				t.Fatalf("%s: %v, want a cancellation", run.GetID(), err)
			}
			saveHistory(ctx, t, s.Temporal, run.GetID(), path)
		})
	}
	cancelAt("cancelled-awaiting-approval", sandbox.InvoiceMedium, vendorpayment.StageAwaitingApproval)
	cancelAt("cancelled-verifying", sandbox.InvoiceHappyPath, vendorpayment.StageVerifying)

	// Under proven-approvals (docs/approvals.md "Who decided"): trusted keys
	// are loaded before each slot opens, the gate decides before approval
	// and release, and a decision counts only with a proof.

	// The gate permits: paid with no person.
	capture("proven-autonomous-paid", own(stack.Options{}), func(r *recorder) (tclient.WorkflowRun, string) {
		return r.start(sandbox.InvoiceHappyPath, "agent:payables-bot"), vendorpayment.OutcomePaid
	})

	// The same, recorded since payloads are encrypted (docs/codec.md): the
	// history holds ciphertext, sealed with the test keyring replayKeys.
	capture("encrypted-autonomous-paid", own(stack.Options{}), func(r *recorder) (tclient.WorkflowRun, string) {
		return r.start(sandbox.InvoiceHappyPath, "agent:payables-bot"), vendorpayment.OutcomePaid
	})

	// Finance-manager tier: a signal without a proof is recorded as refused,
	// then maria approves by Update with an assertion signed by her key.
	capture("proven-key-approval-paid", own(stack.Options{}), func(r *recorder) (tclient.WorkflowRun, string) {
		maria := r.s.PersonKey(r.t, "maria") // listed before the slot opens
		run := r.start(sandbox.InvoiceMedium, "agent:payables-bot")
		st := r.awaitApprovals(run.GetID(), "finance-manager")
		r.signal(run.GetID(), approvals.Request{Decision: approvals.DecisionApprove, Approver: "maria", ActionDigest: st.ActionDigest, Comment: "sent as mallory@evil"})
		r.awaitRefused(run.GetID(), 1, "proof: required")
		r.decide(run.GetID(), approvals.Request{Decision: approvals.DecisionApprove, Approver: "maria", ActionDigest: st.ActionDigest, Comment: "checked",
			Proof: stack.Sign(r.t, maria, proof.MethodKey, "maria", approvals.DecisionApprove, st)})
		r.wantProofs = []string{proof.MethodKey}
		return run, vendorpayment.OutcomePaid
	})

	// Finance-manager tier approved by Signal with a one-time code, as typed
	// into the Temporal UI's Signal dialog.
	capture("proven-code-approval-paid", own(stack.Options{}), func(r *recorder) (tclient.WorkflowRun, string) {
		e, err := r.s.Codes.Enroll(r.ctx, "maria", "ExecutionOrchestrator")
		if err != nil {
			r.t.Fatal(err)
		}
		run := r.start(sandbox.InvoiceMedium, "agent:payables-bot")
		st := r.awaitApprovals(run.GetID(), "finance-manager")
		code, err := totp.Code(e.Secret, time.Now())
		if err != nil {
			r.t.Fatal(err)
		}
		r.signal(run.GetID(), approvals.Request{Decision: approvals.DecisionApprove, Approver: "maria", ActionDigest: st.ActionDigest, Comment: "from the Temporal UI", Proof: code})
		r.wantProofs = []string{proof.MethodTOTP}
		return run, vendorpayment.OutcomePaid
	})

	// CFO tier: maria approves, chen rejects, each with their own key.
	capture("proven-cfo-rejected", own(stack.Options{}), func(r *recorder) (tclient.WorkflowRun, string) {
		maria, chen := r.s.PersonKey(r.t, "maria"), r.s.PersonKey(r.t, "chen")
		run := r.start(sandbox.InvoiceLarge, "ana")
		st := r.awaitApprovals(run.GetID(), "finance-manager")
		r.decide(run.GetID(), approvals.Request{Decision: approvals.DecisionApprove, Approver: "maria", ActionDigest: st.ActionDigest,
			Proof: stack.Sign(r.t, maria, proof.MethodKey, "maria", approvals.DecisionApprove, st)})
		st = r.awaitApprovals(run.GetID(), "cfo")
		r.decide(run.GetID(), approvals.Request{Decision: approvals.DecisionReject, Approver: "chen", ActionDigest: st.ActionDigest, Comment: "renegotiate first",
			Proof: stack.Sign(r.t, chen, proof.MethodKey, "chen", approvals.DecisionReject, st)})
		r.wantProofs = []string{proof.MethodKey, proof.MethodKey}
		return run, vendorpayment.OutcomeRejected
	})

	// The gate's payment window (policy/payment-window.cedar), widened to
	// the whole day in the stack's live copy, denies the payment.
	capture("gate-denied-window", own(stack.Options{PaymentWindow: true}), func(r *recorder) (tclient.WorkflowRun, string) {
		file := filepath.Join(r.s.PolicyDir, "payment-window.cedar")
		data, err := os.ReadFile(file)
		if err != nil {
			r.t.Fatal(err)
		}
		widened := strings.Replace(string(data), "context.minuteOfDayUTC >= 1430", "context.minuteOfDayUTC >= 0", 1)
		if widened == string(data) {
			r.t.Fatal("the window is not written as `context.minuteOfDayUTC >= 1430` in payment-window.cedar")
		}
		if err := os.WriteFile(file, []byte(widened), 0o644); err != nil {
			r.t.Fatal(err)
		}
		return r.start(sandbox.InvoiceHappyPath, "agent:payables-bot"), vendorpayment.OutcomeDenied
	})

	// Agent actions (processes/agentaction), proposed as the agent gateway
	// does: signed by its key for the agent deploy-bot.
	agents := lazy(func() stack.Options { return stack.Options{AgentAPI: true} })
	capture("agent-staging-deploy-verified", shared(agents), func(r *recorder) (tclient.WorkflowRun, string) {
		return r.propose(deployProposal("staging", "1.5.0", "replay-stg")), agentaction.OutcomeSucceeded
	})
	// After proposal-bound-start: the gateway's start proof is bound to
	// the proposal's digest.
	capture("agent-staging-deploy-bound-start", shared(agents), func(r *recorder) (tclient.WorkflowRun, string) {
		return r.propose(deployProposal("staging", "1.4.0", "replay-stg-bound")), agentaction.OutcomeSucceeded
	})
	capture("agent-production-denied-window", shared(agents), func(r *recorder) (tclient.WorkflowRun, string) {
		r.s.SetDeployWindow(r.t, false)
		return r.propose(deployProposal("production", "1.5.0", "replay-prod-closed")), agentaction.OutcomeDenied
	})
	capture("agent-production-approved", shared(agents), func(r *recorder) (tclient.WorkflowRun, string) {
		r.s.SetDeployWindow(r.t, true)
		lee := r.s.PersonKey(r.t, "lee")
		run := r.propose(deployProposal("production", "1.5.0", "replay-prod-open"))
		st := r.awaitApprovals(run.GetID(), "release-manager")
		r.decide(run.GetID(), approvals.Request{Decision: approvals.DecisionApprove, Approver: "lee", ActionDigest: st.ActionDigest,
			Proof: stack.Sign(r.t, lee, proof.MethodKey, "lee", approvals.DecisionApprove, st)})
		r.wantProofs = []string{proof.MethodKey}
		return run, agentaction.OutcomeSucceeded
	})

	// An onboarding whose customer nobody can visit: the child task finds
	// no worker, the coordinators are told, the account stays pending.
	capture("onboarding-no-worker", own(stack.Options{}), func(r *recorder) (tclient.WorkflowRun, string) {
		in := onboarding.Input{CustomerRef: "C-REPLAY", Name: "Rita Alves", Email: "rita@example.com", Address: "Gran Via 1, Madrid",
			Lat: 40.4168, Lon: -3.7038, Plan: "standard", RequestedBy: "cli:ops"}
		run, err := onboarding.Start(r.ctx, r.c, in)
		if err != nil {
			r.t.Fatal(err)
		}
		return run, onboarding.OutcomeNoWorker
	})
	// A human task routed, accepted and closed on accepted evidence.
	capture("human-task-completed", own(stack.Options{}), func(r *recorder) (tclient.WorkflowRun, string) {
		return r.humanTask(), humantask.OutcomeCompleted
	})

	// With the audit ledger (audit.ChangeLedger): every event is recorded
	// through the AuditAppend local activity, whose markers these carry.
	capture("audited-key-approval-paid", own(stack.Options{}), func(r *recorder) (tclient.WorkflowRun, string) {
		maria := r.s.PersonKey(r.t, "maria")
		run := r.start(sandbox.InvoiceMedium, "agent:payables-bot")
		st := r.awaitApprovals(run.GetID(), "finance-manager")
		r.decide(run.GetID(), approvals.Request{Decision: approvals.DecisionApprove, Approver: "maria", ActionDigest: st.ActionDigest, Comment: "checked",
			Proof: stack.Sign(r.t, maria, proof.MethodKey, "maria", approvals.DecisionApprove, st)})
		r.wantProofs = []string{proof.MethodKey}
		return run, vendorpayment.OutcomePaid
	})
	capture("audited-human-task-completed", own(stack.Options{}), func(r *recorder) (tclient.WorkflowRun, string) {
		return r.humanTask(), humantask.OutcomeCompleted
	})
	// A customer escalation acknowledged by the on-call engineer, resolved
	// once ticketing shows the fix, with no answer from the customer.
	capture("escalation-resolved-unconfirmed", own(stack.Options{Worker: func(c *worker.Config) {
		cfg := customerescalation.DefaultConfig()
		cfg.SLAs = map[string]customerescalation.SLA{customerescalation.Sev1: {AckWithin: time.Minute, UpdateEvery: time.Minute, ConfirmWithin: 2 * time.Second}}
		c.Tuning = map[string]any{customerescalation.ProcessName: cfg}
	}}), func(r *recorder) (tclient.WorkflowRun, string) {
		run, err := customerescalation.Start(r.ctx, r.c, customerescalation.Input{Ref: "ESC-REPLAY", AccountID: sandbox.AccountGlobex,
			Severity: customerescalation.Sev1, Trigger: customerescalation.TriggerTicket, TicketID: sandbox.IssueGlobexP1,
			Summary: "Checkout API returns 500 for all EU customers", RequestedBy: "schedule:customer-escalation-detector"})
		if err != nil {
			r.t.Fatal(err)
		}
		st := r.escalationStep(run, "", customerescalation.ActionAck)
		tc := ticketing.New(r.s.Sandbox.HTTPURL())
		for _, to := range []string{ticketing.StatusInProgress, ticketing.StatusResolved} {
			if _, err := tc.Transition(r.ctx, st.EngTicket, "replay-"+to, to, "eli"); err != nil {
				r.t.Fatal(err)
			}
		}
		r.escalationStep(run, st.Holder, customerescalation.ActionResolve)
		return run, customerescalation.OutcomeResolvedUnconfirmed
	})
	capture("audited-agent-production-approved", shared(agents), func(r *recorder) (tclient.WorkflowRun, string) {
		r.s.SetDeployWindow(r.t, true)
		lee := r.s.PersonKey(r.t, "lee")
		run := r.propose(deployProposal("production", "1.5.0", "replay-prod-audited"))
		st := r.awaitApprovals(run.GetID(), "release-manager")
		r.decide(run.GetID(), approvals.Request{Decision: approvals.DecisionApprove, Approver: "lee", ActionDigest: st.ActionDigest,
			Proof: stack.Sign(r.t, lee, proof.MethodKey, "lee", approvals.DecisionApprove, st)})
		r.wantProofs = []string{proof.MethodKey}
		return run, agentaction.OutcomeSucceeded
	})
}

// withReplayKeys has a capture stack encrypt with the test keyring the
// replay test decrypts with.
func withReplayKeys(o stack.Options) stack.Options {
	o.CodecKeys = replayKeys
	return o
}

// humanTask runs an identity check in Lisbon to completion, acting as the
// web app does for ana-field: accept, then submit good evidence.
func (r *recorder) humanTask() tclient.WorkflowRun {
	r.t.Helper()
	place := evidence.GeoPoint{Lat: workforce.LisbonLat, Lon: workforce.LisbonLon}
	now := time.Now().UTC()
	in := humantask.Input{TaskID: "replay-idv", Title: "Verify an identity", Skills: []workforce.Skill{{Name: "id-verification", Level: 3}},
		Place: place, Address: "Rua Augusta 1, Lisboa", Start: now.Add(-time.Hour), End: now.Add(2 * time.Hour),
		Evidence:    evidence.Spec{Photos: []evidence.PhotoSpec{{Name: "id-document", MaxDistanceM: 200, Required: true}}, Signature: true},
		RequestedBy: "cli:ops"}
	run, err := r.c.ExecuteWorkflow(r.ctx, humantask.StartOptions(in), humantask.Workflow, in)
	if err != nil {
		r.t.Fatal(err)
	}
	send := func(action string, sub *evidence.Submission) {
		var st humantask.Status
		for st.OpenFor == "" {
			st, _ = humantask.QueryStatus(r.ctx, r.c, run.GetID())
			time.Sleep(100 * time.Millisecond)
		}
		req := humantask.TaskRequest{Action: action, Worker: st.OpenFor, Step: st.OpenStep, Submission: sub}
		d, err := humantask.RequestDigest(req)
		if err != nil {
			r.t.Fatal(err)
		}
		at := time.Now().UTC()
		if req.Proof, err = r.s.Web.Sign(proof.Assertion{Kind: proof.KindTask, WorkflowID: run.GetID(), RunID: run.GetRunID(), Slot: req.Step,
			ActionDigest: d, Decision: action, Subject: req.Worker, Method: proof.MethodDev, IssuedAt: at, ExpiresAt: at.Add(5 * time.Minute)}); err != nil {
			r.t.Fatal(err)
		}
		if err := humantask.Send(r.ctx, r.c, run.GetID(), req); err != nil {
			r.t.Fatal(err)
		}
	}
	send(humantask.ActionAccept, nil)
	put := func(item, typ string, data []byte) string {
		u, err := r.s.Evidence.Put(r.ctx, evidence.PutRequest{TaskID: in.TaskID, Item: item, UploadedBy: "ana-field", Body: bytes.NewReader(data), DeclaredType: typ})
		if err != nil {
			r.t.Fatal(err)
		}
		return u.SHA256
	}
	w, err := r.s.Workforce.Get(r.ctx, "ana-field")
	if err != nil {
		r.t.Fatal(err)
	}
	send(humantask.ActionSubmit, &evidence.Submission{TaskID: in.TaskID, WorkerID: "ana-field",
		CheckIn:   &evidence.GeoPoint{Lat: place.Lat, Lon: place.Lon, At: time.Now().UTC()},
		Photos:    map[string]string{"id-document": put(evidence.PhotoItem("id-document"), evidence.TypeJPEG, evidencetest.JPEG(place.Lat+0.0004, place.Lon, time.Now().UTC()))},
		Signature: &evidence.Signature{SHA256: put(evidence.SignatureItem, evidence.TypePNG, evidencetest.PNG()), TypedName: w.Name}})
	return run
}

func deployProposal(target, version, key string) agentaction.Proposal {
	return agentaction.Proposal{Kind: agentaction.KindDeploy, Target: target,
		Params:        json.RawMessage(`{"service":"checkout","version":"` + version + `"}`),
		Justification: "recorded for the replay suite", Confidence: 0.95, IdempotencyKey: key}
}

// propose starts an agent action as the gateway does, for deploy-bot.
func (r *recorder) propose(p agentaction.Proposal) tclient.WorkflowRun {
	r.t.Helper()
	signer, err := proof.LoadSigner(filepath.Join(r.s.KeysDir, "agent-gateway.key"))
	if err != nil {
		r.t.Fatal(err)
	}
	// The client reads the action's memo back, encrypted like every payload.
	st, err := (&agentaction.Client{Temporal: r.c, Signer: signer, DataConverter: codec.DataConverter(r.s.Keyring)}).Propose(r.ctx, "deploy-bot", p)
	if err != nil {
		r.t.Fatalf("propose %+v: %v", p, err)
	}
	return r.c.GetWorkflow(r.ctx, st.ID, "")
}

// escalationStep sends person's action (the holder when "") on the open
// step, proven as the web app proves it.
func (r *recorder) escalationStep(run tclient.WorkflowRun, person, action string) customerescalation.Status {
	r.t.Helper()
	var st customerescalation.Status
	for {
		var err error
		st, err = customerescalation.QueryStatus(r.ctx, r.c, run.GetID())
		if err == nil && st.OpenStep != "" && st.Holder != "" {
			break
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("%s never opened a step: %+v (%v)", run.GetID(), st, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if person == "" {
		person = st.Holder
	}
	req := customerescalation.EscalationRequest{Action: action, Person: person, Via: customerescalation.ViaWeb, Step: st.OpenStep}
	digest, err := customerescalation.RequestDigest(req)
	if err != nil {
		r.t.Fatal(err)
	}
	now := time.Now().UTC()
	if req.Proof, err = r.s.Web.Sign(proof.Assertion{Kind: proof.KindTask, WorkflowID: run.GetID(), RunID: run.GetRunID(), Slot: req.Step,
		ActionDigest: digest, Decision: customerescalation.ProofDecision, Subject: person, Method: proof.MethodDev,
		IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute)}); err != nil {
		r.t.Fatal(err)
	}
	if err := customerescalation.Send(r.ctx, r.c, run.GetID(), req); err != nil {
		r.t.Fatalf("%s %s: %v", person, action, err)
	}
	return st
}

// historyFile is histories/<name>.json; a file that exists is not recorded
// again, so the subtest is skipped.
func historyFile(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join("histories", name+".json")
	if _, err := os.Stat(path); err == nil {
		t.Skipf("%s exists; delete it to record it again", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return path
}

// fastDirectory is policy/org.yaml with approval deadlines of seconds.
func fastDirectory(t *testing.T) *policy.Directory {
	t.Helper()
	org, err := os.ReadFile(filepath.Join("..", "..", "policy", "org.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fast := strings.NewReplacer("reminderAfter: 4h", "reminderAfter: 2s", "escalateAfter: 24h", "escalateAfter: 4s",
		"expireAfter: 72h", "expireAfter: 6s").Replace(string(org))
	if fast == string(org) {
		t.Fatal("policy/org.yaml no longer has the deadlines fastDirectory shortens")
	}
	dir, err := policy.ParseDirectory([]byte(fast))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// recorder drives one captured run on a stack.
type recorder struct {
	t   *testing.T
	ctx context.Context
	c   tclient.Client
	s   *stack.Stack
	// wantProofs are the proof methods of the result's approvals, in order,
	// when the scenario checks them.
	wantProofs []string
}

func (r *recorder) start(invoiceID, requester string) tclient.WorkflowRun {
	run, err := r.c.ExecuteWorkflow(r.ctx, tclient.StartWorkflowOptions{
		ID: vendorpayment.VendorPaymentID(invoiceID), TaskQueue: process.TaskQueue,
	}, vendorpayment.VendorPaymentWorkflow, vendorpayment.VendorPaymentInput{InvoiceID: invoiceID, RequestedBy: requester})
	if err != nil {
		r.t.Fatalf("start %s: %v", invoiceID, err)
	}
	return run
}

// copyInvoice adds invoice id to the sandbox ERP as a copy of from, with the
// same schedule entry, so a scenario can repeat a seed invoice's tier.
func (r *recorder) copyInvoice(from, id string) string {
	inv, err := erp.New(r.s.Sandbox.HTTPURL()).GetInvoice(r.ctx, from)
	if err != nil {
		r.t.Fatal(err)
	}
	sched, err := erp.New(r.s.Sandbox.HTTPURL()).GetScheduleEntry(r.ctx, from)
	if err != nil {
		r.t.Fatal(err)
	}
	inv.ID, sched.InvoiceID = id, id
	r.send(http.MethodPost, "/erp/invoices", inv)
	r.send(http.MethodPut, "/erp/schedule/"+id, sched)
	return id
}

func (r *recorder) send(method, path string, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		r.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(r.ctx, method, r.s.SandboxURL(path), bytes.NewReader(data))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(resp.Body)
		r.t.Fatalf("%s %s: %s %s", method, path, resp.Status, msg)
	}
}

func (r *recorder) awaitStage(id, stage string) {
	r.t.Helper()
	for {
		st, err := vendorpayment.QueryStatus(r.ctx, r.c, id)
		if err == nil && st.Stage == stage {
			return
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("%s never reached stage %s", id, stage)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *recorder) awaitSlot(id, slot string) vendorpayment.VendorPaymentStatus {
	for {
		v, err := r.c.QueryWorkflow(r.ctx, id, "", vendorpayment.StatusQuery)
		if err == nil {
			var st vendorpayment.VendorPaymentStatus
			if err := v.Get(&st); err == nil && st.AwaitingSlot == slot {
				return st
			}
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("%s never awaited %s", id, slot)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// awaitApprovals waits until the kernel's "approvals" query shows slot
// awaited, and returns it: what a proof is signed over.
func (r *recorder) awaitApprovals(id, slot string) approvals.Status {
	r.t.Helper()
	for {
		st, err := client.ApprovalStatus(r.ctx, r.c, id)
		if err == nil && st.AwaitingSlot == slot {
			return st
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("%s never awaited %s: %+v (%v)", id, slot, st, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// awaitRefused waits until the workflow has recorded n refused signals, the
// last of them for reason.
func (r *recorder) awaitRefused(id string, n int, reason string) {
	r.t.Helper()
	for {
		st, err := client.ApprovalStatus(r.ctx, r.c, id)
		if err == nil && len(st.RejectedMessages) >= n {
			if got := st.RejectedMessages[n-1].Reason; !strings.Contains(got, reason) {
				r.t.Fatalf("%s refused signal %d: %q, want %q", id, n, got, reason)
			}
			return
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("%s never refused %d signals (%v)", id, n, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *recorder) signal(id string, payload any) {
	if err := r.c.SignalWorkflow(r.ctx, id, "", vendorpayment.ApprovalSignal, payload); err != nil {
		r.t.Fatalf("signal %s: %v", id, err)
	}
}

func (r *recorder) decide(id string, req vendorpayment.ApprovalRequest) {
	h, err := r.c.UpdateWorkflow(r.ctx, tclient.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: vendorpayment.ApprovalUpdate, Args: []any{req}, WaitForStage: tclient.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(r.ctx, nil)
	}
	if err != nil {
		r.t.Fatalf("%s by %s on %s: %v", req.Decision, req.Approver, id, err)
	}
}

func (r *recorder) finish(run tclient.WorkflowRun, path, wantOutcome string) {
	var res vendorpayment.VendorPaymentResult
	if err := run.Get(r.ctx, &res); err != nil {
		r.t.Fatalf("%s: %v", run.GetID(), err)
	}
	if res.Outcome != wantOutcome {
		r.t.Fatalf("%s: outcome %q (%s), want %q", run.GetID(), res.Outcome, res.Reason, wantOutcome)
	}
	if r.wantProofs != nil {
		var got []string
		for _, a := range res.Approvals {
			m := ""
			if a.Proof != nil {
				m = a.Proof.Method
			}
			got = append(got, m)
		}
		if !slices.Equal(got, r.wantProofs) {
			r.t.Fatalf("%s: approvals proven by %q, want %q", run.GetID(), got, r.wantProofs)
		}
	}
	saveHistory(r.ctx, r.t, r.c, run.GetID(), path)
}

func saveHistory(ctx context.Context, t *testing.T, c tclient.Client, id, path string) {
	t.Helper()
	hist := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		hist.Events = append(hist.Events, ev)
	}
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		t.Fatalf("marshal history of %s: %v", id, err)
	}
	// Never over a recorded history: it proves how runs of its time replay.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatalf("save history: %v", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		t.Fatalf("save history: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("save history: %v", err)
	}
	// The workflow id beside it: approval proofs are bound to it, so the
	// replay runs under it (replay_test.go reads <name>.id).
	idFile := strings.TrimSuffix(path, ".json") + ".id"
	if err := os.WriteFile(idFile, []byte(id+"\n"), 0o644); err != nil {
		t.Fatalf("save workflow id: %v", err)
	}
	t.Logf("saved %s (%d events)", path, len(hist.Events))
}
