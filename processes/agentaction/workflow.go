package agentaction

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// maxGateChecks bounds the decisions kept in the status.
const maxGateChecks = 20

// AgentAction runs one proposal of an AI agent from the gate to the
// verified outcome. Data flows one way: resolve → gate → approve → gate
// again at the side effect → execute → verify → record.
type AgentAction struct{ cfg Config }

// New returns the workflow; zero options take the defaults.
func New(cfg Config) *AgentAction {
	def := DefaultConfig()
	for _, o := range []struct{ dst, def *workflow.ActivityOptions }{
		{&cfg.Read, &def.Read}, {&cfg.Execute, &def.Execute}, {&cfg.Verify, &def.Verify}, {&cfg.Notify, &def.Notify},
	} {
		if o.dst.StartToCloseTimeout <= 0 && o.dst.ScheduleToCloseTimeout <= 0 {
			*o.dst = *o.def
		}
	}
	if cfg.MaxApprovalRounds <= 0 {
		cfg.MaxApprovalRounds = def.MaxApprovalRounds
	}
	return &AgentAction{cfg: cfg}
}

type run struct {
	cfg    Config
	in     Input
	logger log.Logger
	st     Status
	ap     *approvals.Waiter
	// refusals counts side effects the gate refused after admitting the
	// action before approval; bounded like approval rounds.
	refusals  int
	escalated bool
	// bound: the start proof must be for proposalDigest (changeProposalBound).
	bound          bool
	proposalDigest string
	// audit records this execution's events (none for runs from before
	// audit.ChangeLedger).
	audit *audit.Recorder
}

// changeProposalBound versions binding the gateway's start proof to the
// proposal's digest, so a proof read from a history cannot start another
// proposal under the same action id.
const changeProposalBound = "proposal-bound-start"

// Run is the workflow function.
func (w *AgentAction) Run(ctx workflow.Context, in Input) (Result, error) {
	info := workflow.GetInfo(ctx)
	r := &run{cfg: w.cfg, in: in, logger: workflow.GetLogger(ctx), st: Status{
		ID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, Kind: in.Kind, Target: in.Target, Params: in.Params,
		RequestedBy: in.RequestedBy, Justification: in.Justification, Confidence: in.Confidence, Stage: StageLoading,
	}}
	r.audit = audit.NewRecorder(ctx, ProcessName, in.Kind+" "+in.Target)
	ap, err := approvals.New(ctx, approvals.Config{
		Host: host{r}, Rules: approvals.Rules{Strict: true, RequireProof: true}, RequestedBy: in.RequestedBy,
		ActionDigest:      func() string { return r.st.ActionDigest },
		Target:            func() string { return r.in.Target },
		Stage:             func() string { return r.st.Stage },
		UpdateDescription: "Approve or reject the action an AI agent proposed",
		Process:           ProcessName,
		Audit:             r.audit,
	})
	if err != nil {
		return Result{}, err
	}
	r.ap = ap
	if err := r.registerQueries(ctx); err != nil {
		return Result{}, err
	}
	// Runs from before the start proof was bound to the proposal replay
	// with the check they ran with.
	if workflow.GetVersion(ctx, changeProposalBound, workflow.DefaultVersion, 1) >= 1 {
		r.bound = true
		if r.proposalDigest, err = ProposalDigest(in.Proposal); err != nil {
			return r.invalid(ctx, fieldErr("params", "%v", err))
		}
	}
	if err := validateInput(in, info.WorkflowExecution.ID); err == nil {
		err = r.verifyRequester(ctx)
		if err != nil {
			return r.invalid(ctx, err)
		}
	} else {
		return r.invalid(ctx, err)
	}
	r.upsert(ctx,
		process.SAProcess.ValueSet(ProcessName),
		process.SABusinessKey.ValueSet(in.Kind+" "+in.Target),
		process.SARequester.ValueSet(in.RequestedBy),
		process.SAStage.ValueSet(StageLoading),
	)
	r.audit.Record(ctx, audit.KindProposed, in.RequestedBy,
		fmt.Sprintf("%s proposed %s on %s (%s)", in.RequestedBy, in.Kind, in.Target, verifiedWord(r.st.RequesterVerified)),
		audit.ProposedData{ActionKind: in.Kind, Target: in.Target, RequestedBy: in.RequestedBy, RequesterVerified: r.st.RequesterVerified})
	outcome, reason := r.execute(ctx)
	if ctx.Err() != nil && outcome != OutcomeSucceeded {
		return Result{}, r.cancelled(ctx)
	}
	r.finish(ctx, outcome, reason)
	return r.result(), nil
}

