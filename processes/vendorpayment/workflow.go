package vendorpayment

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// ErrTypeInvalidInput is the ApplicationError type of a rejected workflow input.
const ErrTypeInvalidInput = "InvalidInput"

// VendorPayment pays one overdue, scheduled vendor invoice: it checks the
// invoice, gets the approvals the org directory asks for, releases exactly
// the approved action, verifies settlement and delivery of the vendor email,
// and marks the invoice paid.
type VendorPayment struct {
	cfg VendorPaymentConfig
}

// NewVendorPayment returns the workflow with cfg. Activity options without
// any timeout and a non-positive MaxApprovalRounds take the defaults, so a
// partly filled config cannot schedule an activity Temporal refuses.
func NewVendorPayment(cfg VendorPaymentConfig) *VendorPayment {
	def := DefaultVendorPaymentConfig()
	for _, o := range []struct{ dst, def *workflow.ActivityOptions }{
		{&cfg.Read, &def.Read}, {&cfg.Release, &def.Release}, {&cfg.Settlement, &def.Settlement},
		{&cfg.Notify, &def.Notify}, {&cfg.Delivery, &def.Delivery},
	} {
		if o.dst.StartToCloseTimeout <= 0 && o.dst.ScheduleToCloseTimeout <= 0 {
			*o.dst = *o.def
		}
	}
	if cfg.MaxApprovalRounds <= 0 {
		cfg.MaxApprovalRounds = def.MaxApprovalRounds
	}
	return &VendorPayment{cfg: cfg}
}

// run is the state of one workflow execution. Handlers (query, update,
// signal) and the main coroutine share it; Temporal runs them one at a time.
type run struct {
	cfg    VendorPaymentConfig
	in     VendorPaymentInput
	wfID   string
	logger log.Logger
	st     VendorPaymentStatus

	// rules are the approval rules this execution applies (see
	// changeStrictApprovals, changeProvenApprovals); fixed at the start.
	rules approvals.Rules
	ap    *approvals.Waiter
	// audit records this execution's events to the ledger (see
	// audit.ChangeLedger: nothing for executions started before it).
	audit *audit.Recorder
	// escalated: finance operations were asked to take over, so the
	// action did not complete without people.
	escalated bool
}

// changeStrictApprovals versions the stricter approval rules: identities
// compared without case and channel prefix ("cli:Maria" is maria, so she
// cannot approve her own request) and approval signals decoded strictly.
// Accepting or refusing a signal is recorded in history only through what
// follows it, so executions started before the change keep the old rules.
const changeStrictApprovals = "strict-approvals"

// changeProvenApprovals versions proofs and the gate: a decision counts only
// with a verified proof of who made it, and the Cedar gate decides before
// approval whether people are needed (and the release activity decides again
// at the side effect). Executions started before keep their rules.
const changeProvenApprovals = "proven-approvals"

// changeCancelCleanup marks executions whose cancellation finishes with
// outcome "cancelled", an ERP note and, when money may move, an escalation.
const changeCancelCleanup = "cancel-cleanup"

// Run is the workflow function.
func (w *VendorPayment) Run(ctx workflow.Context, in VendorPaymentInput) (VendorPaymentResult, error) {
	// Asked once, first, so every handler of this execution sees one answer.
	strict := workflow.GetVersion(ctx, changeStrictApprovals, workflow.DefaultVersion, 1) >= 1
	proven := workflow.GetVersion(ctx, changeProvenApprovals, workflow.DefaultVersion, 1) >= 1
	rec := audit.NewRecorder(ctx, ProcessName, in.InvoiceID)
	r := &run{
		audit:  rec,
		rules:  approvals.Rules{Strict: strict, RequireProof: proven},
		cfg:    w.cfg,
		in:     in,
		wfID:   workflow.GetInfo(ctx).WorkflowExecution.ID,
		logger: workflow.GetLogger(ctx),
		st:     VendorPaymentStatus{Stage: StageLoading, InvoiceID: in.InvoiceID, RequestedBy: in.RequestedBy},
	}
	ap, err := approvals.New(ctx, approvals.Config{
		Host: approvalHost{r}, Rules: r.rules, RequestedBy: in.RequestedBy,
		ActionDigest: func() string { return r.st.ActionDigest },
		Target: func() string {
			if r.st.Action == nil {
				return ""
			}
			return PaymentTarget(*r.st.Action)
		},
		Stage:             func() string { return r.st.Stage },
		UpdateDescription: "Approve or reject the payment action awaiting a decision",
		Process:           ProcessName,
		Audit:             rec,
	})
	if err != nil {
		return VendorPaymentResult{}, err
	}
	r.ap = ap
	if err := r.registerQueries(ctx); err != nil {
		return VendorPaymentResult{}, err
	}
	if err := validateInput(in); err != nil {
		r.st.Stage, r.st.Outcome, r.st.Reason = StageDone, OutcomeFailed, err.Error()
		return VendorPaymentResult{}, err
	}
	if proven && in.RequesterProof != "" {
		if err := r.verifyRequester(ctx); err != nil {
			r.st.Stage, r.st.Outcome, r.st.Reason = StageDone, OutcomeFailed, err.Error()
			return VendorPaymentResult{}, err
		}
	}
	r.upsert(ctx,
		process.SAProcess.ValueSet(ProcessName),
		process.SABusinessKey.ValueSet(in.InvoiceID),
		process.SAStage.ValueSet(StageLoading),
	)
	r.recordProposed(ctx)
	res, err := r.execute(ctx)
	if ctx.Err() != nil && (err != nil || res.Outcome != OutcomePaid) {
		// Cancelled: whatever execute made of its cancelled activities
		// ("load invoice: canceled") is not the outcome. Executions
		// cancelled before the clean-up existed keep their old ending, so
		// their histories (and queries on them) still replay.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		if workflow.GetVersion(dctx, changeCancelCleanup, workflow.DefaultVersion, 1) >= 1 {
			return VendorPaymentResult{}, r.cancelled(ctx, res, err)
		}
	}
	if err != nil {
		// Only internal errors get here; business failures are outcomes.
		return VendorPaymentResult{}, err
	}
	res.Approvals = r.ap.Approvals
	r.finish(ctx, res)
	return res, nil
}

