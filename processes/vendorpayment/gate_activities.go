package vendorpayment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/totp"
)

// Error types of the gate's refusals.
const (
	// ErrTypeGateDenied: the policies forbid the action now; Message names
	// the policy ids and the policy-set hash.
	ErrTypeGateDenied = "GateDenied"
	// ErrTypeGateUndecidable: the gate could not decide (broken policy
	// file, directory unreachable): it fails closed.
	ErrTypeGateUndecidable = "GateUndecidable"
	// ErrTypeNotOurs: a release scheduled by anything but this invoice's
	// VendorPayment workflow.
	ErrTypeNotOurs = "NotOurs"
	// ErrTypeProofRefused: an approval's proof does not verify.
	ErrTypeProofRefused = "ProofRefused"
)

// Gate decides whether an action is admissible now (*gate.Engine).
type Gate interface {
	Decide(ctx context.Context, req gate.Request) (gate.Decision, error)
}

// CodeVerifier checks one-time codes from authenticator apps (*totp.Store).
type CodeVerifier interface {
	Verify(ctx context.Context, personID, code string) error
}

// EvaluateGate asks the gate whether the action is admissible now with the
// approvals so far. A deny is an answer, not an error; an undecidable gate
// fails non-retryably, so the workflow escalates at once.
func (a *Activities) EvaluateGate(ctx context.Context, req GateRequest) (gate.Decision, error) {
	info := activity.GetInfo(ctx)
	if a.Treasury == nil {
		return gate.Decision{}, notConfigured("Treasury")
	}
	payments, err := a.listPayments(ctx)
	if err != nil {
		return gate.Decision{}, err
	}
	var started time.Time
	if req.RequesterProof != "" {
		var err error
		if started, err = a.ensureOurs(ctx, VendorPaymentID(req.Action.InvoiceID)); err != nil {
			return gate.Decision{}, err
		}
	}
	return a.admit(ctx, req.Action, req.ActionDigest, requester{req.RequestedBy, req.RequesterProof, started}, req.Approvals, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, "", payments)
}

// listPayments reads treasury's payments once per gate decision: the daily
// cap and the double-payment check share it (each read at the side effect
// is one more chance for a flaky system to fail the attempt).
func (a *Activities) listPayments(ctx context.Context) ([]treasury.Payment, error) {
	all, err := a.Treasury.ListPayments(ctx)
	if err != nil {
		return nil, classify(fmt.Errorf("list treasury payments: %w", err))
	}
	return all, nil
}

// LoadTrust returns the keys approval proofs are verified against.
func (a *Activities) LoadTrust(context.Context, struct{}) (proof.Trust, error) {
	if a.Trust == nil {
		return proof.Trust{}, notConfigured("Trust")
	}
	t, err := a.Trust()
	if err != nil {
		return proof.Trust{}, fmt.Errorf("load trusted keys: %w", err)
	}
	return t, nil
}

// CheckApprovalCode checks a person's one-time code and, when it is right,
// signs an assertion of the decision with the worker's key (method totp),
// so the decision carries a proof the release can verify again. A wrong,
// reused or unknown code is refused non-retryably: retrying cannot help.
func (a *Activities) CheckApprovalCode(ctx context.Context, req approvals.CodeCheck) (string, error) {
	switch {
	case a.Codes == nil:
		return "", notConfigured("Codes")
	case a.Signer == nil:
		return "", notConfigured("Signer")
	case strings.TrimSpace(req.Approver) == "":
		return "", invalidArg("approver: required")
	case !approvals.IsOneTimeCode(req.Code):
		return "", invalidArg("proof: a one-time code is six digits")
	}
	info := activity.GetInfo(ctx)
	if req.WorkflowID != info.WorkflowExecution.ID || req.RunID != info.WorkflowExecution.RunID {
		return "", temporal.NewNonRetryableApplicationError("a code is checked only for the run that asks", ErrTypeNotOurs, nil)
	}
	// Each check is a guess at the person's secret, and what it signs is an
	// approval: only our own workflows may ask.
	if _, err := a.ensureOurs(ctx, info.WorkflowExecution.ID); err != nil {
		return "", err
	}
	if err := a.Codes.Verify(ctx, req.Approver, req.Code); err != nil {
		if errors.Is(err, totp.ErrInvalidCode) || errors.Is(err, totp.ErrReused) || errors.Is(err, totp.ErrNotEnrolled) || errors.Is(err, totp.ErrLocked) {
			return "", temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeProofRefused, nil)
		}
		return "", fmt.Errorf("check one-time code of %s: %w", req.Approver, err)
	}
	now := a.now().UTC()
	token, err := a.Signer.Sign(proof.Assertion{
		Kind: proof.KindApproval, WorkflowID: req.WorkflowID, RunID: req.RunID, Slot: req.Slot,
		ActionDigest: req.ActionDigest, Decision: req.Decision, Subject: req.Approver, Method: proof.MethodTOTP,
		IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute),
	})
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError("sign code assertion: "+err.Error(), ErrTypeNotConfigured, nil)
	}
	return token, nil
}