func (r *run) invalid(ctx workflow.Context, err error) (Result, error) {
	r.st.Stage, r.st.Outcome, r.st.Reason = StageDone, OutcomeFailed, err.Error()
	workflow.SetCurrentDetails(ctx, "**failed**: "+err.Error())
	return Result{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
}

// validateInput checks what anyone reaching the frontend could send: the
// gateway's checks again, and that the id is the one the key determines.
func validateInput(in Input, wfID string) error {
	agent, ok := strings.CutPrefix(in.RequestedBy, "agent:")
	switch {
	case !ok || !ValidAgentName(agent):
		return fieldErr("requestedBy", "%q is not agent:<name>", clip(in.RequestedBy))
	case in.RequesterProof == "":
		return fieldErr("requesterProof", "required: agent actions start through the agent gateway")
	case len(in.RequesterProof) > proof.MaxTokenLen:
		return fieldErr("requesterProof", "longer than %d bytes", proof.MaxTokenLen)
	}
	if err := ValidateProposal(in.Proposal); err != nil {
		return err
	}
	if want := WorkflowID(agent, in.IdempotencyKey); wfID != want {
		return fieldErr("idempotencyKey", "the action id for this agent and key is %s, not %s", want, wfID)
	}
	return nil
}

// verifyRequester checks the gateway's start proof as of the run's start
// (the trusted keys come from an activity, so it replays).
func (r *run) verifyRequester(ctx workflow.Context) error {
	trust, err := host{r}.LoadTrust(ctx)
	if err != nil {
		return fmt.Errorf("requesterProof: load trusted keys: %s", process.FailureMessage(err))
	}
	want := proof.Expect{Kind: proof.KindStart, WorkflowID: r.st.ID, Subject: r.in.RequestedBy}
	if r.bound {
		want.ActionDigest = r.proposalDigest
	}
	as, err := proof.Verify(r.in.RequesterProof, trust, want, workflow.GetInfo(ctx).WorkflowStartTime)
	if err == nil {
		err = fromGateway(as, trust)
	}
	if err != nil {
		return fieldErr("requesterProof", "%v", err)
	}
	r.st.RequesterVerified = true
	return nil
}

func (r *run) registerQueries(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, StatusQuery, func() (Status, error) { return r.result(), nil }); err != nil {
		return fmt.Errorf("register %s query: %w", StatusQuery, err)
	}
	err := workflow.SetQueryHandler(ctx, ApprovalsQuery, func() (approvals.Status, error) {
		st := approvals.Status{
			Process: ProcessName, WorkflowID: r.st.ID, BusinessKey: r.in.Kind + " " + r.in.Target, Stage: r.st.Stage,
			Title: r.title(), RequestedBy: r.in.RequestedBy, RequesterVerified: r.st.RequesterVerified,
			Kind: r.in.Kind, Target: r.in.Target, ActionDigest: r.st.ActionDigest, ApprovalReason: r.st.ApprovalReason,
			Justification: r.in.Justification, Outcome: r.st.Outcome, Reason: r.st.Reason,
		}
		if len(r.st.Action) > 0 {
			var m map[string]any
			if json.Unmarshal(r.st.Action, &m) == nil {
				st.Action = m
			}
		}
		r.ap.Fill(&st)
		return st, nil
	})
	if err != nil {
		return fmt.Errorf("register %s query: %w", ApprovalsQuery, err)
	}
	return nil
}