// recordProposed writes the request to the ledger, with whether a proof
// vouched for the requester.
func (r *run) recordProposed(ctx workflow.Context) {
	how := "claimed, no proof"
	if r.st.RequesterVerified {
		how = "proof verified"
	}
	r.audit.Record(ctx, audit.KindProposed, r.in.RequestedBy,
		fmt.Sprintf("Payment of invoice %s requested by %s (%s)", r.in.InvoiceID, r.in.RequestedBy, how),
		audit.ProposedData{ActionKind: action.KindVendorPayment, RequestedBy: r.in.RequestedBy, RequesterVerified: r.st.RequesterVerified})
}

// verifyRequester checks the start's proof of who requested, as of when the
// run started (the trusted keys come from an activity, so it replays).
func (r *run) verifyRequester(ctx workflow.Context) error {
	trust, err := approvalHost{r}.LoadTrust(ctx)
	if err != nil {
		return fmt.Errorf("requesterProof: load trusted keys: %s", process.FailureMessage(err))
	}
	_, err = proof.Verify(r.in.RequesterProof, trust, proof.Expect{
		Kind: proof.KindStart, WorkflowID: r.wfID, Subject: r.in.RequestedBy,
	}, workflow.GetInfo(ctx).WorkflowStartTime)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("requesterProof: "+err.Error(), ErrTypeInvalidInput, nil)
	}
	r.st.RequesterVerified = true
	return nil
}

// registerQueries answers "status" (this process's own shape) and
// "approvals" (the kernel's shape every gated process answers).
func (r *run) registerQueries(ctx workflow.Context) error {
	err := workflow.SetQueryHandler(ctx, StatusQuery, func() (VendorPaymentStatus, error) {
		st := r.st
		st.Approvals, st.RejectedMessages = r.ap.Approvals, r.ap.RejectedMessages
		st.AwaitingSlot, st.PendingApprovers, st.AwaitingSince, st.Escalated = r.ap.AwaitingSlot, r.ap.PendingApprovers, r.ap.AwaitingSince, r.ap.Escalated
		st.ApprovalRounds = r.ap.Rounds
		st.ProofRequired = r.rules.RequireProof
		return st, nil
	})
	if err != nil {
		return fmt.Errorf("register %s query: %w", StatusQuery, err)
	}
	err = workflow.SetQueryHandler(ctx, ApprovalsQuery, func() (approvals.Status, error) {
		st := approvals.Status{
			Process: ProcessName, WorkflowID: r.wfID, BusinessKey: r.in.InvoiceID, Stage: r.st.Stage,
			Title: "Vendor payment for invoice " + r.in.InvoiceID, RequestedBy: r.in.RequestedBy, RequesterVerified: r.st.RequesterVerified,
			Kind: action.KindVendorPayment, ActionDigest: r.st.ActionDigest,
			AmountMinor: r.st.AmountMinor, Currency: r.st.Currency, ApprovalReason: r.st.ApprovalReason,
			Tier: r.st.Tier, Outcome: r.st.Outcome, Reason: r.st.Reason,
		}
		if a := r.st.Action; a != nil {
			st.Action, st.Target = *a, PaymentTarget(*a)
			st.Title = fmt.Sprintf("Pay %s to %s (invoice %s)", formatMoney(a.AmountMinor, a.Currency), a.VendorName, a.InvoiceID)
		}
		r.ap.Fill(&st)
		return st, nil
	})
	if err != nil {
		return fmt.Errorf("register %s query: %w", ApprovalsQuery, err)
	}
	return nil
}