// admit is the gate at the side effect: it verifies who requested and who
// approved, reads what the context needs right now, and asks the policies.
// ownKey is the idempotency key of this very release, whose own treasury
// payment does not count against the vendor's daily cap.
// requester is who asked for a run, the start's proof of it, and when the
// run started (the proof must be from then).
type requester struct {
	ID, Proof string
	Started   time.Time
}

// Describer reads a workflow execution as the Temporal server knows it
// (tclient.Client).
type Describer interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// ensureOurs refuses a caller that is not a VendorPayment workflow with id
// wantID running on the task queue this activity runs on, as the Temporal
// server (not the caller) describes it: anyone who reaches the frontend can
// start a workflow named VendorPayment on a queue of their own and schedule
// our activities from it. It returns when the run started.
func (a *Activities) ensureOurs(ctx context.Context, wantID string) (time.Time, error) {
	info := activity.GetInfo(ctx)
	wt := ""
	if info.WorkflowType != nil {
		wt = info.WorkflowType.Name
	}
	if wt != VendorPaymentWorkflow || info.WorkflowExecution.ID != wantID {
		return time.Time{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("serves only workflow %s of type %s; refused for %s (type %q)", wantID, VendorPaymentWorkflow, info.WorkflowExecution.ID, wt),
			ErrTypeNotOurs, nil)
	}
	if a.Temporal == nil {
		return time.Time{}, notConfigured("Temporal")
	}
	d, err := a.Temporal.DescribeWorkflowExecution(ctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID)
	if err != nil {
		return time.Time{}, fmt.Errorf("describe calling workflow %s: %w", info.WorkflowExecution.ID, err)
	}
	queue, typ := d.GetExecutionConfig().GetTaskQueue().GetName(), d.GetWorkflowExecutionInfo().GetType().GetName()
	if queue != info.TaskQueue || typ != VendorPaymentWorkflow {
		return time.Time{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("workflow %s runs on task queue %q as %q, not on %q as %s: not ours", info.WorkflowExecution.ID, queue, typ, info.TaskQueue, VendorPaymentWorkflow),
			ErrTypeNotOurs, nil)
	}
	return d.GetWorkflowExecutionInfo().GetStartTime().AsTime(), nil
}