// result is the status with the approval state filled in.
func (r *run) result() Status {
	st := r.st
	st.Approvals, st.Rejected = r.ap.Approvals, r.ap.RejectedMessages
	st.AwaitingSlot, st.PendingApprovers, st.ApprovalRounds = r.ap.AwaitingSlot, r.ap.PendingApprovers, r.ap.Rounds
	return st
}

// title says in one line what will execute.
func (r *run) title() string {
	var d DeployAction
	switch r.in.Kind {
	case KindDeploy:
		if json.Unmarshal(r.st.Action, &d) == nil && d.Service != "" {
			return fmt.Sprintf("Release %s %s to %s (proposed by %s)", d.Service, d.Version, d.Target, r.in.RequestedBy)
		}
	case KindEmail:
		return fmt.Sprintf("Email %s (proposed by %s)", r.in.Target, r.in.RequestedBy)
	case KindVendorPayment:
		return fmt.Sprintf("Pay invoice %s (proposed by %s)", r.in.Target, r.in.RequestedBy)
	}
	return fmt.Sprintf("%s on %s (proposed by %s)", r.in.Kind, r.in.Target, r.in.RequestedBy)
}

// confidencePercent is the agent's confidence as Cedar reads it (Long).
func confidencePercent(c float64) int64 { return int64(math.Floor(c*100 + 1e-9)) }

func (r *run) execute(ctx workflow.Context) (outcome, reason string) {
	var roles []string
	for {
		r.setStage(ctx, StageLoading, fmt.Sprintf("Reading `%s` on **%s** from the target system", r.in.Kind, r.in.Target))
		var raw json.RawMessage
		if err := r.exec(ctx, r.cfg.Read, ActivityResolve, ResolveRequest{Kind: r.in.Kind, Target: r.in.Target, Params: r.in.Params, RequestedBy: r.in.RequestedBy}, &raw); err != nil {
			return OutcomeFailed, "resolve action: " + process.FailureMessage(err)
		}
		digest, err := action.Digest(raw)
		if err != nil {
			return OutcomeFailed, "digest action: " + err.Error()
		}
		if r.st.ActionDigest != "" && r.st.ActionDigest != digest {
			r.logger.Info("Action changed", "previousDigest", r.st.ActionDigest, "digest", digest)
		}
		r.st.Action, r.st.ActionDigest = raw, digest
		if r.in.Kind == KindVendorPayment {
			return r.handoff(ctx)
		}

		var plan approvals.Plan
		if err := r.exec(ctx, r.cfg.Read, ActivityPlanApprovals, PlanRequest{Roles: roles, Reason: r.st.ApprovalReason}, &plan); err != nil {
			return OutcomeFailed, "plan approvals: " + process.FailureMessage(err)
		}
		r.ap.SetPlan(plan)
		if err := r.ap.Drop(ctx, plan, digest); err != nil {
			return OutcomeFailed, err.Error()
		}
		r.setStage(ctx, StageGating, "Asking the gate whether the action is admissible now")
		var d gate.Decision
		if err := r.exec(ctx, r.cfg.Read, ActivityEvaluateGate, r.gateRequest(), &d); err != nil {
			return OutcomeFailed, "gate: " + process.FailureMessage(err)
		}
		r.recordGate(ctx, GateBeforeApproval, d)
		switch {
		case d.Permit:
			outcome, reason, again := r.act(ctx)
			if !again {
				return outcome, reason
			}
			if r.refusals++; r.refusals > r.cfg.MaxApprovalRounds {
				return OutcomeFailed, fmt.Sprintf("the side effect was refused %d times: %s", r.refusals, reason)
			}
			continue
		case !d.NeedsApprovalOnly():
			return OutcomeDenied, "the gate denies this action: " + d.String()
		}
		r.st.ApprovalReason = reasons(d)
		if want := d.ApprovalRoles(); !sameRoles(plan, want) {
			roles = want
			if err := r.exec(ctx, r.cfg.Read, ActivityPlanApprovals, PlanRequest{Roles: roles, Reason: r.st.ApprovalReason}, &plan); err != nil {
				return OutcomeFailed, "plan approvals: " + process.FailureMessage(err)
			}
			r.ap.SetPlan(plan)
		}
		if r.ap.Rounds >= r.cfg.MaxApprovalRounds {
			return OutcomeFailed, fmt.Sprintf("approval requested %d times without a stable, valid set of approvals", r.ap.Rounds)
		}
		r.ap.Rounds++
		end, err := r.ap.Collect(ctx, plan)
		if err != nil {
			return OutcomeCancelled, "cancelled while awaiting approval"
		}
		if end != nil {
			return end.Outcome, end.Reason
		}
	}
}