// PaymentTarget is the target a payment action binds to: the vendor and the
// account the money goes to. An approval for one target never admits
// another (gate rule target.binding).
func PaymentTarget(p action.Payment) string {
	return p.VendorID + "/" + strings.ToUpper(strings.Join(strings.Fields(p.Beneficiary.IBAN), ""))
}

func validateInput(in VendorPaymentInput) error {
	invalid := func(format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrTypeInvalidInput, nil)
	}
	switch {
	case strings.TrimSpace(in.InvoiceID) == "":
		return invalid("invoiceId: required")
	case !isBusinessID(in.InvoiceID):
		return invalid("invoiceId: %q is not an id (1-64 letters, digits, '-', '_' or '.', starting with a letter or digit)", in.InvoiceID)
	case strings.TrimSpace(in.RequestedBy) == "":
		return invalid("requestedBy: required")
	case len(in.RequestedBy) > 128 || strings.ContainsFunc(in.RequestedBy, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return invalid("requestedBy: %q must be an identity without spaces of at most 128 characters", in.RequestedBy)
	case len(in.RequesterProof) > proof.MaxTokenLen:
		return invalid("requesterProof: longer than %d bytes", proof.MaxTokenLen)
	}
	return nil
}

func isBusinessID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i, c := range s {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '-' && c != '_' && c != '.')) {
			return false
		}
	}
	return true
}

func (r *run) execute(ctx workflow.Context) (VendorPaymentResult, error) {
	maxRounds := r.cfg.MaxApprovalRounds
	// Each pass re-reads the invoice and vendor and rebuilds the action, so
	// the pass that releases is the gate: its reads, digest comparison and
	// approver check happen immediately before ReleasePayment.
	// roles are those the gate asked people for in an earlier pass. Later
	// passes plan with them, so approvals given for them (e.g. a finance
	// manager for a vendor's daily cap on an otherwise autonomous amount)
	// are not dropped as "slot not in plan" before the gate sees them.
	var roles []string
	for {
		inv, vendor, res := r.loadAndCheck(ctx)
		if res != nil {
			return *res, nil
		}
		pay := action.NewPayment(inv, vendor)
		digest, err := action.Digest(pay)
		if err != nil {
			return r.failed("build payment action: " + err.Error()), nil
		}
		if r.st.ActionDigest != "" && r.st.ActionDigest != digest {
			r.logger.Info("Payment action changed", "previousDigest", r.st.ActionDigest, "digest", digest)
		}
		r.st.Action, r.st.ActionDigest = &pay, digest

		plan, res := r.planApprovals(ctx, pay, roles)
		if res != nil {
			return *res, nil
		}
		if r.rules.RequireProof {
			// The gate decides whether people are needed; the plan says who
			// and how long to wait for them.
			if err := r.ap.Drop(ctx, plan, digest); err != nil {
				return r.failed(err.Error()), nil
			}
			decision, res := r.checkGate(ctx, pay, digest)
			if res != nil {
				return *res, nil
			}
			if decision.Permit {
				return r.release(ctx, inv, vendor, pay, digest)
			}
			if !decision.NeedsApprovalOnly() {
				return r.end(OutcomeDenied, "the gate denies this payment: "+decision.String()), nil
			}
			if missing := missingRoles(plan, decision.ApprovalRoles()); len(missing) > 0 {
				roles = decision.ApprovalRoles()
				if plan, res = r.planApprovals(ctx, pay, roles); res != nil {
					return *res, nil
				}
			}
		} else {
			if plan.Autonomous {
				return r.release(ctx, inv, vendor, pay, digest)
			}
			if err := r.ap.Drop(ctx, plan, digest); err != nil {
				return r.failed(err.Error()), nil
			}
			if r.ap.Complete(plan) {
				return r.release(ctx, inv, vendor, pay, digest)
			}
		}
		if r.ap.Rounds >= maxRounds {
			return r.failed(fmt.Sprintf("approval requested %d times without a stable, valid set of approvals", r.ap.Rounds)), nil
		}
		r.ap.Rounds++
		end, err := r.ap.Collect(ctx, plan)
		if err != nil {
			return VendorPaymentResult{}, err
		}
		if end != nil {
			return r.end(end.Outcome, end.Reason), nil
		}
	}
}