func (a *Activities) admit(ctx context.Context, pay action.Payment, digest string, who requester, aps []Approval, wfID, runID, ownKey string, payments []treasury.Payment) (gate.Decision, error) {
	switch {
	case a.Gate == nil:
		return gate.Decision{}, notConfigured("Gate")
	case a.Directory == nil:
		return gate.Decision{}, notConfigured("Directory")
	case a.Treasury == nil:
		return gate.Decision{}, notConfigured("Treasury")
	}
	if got, err := action.Digest(pay); err != nil || got != digest {
		return gate.Decision{}, invalidArg("actionDigest: %q is not the digest of the action", digest)
	}
	now := a.now().UTC()
	var trust proof.Trust
	if len(aps) > 0 || who.Proof != "" {
		t, err := a.LoadTrust(ctx, struct{}{})
		if err != nil {
			return gate.Decision{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeGateUndecidable, nil)
		}
		trust = t
	}
	target := PaymentTarget(pay)
	var digests, targets, roles []string
	var oldest time.Duration
	count := 0
	var people []string
	for i, ap := range aps {
		if ap.Decision != DecisionApprove {
			continue
		}
		// The workflow's rules, again: distinct people, never the requester,
		// nothing left blank for Verify to skip.
		key := approvals.PersonKey(ap.Approver)
		switch {
		case ap.Slot == "" || ap.ActionDigest == "" || key == "":
			return gate.Decision{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("approvals[%d]: slot, actionDigest and approver are required", i), ErrTypeProofRefused, nil)
		case slices.Contains(people, key):
			return gate.Decision{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("approvals[%d].approver: %s approved twice; slots need distinct people", i, ap.Approver), ErrTypeProofRefused, nil)
		case key == approvals.PersonKey(who.ID):
			return gate.Decision{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("approvals[%d].approver: %s requested this payment", i, ap.Approver), ErrTypeProofRefused, nil)
		}
		people = append(people, key)
		if ap.Proof == nil {
			return gate.Decision{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("approvals[%d].proof: %s's approval carries no proof", i, ap.Approver), ErrTypeProofRefused, nil)
		}
		// Verified as of when the workflow accepted it: the signature, the
		// run, slot, digest, decision and person are what count; its age is
		// the gate's approval.validity rule.
		as, err := proof.Verify(ap.Proof.Token, trust, proof.Expect{
			Kind: proof.KindApproval, WorkflowID: wfID, RunID: runID, Slot: ap.Slot,
			ActionDigest: ap.ActionDigest, Decision: DecisionApprove, Subject: ap.Approver,
		}, ap.At)
		if err != nil {
			return gate.Decision{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("approvals[%d].%v", i, err), ErrTypeProofRefused, nil)
		}
		count++
		digests = appendUnique(digests, ap.ActionDigest)
		targets = appendUnique(targets, ap.Target)
		if age := now.Sub(as.IssuedAt); age > oldest {
			oldest = age
		}
		if a.approverProblem(ap) == "" {
			roles = appendUnique(roles, ap.Slot)
		}
	}
	released := releasedToday(payments, pay.VendorID, ownKey, now)
	// The principal is the verified requester; without a start proof the
	// requester is only claimed, and the policies see that.
	verified := false
	if who.Proof != "" {
		as, err := proof.VerifyAsIssued(who.Proof, trust, proof.Expect{Kind: proof.KindStart, WorkflowID: wfID, Subject: who.ID})
		if err != nil {
			return gate.Decision{}, temporal.NewNonRetryableApplicationError("requesterProof: "+err.Error(), ErrTypeProofRefused, nil)
		}
		// Made for this run's start, not lifted from an earlier run's input.
		if !who.Started.IsZero() && (as.IssuedAt.After(who.Started.Add(proof.MaxClockSkew)) || who.Started.After(as.ExpiresAt)) {
			return gate.Decision{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("requesterProof: issued %s, expiring %s, but the run started %s", as.IssuedAt.Format(time.RFC3339), as.ExpiresAt.Format(time.RFC3339), who.Started.Format(time.RFC3339)),
				ErrTypeProofRefused, nil)
		}
		verified = true
	}
	principal := requesterEntity(who.ID, verified)
	d, err := a.Gate.Decide(ctx, gate.Request{
		Principal: principal,
		Action:    pay.Kind,
		Resource:  gate.Entity{Type: "Target", ID: target},
		Context: map[string]any{
			"amountMinor":              pay.AmountMinor,
			"currency":                 pay.Currency,
			"digest":                   digest,
			"target":                   target,
			"approvalCount":            int64(count),
			"approvedDigests":          digests,
			"approvedTargets":          targets,
			"approverRoles":            roles,
			"oldestApprovalAgeSeconds": int64(oldest / time.Second),
			"minuteOfDayUTC":           int64(now.Hour()*60 + now.Minute()),
			"weekdayUTC":               int64(now.Weekday()),
			"vendorReleasedTodayMinor": released,
			"requesterVerified":        verified,
		},
	})
	if err != nil {
		return d, temporal.NewNonRetryableApplicationError("gate: "+err.Error(), ErrTypeGateUndecidable, nil)
	}
	a.log().InfoContext(ctx, "gate decision", "workflowId", wfID, "kind", pay.Kind, "target", target, "decision", d.String())
	recordDenial(ctx, d)
	return d, nil
}

// recordDenial counts a deny once per reason, by policy id (a closed set:
// the policy files' @id). Recorded where the gate decided, in the activity,
// through the worker's handler; outside an activity (direct calls in
// tests) there is none.
func recordDenial(ctx context.Context, d gate.Decision) {
	if d.Permit || !activity.IsActivity(ctx) {
		return
	}
	h := activity.GetMetricsHandler(ctx)
	for _, r := range d.Reasons {
		process.RecordGateDenial(h, r.PolicyID, r.Approval != "")
	}
	if len(d.Errors) > 0 {
		// A rule that failed to evaluate denies too; its text is no label.
		process.RecordGateDenial(h, "evaluation_error", false)
	}
}

// requesterEntity is the Cedar principal for a requester: an agent, a
// service (a Schedule), or a person by their canonical id; Unverified when
// no proof vouched for the claim.
func requesterEntity(id string, verified bool) gate.Entity {
	key := approvals.PersonKey(id)
	switch {
	case !verified:
		return gate.Entity{Type: "Unverified", ID: key}
	case approvals.IsAgent(id):
		return gate.Entity{Type: "Agent", ID: strings.TrimPrefix(key, "agent:")}
	case strings.HasPrefix(strings.ToLower(id), "schedule:"):
		return gate.Entity{Type: "Service", ID: strings.ToLower(id)}
	}
	return gate.Entity{Type: "Person", ID: key}
}

// releasedToday sums what treasury released to the vendor today (UTC) under
// other actions; failed payments moved no money.
func releasedToday(payments []treasury.Payment, vendorID, ownKey string, now time.Time) int64 {
	day := now.Truncate(24 * time.Hour)
	var sum int64
	for _, p := range payments {
		if p.VendorID != vendorID || p.Status == treasury.StatusFailed || p.IdempotencyKey == ownKey || p.ReleasedAt.UTC().Before(day) {
			continue
		}
		sum += p.AmountMinor
	}
	return sum
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