func sameRoles(plan approvals.Plan, want []string) bool {
	for _, role := range want {
		if !slices.ContainsFunc(plan.Slots, func(s approvals.Slot) bool { return s.Role == role }) {
			return false
		}
	}
	return true
}

// reasons renders why people are asked, from the policies' messages.
func reasons(d gate.Decision) string {
	var out []string
	for _, r := range d.Reasons {
		out = append(out, r.Message)
	}
	return strings.Join(out, "; ")
}

func (r *run) gateRequest() GateRequest {
	return GateRequest{
		Kind: r.in.Kind, Target: r.in.Target, Action: r.st.Action, ActionDigest: r.st.ActionDigest,
		RequestedBy: r.in.RequestedBy, RequesterProof: r.in.RequesterProof, ProposalDigest: r.proposalDigest,
		ConfidencePercent: confidencePercent(r.in.Confidence), Approvals: r.ap.Approvals,
	}
}

// IdempotencyKey is the side effect's key: the action id and the digest of
// exactly what was admitted, so one approved action is one side effect.
func IdempotencyKey(workflowID, digest string) string {
	sum := sha256.Sum256([]byte(workflowID + "\x00" + digest))
	return "aa-" + hex.EncodeToString(sum[:16])
}

// act executes the admitted action and verifies it. again is true when the
// gate at the side effect refused (the action changed or a policy now
// denies): the caller reads, gates and asks again.
func (r *run) act(ctx workflow.Context) (outcome, reason string, again bool) {
	r.setStage(ctx, StageExecuting, fmt.Sprintf("Executing `%s` on **%s**", r.in.Kind, r.in.Target))
	var res ExecuteResult
	req := ExecuteRequest{GateRequest: r.gateRequest(), IdempotencyKey: IdempotencyKey(r.st.ID, r.st.ActionDigest)}
	if err := r.exec(ctx, r.cfg.Execute, ActivityExecute, req, &res); err != nil {
		msg := process.FailureMessage(err)
		if process.HasErrorType(err, ErrTypeGateDenied) {
			var appErr *temporal.ApplicationError
			var d gate.Decision
			if errors.As(err, &appErr) && appErr.Details(&d) == nil {
				r.recordGate(ctx, GateAtSideEffect, d)
			}
			r.logger.Info("Side effect refused by the gate", "reason", msg)
			return OutcomeDenied, msg, true
		}
		if process.HasErrorType(err, ErrTypeActionChanged) {
			r.logger.Info("Action changed before the side effect", "reason", msg)
			return OutcomeFailed, msg, true
		}
		return OutcomeFailed, "execute: " + msg, false
	}
	if res.Recovered {
		r.logger.Info("Side effect of an earlier attempt found under the idempotency key", "ref", res.Ref)
	} else {
		r.recordGate(ctx, GateAtSideEffect, res.Decision)
	}
	r.st.Execution = &Execution{Ref: res.Ref, At: workflow.Now(ctx).UTC()}
	r.audit.Record(ctx, audit.KindSideEffect, "system", fmt.Sprintf("Executed %s on %s (%s)", r.in.Kind, r.in.Target, res.Ref),
		audit.SideEffectData{System: systemOf(r.in.Kind), Operation: r.in.Kind, Reference: res.Ref, IdempotencyKey: req.IdempotencyKey})

	r.setStage(ctx, StageVerifying, fmt.Sprintf("Verifying `%s` reached its resolution", res.Ref))
	var v VerifyResult
	if err := r.exec(ctx, r.cfg.Verify, ActivityVerify, VerifyRequest{Kind: r.in.Kind, Ref: res.Ref}, &v); err != nil {
		detail := process.FailureMessage(err)
		process.RecordVerificationFailure(workflow.GetMetricsHandler(ctx), ProcessName, r.in.Kind)
		r.st.Verification = &Verification{Verified: false, State: "unconfirmed", Detail: detail, At: workflow.Now(ctx).UTC()}
		r.escalated = true
		process.AuditVerification(ctx, r.audit, r.in.Kind, false, res.Ref+": "+detail)
		return OutcomeUnverified, fmt.Sprintf("executed (%s) but not verified: %s", res.Ref, detail), false
	}
	r.st.Verification = &Verification{Verified: true, State: v.State, Detail: v.Detail, At: v.At}
	process.AuditVerification(ctx, r.audit, r.in.Kind, true, res.Ref+": "+v.State)
	return OutcomeSucceeded, "", false
}