// missingRoles lists the roles in want that no slot of plan asks for.
func missingRoles(plan ApprovalPlan, want []string) []string {
	var out []string
	for _, role := range want {
		if !slices.ContainsFunc(plan.Slots, func(s ApprovalSlot) bool { return s.Role == role }) {
			out = append(out, role)
		}
	}
	return out
}

// checkGate asks the gate whether the payment is admissible now with the
// approvals so far. The decision is kept in the status, so operators see it.
func (r *run) checkGate(ctx workflow.Context, pay action.Payment, digest string) (gate.Decision, *VendorPaymentResult) {
	var d gate.Decision
	req := GateRequest{Action: pay, ActionDigest: digest, RequestedBy: r.in.RequestedBy, RequesterProof: r.in.RequesterProof, Approvals: r.ap.Approvals}
	if err := r.exec(ctx, r.cfg.Read, ActivityEvaluateGate, req, &d); err != nil {
		// A gate that cannot decide fails closed, and people are told.
		reason := "gate: " + process.FailureMessage(err)
		suffix := r.escalate(ctx, process.ExceptionGateUndecidable, r.in.InvoiceID, "", "Payment gate could not decide for invoice "+r.in.InvoiceID, reason+"\nNothing was paid.")
		res := r.failed(reason + suffix)
		return d, &res
	}
	r.st.Gate = &d
	r.logger.Info("Gate decision", "permit", d.Permit, "decision", d.String())
	return d, nil
}

// loadAndCheck reads the invoice and vendor and applies the business checks.
// A non-nil result ends the workflow.
func (r *run) loadAndCheck(ctx workflow.Context) (erp.Invoice, erp.Vendor, *VendorPaymentResult) {
	r.setStage(ctx, StageLoading, fmt.Sprintf("Loading invoice **%s** and its vendor from the ERP", r.in.InvoiceID))
	var inv erp.Invoice
	if err := r.exec(ctx, r.cfg.Read, ActivityLoadInvoice, r.in.InvoiceID, &inv); err != nil {
		res := r.failed("load invoice: " + process.FailureMessage(err))
		return inv, erp.Vendor{}, &res
	}
	var vendor erp.Vendor
	if err := r.exec(ctx, r.cfg.Read, ActivityLoadVendor, inv.VendorID, &vendor); err != nil {
		res := r.failed("load vendor: " + process.FailureMessage(err))
		return inv, vendor, &res
	}

	r.setStage(ctx, StageChecking, fmt.Sprintf("Checking invoice **%s** against schedule and vendor record", inv.ID))
	r.st.AmountMinor, r.st.Currency = inv.AmountMinor, inv.Currency
	r.upsert(ctx, process.SAAmount.ValueSet(majorUnits(inv.AmountMinor, inv.Currency)))

	today := workflow.Now(ctx).UTC().Truncate(24 * time.Hour)
	if outcome, reason := checkInvoice(r.in.InvoiceID, inv, today); outcome != "" {
		res := r.end(outcome, reason)
		return inv, vendor, &res
	}
	var sched ScheduleCheckResult
	if err := r.exec(ctx, r.cfg.Read, ActivityCheckPaymentSchedule, ScheduleCheck{InvoiceID: inv.ID, AmountMinor: inv.AmountMinor}, &sched); err != nil {
		res := r.failed("check payment schedule: " + process.FailureMessage(err))
		return inv, vendor, &res
	}
	if !sched.OnSchedule {
		r.logger.Info("Invoice not on the approved payment schedule", "invoiceId", inv.ID, "detail", sched.Detail)
		res := r.failed("not on the approved payment schedule")
		return inv, vendor, &res
	}
	if diff := bankDifference(inv.BankAccount, vendor.BankAccount); diff != "" {
		reason := "invoice bank details differ from the vendor's ERP record (" + diff + ")"
		r.note(ctx, inv.ID, "Payment stopped before release: "+reason+". Verify the vendor's bank details out of band.")
		res := r.end(OutcomeBankDetailsMismatch, reason)
		return inv, vendor, &res
	}
	return inv, vendor, nil
}

