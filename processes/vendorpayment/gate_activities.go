package vendorpayment

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
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
	ErrTypeNotOurs = process.ErrTypeNotOurs
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
	var started time.Time
	// A start proof is checked against when the run started, and a decision
	// is appended to the ledger under the calling run: either needs the
	// caller to be this invoice's VendorPayment. Anyone can schedule this
	// activity from a workflow of their own and would otherwise write gate
	// decisions into an invoice's audit trail and its KPIs.
	if req.RequesterProof != "" || a.Audit != nil {
		var err error
		if started, err = a.ensureOurs(ctx, VendorPaymentID(req.Action.InvoiceID)); err != nil {
			return gate.Decision{}, err
		}
	}
	payments, err := a.listPayments(ctx)
	if err != nil {
		return gate.Decision{}, err
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
	var codes approvals.CodeVerifier
	if a.Codes != nil {
		codes = a.Codes
	}
	return approvals.CodeChecker{Codes: codes, Signer: a.Signer, Now: a.Now}.Check(ctx, req, func(ctx context.Context) error {
		_, err := a.ensureOurs(ctx, activity.GetInfo(ctx).WorkflowExecution.ID)
		return err
	})
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

// Describer reads a workflow execution as the Temporal server knows it.
type Describer = process.Describer

// ensureOurs refuses a caller that is not this invoice's VendorPayment
// workflow on our task queue (process.EnsureCaller). It returns when the run
// started.
func (a *Activities) ensureOurs(ctx context.Context, wantID string) (time.Time, error) {
	if a.Temporal == nil {
		if _, err := process.EnsureCaller(ctx, nil, VendorPaymentWorkflow, wantID); process.HasErrorType(err, ErrTypeNotOurs) {
			return time.Time{}, err
		}
		return time.Time{}, notConfigured("Temporal")
	}
	return process.EnsureCaller(ctx, a.Temporal, VendorPaymentWorkflow, wantID)
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
	ver, err := approvals.VerifyApprovals(aps, trust, who.ID, wfID, runID, a.Directory, now)
	if err != nil {
		return gate.Decision{}, err
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
	gctx := ver.GateContext()
	maps.Copy(gctx, map[string]any{
		"amountMinor":              pay.AmountMinor,
		"currency":                 pay.Currency,
		"digest":                   digest,
		"target":                   target,
		"minuteOfDayUTC":           int64(now.Hour()*60 + now.Minute()),
		"weekdayUTC":               int64(now.Weekday()),
		"vendorReleasedTodayMinor": released,
		"requesterVerified":        verified,
	})
	d, err := a.Gate.Decide(ctx, gate.Request{
		Principal: principal,
		Action:    pay.Kind,
		Resource:  gate.Entity{Type: "Target", ID: target},
		Context:   gctx,
	})
	if err != nil {
		return d, temporal.NewNonRetryableApplicationError("gate: "+err.Error(), ErrTypeGateUndecidable, nil)
	}
	a.log().InfoContext(ctx, "gate decision", "workflowId", wfID, "kind", pay.Kind, "target", target, "decision", d.String())
	recordDenial(ctx, d)
	// Recorded before the call it admits: no side effect without its
	// decision in the ledger (a ledger outage fails the attempt, retried).
	where := "plan"
	if ownKey != "" {
		where = "side_effect"
	}
	if err := process.AuditGate(ctx, a.Audit, ProcessName, where, digest, d); err != nil {
		return gate.Decision{}, err
	}
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