// handoff runs a vendor payment as a child workflow: the vendor-payment
// process loads the invoice, gates the payment (the agent as its verified
// requester), asks people where its policies say, releases, verifies
// settlement and records. This action reports its outcome.
func (r *run) handoff(ctx workflow.Context) (outcome, reason string) {
	childID := vendorpayment.VendorPaymentID(r.in.Target)
	r.setStage(ctx, StageExecuting, fmt.Sprintf("Handing invoice **%s** to the vendor-payment process (`%s`)", r.in.Target, childID))
	var token string
	if err := r.exec(ctx, r.cfg.Read, ActivitySignHandoff, HandoffRequest{ChildWorkflowID: childID, RequestedBy: r.in.RequestedBy, RequesterProof: r.in.RequesterProof, ProposalDigest: r.proposalDigest}, &token); err != nil {
		return OutcomeFailed, "hand off: " + process.FailureMessage(err)
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: childID, TaskQueue: process.TaskQueue,
		// Cancelling the agent's action cancels the payment, which cleans up.
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		StaticSummary:         fmt.Sprintf("Vendor payment for invoice **%s**, proposed by %s (%s)", r.in.Target, r.in.RequestedBy, r.st.ID),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			process.SAProcess.ValueSet(vendorpayment.ProcessName),
			process.SABusinessKey.ValueSet(r.in.Target),
			process.SARequester.ValueSet(r.in.RequestedBy),
		),
	})
	f := workflow.ExecuteChildWorkflow(cctx, vendorpayment.VendorPaymentWorkflow, vendorpayment.VendorPaymentInput{
		InvoiceID: r.in.Target, RequestedBy: r.in.RequestedBy, RequesterProof: token,
	})
	var exec workflow.Execution
	if err := f.GetChildWorkflowExecution().Get(ctx, &exec); err != nil {
		return OutcomeFailed, fmt.Sprintf("start vendor payment %s: %s", childID, process.FailureMessage(err))
	}
	r.st.Execution = &Execution{Ref: childID, At: workflow.Now(ctx).UTC()}
	r.audit.Record(ctx, audit.KindHandoff, "system", fmt.Sprintf("Handed invoice %s to the vendor-payment process (%s)", r.in.Target, childID),
		audit.HandoffData{Why: "child", To: []string{childID}}, childID)
	var res vendorpayment.VendorPaymentResult
	if err := f.Get(ctx, &res); err != nil {
		return OutcomeFailed, fmt.Sprintf("vendor payment %s: %s", childID, process.FailureMessage(err))
	}
	r.st.Approvals = res.Approvals
	switch res.Outcome {
	case vendorpayment.OutcomePaid:
		at := workflow.Now(ctx).UTC()
		if res.VerifiedAt != nil {
			at = *res.VerifiedAt
		}
		r.st.Verification = &Verification{Verified: true, State: "paid", Detail: "payment " + res.PaymentID + " settled", At: at}
		return OutcomeSucceeded, ""
	case vendorpayment.OutcomeRejected, vendorpayment.OutcomeExpired, vendorpayment.OutcomeDenied:
		return res.Outcome, "vendor payment " + childID + ": " + res.Reason
	}
	return OutcomeFailed, fmt.Sprintf("vendor payment %s ended %s: %s", childID, res.Outcome, res.Reason)
}