// checkInvoice says whether inv may be paid today; a non-empty outcome ends
// the workflow with reason.
func checkInvoice(wantID string, inv erp.Invoice, today time.Time) (outcome, reason string) {
	switch {
	case inv.ID != wantID:
		return OutcomeFailed, fmt.Sprintf("ERP returned invoice %q for %q", inv.ID, wantID)
	case inv.Status == erp.InvoicePaid:
		return OutcomeFailed, fmt.Sprintf("invoice is already paid (payment reference %q)", inv.PaymentReference)
	case inv.Status != erp.InvoiceOpen:
		return OutcomeFailed, fmt.Sprintf("invoice status is %q, not %q", inv.Status, erp.InvoiceOpen)
	case inv.AmountMinor <= 0:
		return OutcomeFailed, fmt.Sprintf("invoice amountMinor must be positive, got %d", inv.AmountMinor)
	}
	due, err := time.Parse(time.DateOnly, inv.DueDate)
	if err != nil {
		return OutcomeFailed, fmt.Sprintf("invoice dueDate %q is not a date (YYYY-MM-DD)", inv.DueDate)
	}
	if !due.Before(today) {
		return OutcomeNotDue, fmt.Sprintf("invoice is due on %s and not overdue (today is %s)", inv.DueDate, today.Format(time.DateOnly))
	}
	return "", ""
}

// bankDifference names the fields in which the invoice's bank account differs
// from the vendor master record, or returns "". IBAN and BIC are compared
// without spaces and case, which carry no meaning; the holder exactly.
func bankDifference(invoice, vendor erp.BankAccount) string {
	norm := func(s string) string { return strings.ToUpper(strings.Join(strings.Fields(s), "")) }
	var diffs []string
	if norm(invoice.IBAN) != norm(vendor.IBAN) {
		diffs = append(diffs, "iban")
	}
	if norm(invoice.BIC) != norm(vendor.BIC) {
		diffs = append(diffs, "bic")
	}
	if strings.TrimSpace(invoice.AccountHolder) != strings.TrimSpace(vendor.AccountHolder) {
		diffs = append(diffs, "accountHolder")
	}
	return strings.Join(diffs, ", ")
}

func (r *run) planApprovals(ctx workflow.Context, pay action.Payment, roles []string) (ApprovalPlan, *VendorPaymentResult) {
	var plan ApprovalPlan
	if err := r.exec(ctx, r.cfg.Read, ActivityPlanApprovals, PlanRequest{AmountMinor: pay.AmountMinor, Currency: pay.Currency, Roles: roles}, &plan); err != nil {
		res := r.failed("plan approvals: " + process.FailureMessage(err))
		return plan, &res
	}
	if !plan.Autonomous && (len(plan.Slots) == 0 || plan.ExpireAfter <= 0) {
		res := r.failed(fmt.Sprintf("approval plan for tier %q needs slots and a positive expireAfter", plan.Tier))
		return plan, &res
	}
	r.ap.SetPlan(plan)
	r.st.Tier = plan.Tier
	if !plan.Autonomous {
		r.st.ApprovalReason = plan.Reason
	} else {
		r.st.ApprovalReason = ""
	}
	return plan, nil
}

// release pays, verifies settlement, tells the vendor and closes the invoice.
func (r *run) release(ctx workflow.Context, inv erp.Invoice, vendor erp.Vendor, pay action.Payment, digest string) (VendorPaymentResult, error) {
	r.setStage(ctx, StageReleasing, fmt.Sprintf("Releasing **%s** to %s via treasury", formatMoney(pay.AmountMinor, pay.Currency), pay.VendorName))
	var released treasury.Payment
	req := ReleaseRequest{IdempotencyKey: IdempotencyKey(digest), Action: pay, ActionDigest: digest}
	if r.rules.RequireProof {
		// The release activity is the gate at the side effect: it verifies
		// these proofs and decides again, right before treasury is called.
		req.RequestedBy, req.RequesterProof, req.Approvals = r.in.RequestedBy, r.in.RequesterProof, r.ap.Approvals
	}
	if err := r.exec(ctx, r.cfg.Release, ActivityReleasePayment, req, &released); err != nil {
		reason := "release payment: " + process.FailureMessage(err)
		body := reason + "\nThe release may or may not have reached treasury; check idempotency key " + req.IdempotencyKey + "."
		why := process.ExceptionReleaseFailed
		if process.HasErrorType(err, ErrTypeAlreadyPaid) {
			body = reason + "\nThis run released nothing. Reconcile the existing payment with the invoice before paying it again."
			why = process.ExceptionAlreadyPaid
		} else if process.HasErrorType(err, ErrTypeGateDenied) {
			why = process.ExceptionReleaseDenied
		}
		suffix := r.escalate(ctx, why, inv.ID, "", "Payment release failed for invoice "+inv.ID, body)
		res := r.failed(reason + suffix)
		res.ActionDigest = digest
		return res, nil
	}
	r.st.PaymentID = released.ID
	process.RecordPaymentReleased(workflow.GetMetricsHandler(ctx), ProcessName)
	r.audit.Record(ctx, audit.KindSideEffect, "system",
		fmt.Sprintf("Treasury released %s to %s as payment %s", formatMoney(pay.AmountMinor, pay.Currency), pay.VendorName, released.ID),
		audit.SideEffectData{System: "treasury", Operation: "release", Reference: released.ID, IdempotencyKey: req.IdempotencyKey,
			AmountMinor: pay.AmountMinor, Currency: pay.Currency})

	r.setStage(ctx, StageVerifying, fmt.Sprintf("Waiting for treasury to settle payment `%s`", released.ID))
	var settled treasury.Payment
	if err := r.exec(ctx, r.cfg.Settlement, ActivityVerifySettlement, released.ID, &settled); err != nil {
		// Money may still move, so the invoice stays open and people take
		// over; the workflow does not claim success it has not seen.
		detail := process.FailureMessage(err)
		process.RecordVerificationFailure(workflow.GetMetricsHandler(ctx), ProcessName, process.VerificationSettlement)
		process.AuditVerification(ctx, r.audit, process.VerificationSettlement, false, "payment "+released.ID+": "+detail)
		r.note(ctx, inv.ID, fmt.Sprintf("Payment %s released but not settled (%s). Escalated to finance operations; invoice left open.", released.ID, detail))
		suffix := r.escalate(ctx, process.ExceptionNotSettled, inv.ID, released.ID, "Payment "+released.ID+" not settled",
			fmt.Sprintf("Payment %s for invoice %s (%s) was released but treasury did not report it settled: %s.",
				released.ID, inv.ID, formatMoney(pay.AmountMinor, pay.Currency), detail))
		res := r.failed("payment not settled" + suffix)
		res.PaymentID, res.ActionDigest = released.ID, digest
		return res, nil
	}
	verifiedAt := workflow.Now(ctx).UTC()
	if settled.SettledAt != nil {
		verifiedAt = settled.SettledAt.UTC()
	}
	r.st.VerifiedAt = &verifiedAt
	process.RecordPaymentVerified(workflow.GetMetricsHandler(ctx), ProcessName)
	process.AuditVerification(ctx, r.audit, process.VerificationSettlement, true,
		fmt.Sprintf("treasury reports payment %s settled at %s", released.ID, verifiedAt.Format(time.RFC3339)))

	// No address here: current details are not encrypted everywhere they show.
	r.setStage(ctx, StageNotifying, "Emailing the vendor's accounts-payable contact and confirming delivery")
	msgID := VendorMessageID(r.wfID, digest)
	var notifyErr error
	if err := r.exec(ctx, r.cfg.Notify, ActivityNotifyVendor, NotifyVendorRequest{MessageID: msgID, Vendor: vendor, Payment: settled}, nil); err != nil {
		notifyErr = fmt.Errorf("send: %s", process.FailureMessage(err))
	} else if err := r.exec(ctx, r.cfg.Delivery, ActivityVerifyEmailDelivered, msgID, nil); err != nil {
		notifyErr = fmt.Errorf("delivery of %s: %s", msgID, process.FailureMessage(err))
	}
	if notifyErr == nil {
		process.AuditVerification(ctx, r.audit, process.VerificationDelivery, true, "vendor email "+msgID+" delivered")
	}

	// The invoice is marked paid even when the vendor email failed: the money
	// has settled, and an open invoice would invite a second payment.
	r.setStage(ctx, StageRecording, fmt.Sprintf("Marking invoice **%s** paid in the ERP", inv.ID))
	if err := r.exec(ctx, r.cfg.Release, ActivityMarkInvoicePaid, MarkPaidRequest{InvoiceID: inv.ID, PaymentReference: released.ID}, nil); err != nil {
		reason := "mark invoice paid: " + process.FailureMessage(err)
		suffix := r.escalate(ctx, process.ExceptionNotMarkedPaid, inv.ID, released.ID, "Invoice "+inv.ID+" paid but not marked paid",
			fmt.Sprintf("Payment %s settled at %s but the ERP invoice could not be marked paid: %s.", released.ID, verifiedAt.Format(time.RFC3339), reason))
		res := r.failed(reason + suffix)
		res.PaymentID, res.ActionDigest, res.VerifiedAt = released.ID, digest, &verifiedAt
		return res, nil
	}
	if notifyErr != nil {
		process.RecordVerificationFailure(workflow.GetMetricsHandler(ctx), ProcessName, process.VerificationDelivery)
		process.AuditVerification(ctx, r.audit, process.VerificationDelivery, false, notifyErr.Error())
		r.note(ctx, inv.ID, fmt.Sprintf("Payment %s settled; vendor notification not confirmed (%v).", released.ID, notifyErr))
		suffix := r.escalate(ctx, process.ExceptionVendorNotNotified, inv.ID, released.ID, "Vendor not notified of payment "+released.ID,
			fmt.Sprintf("Payment %s for invoice %s settled and the invoice is marked paid, but the email to %s was not confirmed: %v.",
				released.ID, inv.ID, vendor.APContact.Email, notifyErr))
		res := r.failed("payment settled and invoice marked paid, but vendor notification not confirmed" + suffix)
		res.PaymentID, res.ActionDigest, res.VerifiedAt = released.ID, digest, &verifiedAt
		return res, nil
	}
	return VendorPaymentResult{Outcome: OutcomePaid, PaymentID: released.ID, ActionDigest: digest, VerifiedAt: &verifiedAt}, nil
}