func (r *run) recordGate(ctx workflow.Context, point string, d gate.Decision) {
	r.st.Gate = append(r.st.Gate, GateCheck{Point: point, At: workflow.Now(ctx).UTC(), Decision: d})
	if n := len(r.st.Gate); n > maxGateChecks {
		r.st.Gate = slices.Clone(r.st.Gate[n-maxGateChecks:])
	}
	r.logger.Info("Gate decision", "point", point, "permit", d.Permit, "decision", d.String())
}

// cleanupTimeout bounds what a cancelled run still does.
const cleanupTimeout = time.Minute

// cancelled ends a cancelled run with what it had done, in a disconnected
// context, and returns the cancellation.
func (r *run) cancelled(ctx workflow.Context) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	reason := "cancelled while " + r.st.Stage
	switch {
	case r.st.Execution != nil && r.st.Verification == nil:
		reason += fmt.Sprintf("; %s was executed (%s) but not verified", r.in.Kind, r.st.Execution.Ref)
	case r.st.Execution == nil && r.st.Stage == StageExecuting:
		reason += fmt.Sprintf("; the side effect may have happened (idempotency key %s)", IdempotencyKey(r.st.ID, r.st.ActionDigest))
	case r.st.Execution == nil:
		reason += "; nothing was executed"
	}
	r.finish(dctx, OutcomeCancelled, reason)
	return ctx.Err()
}

func (r *run) finish(ctx workflow.Context, outcome, reason string) {
	r.ap.Close(ctx)
	r.st.Stage, r.st.Outcome, r.st.Reason = StageDone, outcome, reason
	r.upsert(ctx, process.SAStage.ValueSet(StageDone), process.SAOutcome.ValueSet(outcome))
	process.RecordCompleted(workflow.GetMetricsHandler(ctx), ProcessName, outcome, r.ap.Rounds == 0 && !r.escalated)
	process.AuditOutcome(ctx, r.audit, outcome, reason, r.ap.Rounds == 0 && !r.escalated)
	line := "**" + outcome + "**"
	if reason != "" {
		line += ": " + reason
	} else if v := r.st.Verification; v != nil {
		line += ": " + v.State + " — " + v.Detail
	}
	workflow.SetCurrentDetails(ctx, line)
}

func (r *run) setStage(ctx workflow.Context, stage, details string) {
	r.st.Stage = stage
	r.upsert(ctx, process.SAStage.ValueSet(stage))
	workflow.SetCurrentDetails(ctx, details)
}

func (r *run) upsert(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) {
	process.Upsert(ctx, r.logger, updates...)
}

func (r *run) exec(ctx workflow.Context, opts workflow.ActivityOptions, name string, arg, out any) error {
	return process.Exec(ctx, opts, name, arg, out)
}

func verifiedWord(v bool) string {
	if v {
		return "proof verified"
	}
	return "claimed, no proof"
}

// systemOf names the outside system a kind acts on ("deploy.release" →
// "deploy").
func systemOf(kind string) string {
	if i := strings.IndexByte(kind, '.'); i > 0 {
		return kind[:i]
	}
	return kind
}