// IdempotencyKey is the treasury idempotency key of an action digest: the
// same action can only ever be one payment.
func IdempotencyKey(digest string) string {
	return "vp-" + strings.TrimPrefix(digest, "sha256:")
}

// VendorMessageID is the Message-ID of the vendor notification: stable per
// workflow and action, so a retried send is the same message.
func VendorMessageID(workflowID, digest string) string {
	h := strings.TrimPrefix(digest, "sha256:")
	if len(h) > 32 {
		h = h[:32]
	}
	return fmt.Sprintf("<%s.%s@execution-orchestrator>", workflowID, h)
}

// cleanupTimeout bounds the activities a cancelled run still performs, so
// a cancellation ends promptly even when a connector is down.
const cleanupTimeout = time.Minute

// cancelled ends a cancelled run: in a disconnected context (the workflow
// context no longer runs anything) it leaves no stale state in the status
// and search attributes, notes the cancellation on the invoice and, when
// money may be moving, escalates to finance operations. It returns the
// cancellation error the workflow ends with.
func (r *run) cancelled(ctx workflow.Context, res VendorPaymentResult, cause error) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	stage := r.st.Stage
	var reason, note string
	escalate, markPaid := false, false
	switch {
	case r.st.VerifiedAt != nil:
		reason = fmt.Sprintf("cancelled while %s; payment %s had settled", stage, r.st.PaymentID)
		note = fmt.Sprintf("Payment workflow cancelled while %s. Payment %s had settled; the vendor may not have been notified.", stage, r.st.PaymentID)
		escalate, markPaid = true, true
	case r.st.PaymentID != "":
		reason = fmt.Sprintf("cancelled while %s; payment %s was released and may settle", stage, r.st.PaymentID)
		note = fmt.Sprintf("Payment workflow cancelled while %s. Payment %s was already released and may settle; the invoice is left open.", stage, r.st.PaymentID)
		escalate = true
	case stage == StageReleasing:
		key := IdempotencyKey(r.st.ActionDigest)
		reason = fmt.Sprintf("cancelled while releasing; the release may have reached treasury (idempotency key %s)", key)
		note = fmt.Sprintf("Payment workflow cancelled while releasing the payment; it may have reached treasury (idempotency key %s).", key)
		escalate = true
	default:
		reason = fmt.Sprintf("cancelled while %s; nothing was paid", stage)
		note = fmt.Sprintf("Payment workflow cancelled while %s. Nothing was paid.", stage)
	}
	if cause == nil && res.Reason != "" {
		// What the run had concluded when the cancellation reached it (for
		// example a refused release being escalated) is kept, not lost.
		reason += "; last step: " + res.Reason
		note += " Last step: " + res.Reason
	}
	r.logger.Info("Vendor payment cancelled", "stage", stage, "paymentId", r.st.PaymentID)

	opts := func(o workflow.ActivityOptions) workflow.ActivityOptions {
		o.ScheduleToCloseTimeout = cleanupTimeout
		if o.StartToCloseTimeout <= 0 || o.StartToCloseTimeout > cleanupTimeout {
			o.StartToCloseTimeout = cleanupTimeout
		}
		return o
	}
	if markPaid {
		// The money has settled: an invoice left open would invite a second
		// payment, so it is closed even though the run was cancelled
		// (idempotent: the same payment reference).
		req := MarkPaidRequest{InvoiceID: r.in.InvoiceID, PaymentReference: r.st.PaymentID}
		if err := r.exec(dctx, opts(r.cfg.Release), ActivityMarkInvoicePaid, req, nil); err != nil {
			reason += "; marking the invoice paid failed: " + process.FailureMessage(err)
			note += " Marking the invoice paid failed: " + process.FailureMessage(err) + "."
		} else {
			note += " The invoice is marked paid."
		}
	}
	if escalate {
		// Escalate first, so the note and the reason say whether it worked.
		suffix := r.escalateWith(dctx, opts(r.cfg.Notify), process.ExceptionCancelledInFlight, r.in.InvoiceID, r.st.PaymentID, "Payment workflow cancelled for invoice "+r.in.InvoiceID, note)
		reason += suffix
		note += suffix
	}
	r.finish(dctx, VendorPaymentResult{Outcome: OutcomeCancelled, Reason: reason, PaymentID: r.st.PaymentID})
	r.noteWith(dctx, opts(r.cfg.Read), r.in.InvoiceID, note)
	if temporal.IsCanceledError(cause) {
		return cause
	}
	return ctx.Err()
}

// escalate tells finance operations and returns the reason suffix saying so
// (or that escalating failed too, so the outcome never overstates). why is
// the exception's bounded reason (process.Exception*) for the metric.
func (r *run) escalate(ctx workflow.Context, why, invoiceID, paymentID, subject, body string) string {
	return r.escalateWith(ctx, r.cfg.Notify, why, invoiceID, paymentID, subject, body)
}

func (r *run) escalateWith(ctx workflow.Context, opts workflow.ActivityOptions, why, invoiceID, paymentID, subject, body string) string {
	// Counted whether or not the email goes out: the exception exists
	// either way, and a failed escalation is the worse case to miss.
	r.escalated = true
	process.RecordException(workflow.GetMetricsHandler(ctx), ProcessName, why)
	process.AuditException(ctx, r.audit, why, subject, "finance-operations")
	req := EscalationRequest{WorkflowID: r.wfID, InvoiceID: invoiceID, PaymentID: paymentID, Subject: subject, Body: body}
	if err := r.exec(ctx, opts, ActivityEscalate, req, nil); err != nil {
		r.logger.Error("Escalation to finance operations failed", "invoiceId", invoiceID, "error", err)
		return " (escalation failed: " + process.FailureMessage(err) + ")"
	}
	return " (escalated)"
}

// note adds an ERP note; a failure is logged because the outcome it documents
// stands regardless.
func (r *run) note(ctx workflow.Context, invoiceID, text string) {
	r.noteWith(ctx, r.cfg.Read, invoiceID, text)
}

func (r *run) noteWith(ctx workflow.Context, opts workflow.ActivityOptions, invoiceID, text string) {
	if err := r.exec(ctx, opts, ActivityRecordNote, NoteRequest{InvoiceID: invoiceID, Text: text}, nil); err != nil {
		r.logger.Error("Recording ERP note failed", "invoiceId", invoiceID, "error", err)
	}
}

func (r *run) exec(ctx workflow.Context, opts workflow.ActivityOptions, name string, arg, out any) error {
	return process.Exec(ctx, opts, name, arg, out)
}

func (r *run) failed(reason string) VendorPaymentResult { return r.end(OutcomeFailed, reason) }

func (r *run) end(outcome, reason string) VendorPaymentResult {
	return VendorPaymentResult{Outcome: outcome, Reason: reason}
}

func (r *run) finish(ctx workflow.Context, res VendorPaymentResult) {
	r.ap.Close(ctx)
	r.st.Stage, r.st.Outcome, r.st.Reason = StageDone, res.Outcome, res.Reason
	if res.PaymentID != "" {
		r.st.PaymentID = res.PaymentID
	}
	r.upsert(ctx, process.SAStage.ValueSet(StageDone), process.SAOutcome.ValueSet(res.Outcome))
	// Autonomous: nobody was asked to approve and nobody had to take over.
	process.RecordCompleted(workflow.GetMetricsHandler(ctx), ProcessName, res.Outcome, r.ap.Rounds == 0 && !r.escalated)
	process.AuditOutcome(ctx, r.audit, res.Outcome, res.Reason, r.ap.Rounds == 0 && !r.escalated)
	line := "**" + res.Outcome + "**"
	if res.Reason != "" {
		line += ": " + res.Reason
	} else if res.PaymentID != "" {
		line += ": payment `" + res.PaymentID + "` settled"
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

// minorDigits returns the ISO 4217 exponent; two unless listed.
func minorDigits(currency string) int {
	switch currency {
	case "JPY", "KRW", "ISK", "CLP", "VND", "XAF", "XOF", "UGX", "PYG":
		return 0
	case "BHD", "KWD", "OMR", "JOD", "TND", "LYD", "IQD":
		return 3
	}
	return 2
}

func majorUnits(minor int64, currency string) float64 {
	d := minorDigits(currency)
	v := float64(minor)
	for range d {
		v /= 10
	}
	return v
}

func formatMoney(minor int64, currency string) string {
	d := minorDigits(currency)
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := strconv.FormatInt(minor, 10)
	for len(s) <= d {
		s = "0" + s
	}
	out := s[:len(s)-d]
	if d > 0 {
		out += "." + s[len(s)-d:]
	}
	if neg {
		out = "-" + out
	}
	return currency + " " + out
}
