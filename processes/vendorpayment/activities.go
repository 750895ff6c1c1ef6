package vendorpayment

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/policy"
)

// LoadInvoice reads an invoice from the ERP.
func (a *Activities) LoadInvoice(ctx context.Context, invoiceID string) (erp.Invoice, error) {
	if strings.TrimSpace(invoiceID) == "" {
		return erp.Invoice{}, invalidArg("invoiceId: required")
	}
	if a.ERP == nil {
		return erp.Invoice{}, notConfigured("ERP")
	}
	inv, err := a.ERP.GetInvoice(ctx, invoiceID)
	if err != nil {
		return erp.Invoice{}, classify(fmt.Errorf("load invoice %s: %w", invoiceID, err))
	}
	return inv, nil
}

// LoadVendor reads a vendor master record from the ERP.
func (a *Activities) LoadVendor(ctx context.Context, vendorID string) (erp.Vendor, error) {
	if strings.TrimSpace(vendorID) == "" {
		return erp.Vendor{}, invalidArg("vendorId: required")
	}
	if a.ERP == nil {
		return erp.Vendor{}, notConfigured("ERP")
	}
	v, err := a.ERP.GetVendor(ctx, vendorID)
	if err != nil {
		return erp.Vendor{}, classify(fmt.Errorf("load vendor %s: %w", vendorID, err))
	}
	return v, nil
}

// CheckPaymentSchedule reports whether the invoice has an approved schedule
// entry for exactly its amount. "Not scheduled" is an answer, not an error.
func (a *Activities) CheckPaymentSchedule(ctx context.Context, req ScheduleCheck) (ScheduleCheckResult, error) {
	if strings.TrimSpace(req.InvoiceID) == "" {
		return ScheduleCheckResult{}, invalidArg("invoiceId: required")
	}
	if a.ERP == nil {
		return ScheduleCheckResult{}, notConfigured("ERP")
	}
	e, err := a.ERP.GetScheduleEntry(ctx, req.InvoiceID)
	switch {
	case isNotFound(err):
		return ScheduleCheckResult{Detail: "no schedule entry for invoice " + req.InvoiceID}, nil
	case err != nil:
		return ScheduleCheckResult{}, classify(fmt.Errorf("check payment schedule of %s: %w", req.InvoiceID, err))
	case e.InvoiceID != req.InvoiceID:
		return ScheduleCheckResult{Detail: fmt.Sprintf("schedule entry is for invoice %q", e.InvoiceID)}, nil
	case !e.Approved:
		return ScheduleCheckResult{Detail: "schedule entry is not approved"}, nil
	case e.AmountMinor != req.AmountMinor:
		return ScheduleCheckResult{Detail: fmt.Sprintf("scheduled amount %d differs from invoice amount %d", e.AmountMinor, req.AmountMinor)}, nil
	}
	return ScheduleCheckResult{OnSchedule: true}, nil
}

// PlanApprovals asks the org directory which approvals the payment needs. A
// refusal (unsupported currency, above every limit) is permanent.
func (a *Activities) PlanApprovals(_ context.Context, req PlanRequest) (ApprovalPlan, error) {
	if a.Directory == nil {
		return ApprovalPlan{}, notConfigured("Directory")
	}
	p, err := a.Directory.PlanWithRoles(req.AmountMinor, req.Currency, req.Roles)
	if err != nil {
		return ApprovalPlan{}, temporal.NewNonRetryableApplicationError("plan approvals: "+err.Error(), ErrTypeRefused, nil)
	}
	return p, nil
}

// NotifyApprovers emails each person a one-time approval link. The
// Message-ID is fixed per run, activity and person, and a message the mail
// system already holds is not sent again, so a retry neither duplicates the
// email nor issues a second token for it.
func (a *Activities) NotifyApprovers(ctx context.Context, req NotifyApproversRequest) (NotifyApproversResult, error) {
	switch {
	case strings.TrimSpace(req.WorkflowID) == "":
		return NotifyApproversResult{}, invalidArg("workflowId: required")
	case req.ActionDigest == "":
		return NotifyApproversResult{}, invalidArg("actionDigest: required")
	case len(req.Approvers) == 0:
		return NotifyApproversResult{}, invalidArg("approvers: at least one is required")
	case a.Directory == nil:
		return NotifyApproversResult{}, notConfigured("Directory")
	case a.Links == nil:
		return NotifyApproversResult{}, notConfigured("Links")
	case a.Mail == nil:
		return NotifyApproversResult{}, notConfigured("Mail")
	case a.WebBaseURL == "":
		return NotifyApproversResult{}, notConfigured("WebBaseURL")
	}
	ttl := req.Deadline.Sub(a.now())
	if ttl < time.Minute {
		// The token must outlive the email's trip; the workflow refuses
		// late decisions anyway.
		ttl = time.Minute
	}
	var res NotifyApproversResult
	for _, id := range req.Approvers {
		p, ok := a.Directory.Person(id)
		if !ok || p.Email == "" {
			// A directory change removed them; the others still get asked.
			a.log().WarnContext(ctx, "approver not in directory; not notified", "personId", id, "workflowId", req.WorkflowID)
			continue
		}
		msgID := opMessageID(ctx, "approval", id)
		if _, err := a.Mail.Lookup(ctx, msgID); err == nil {
			res.Notified = append(res.Notified, id)
			continue
		} else if !isNotFound(err) {
			return res, classify(fmt.Errorf("check earlier approval email to %s: %w", id, err))
		}
		token, err := a.Links.Issue(ctx, id, req.WorkflowID, activity.GetInfo(ctx).WorkflowExecution.RunID, req.ActionDigest, ttl)
		if err != nil {
			return res, fmt.Errorf("issue approval link for %s: %w", id, err)
		}
		link := strings.TrimRight(a.WebBaseURL, "/") + "/approvals/" + url.PathEscape(req.WorkflowID) + "?token=" + url.QueryEscape(token)
		msg := email.Message{
			From: a.from(), To: []string{p.Email}, MessageID: msgID,
			Subject: approvalSubject(req),
			Body:    approvalBody(p, req, link),
		}
		if err := a.Mail.Send(ctx, msg); err != nil {
			return res, classify(fmt.Errorf("email approval request to %s: %w", id, err))
		}
		res.Notified = append(res.Notified, id)
	}
	a.log().InfoContext(ctx, "approvers notified", "workflowId", req.WorkflowID, "kind", req.Kind, "notified", res.Notified)
	return res, nil
}

func approvalSubject(req NotifyApproversRequest) string {
	prefix := "Approval needed"
	switch req.Kind {
	case NotifyReminder:
		prefix = "Reminder: approval needed"
	case NotifyEscalation:
		prefix = "Escalated: approval needed"
	}
	return fmt.Sprintf("%s: pay %s to %s (invoice %s)", prefix, money(req.Action.AmountMinor, req.Action.Currency), req.Action.VendorName, req.Action.InvoiceID)
}

func approvalBody(p policy.Person, req NotifyApproversRequest, link string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\n\n", p.Name)
	switch req.Kind {
	case NotifyEscalation:
		b.WriteString("A payment approval was not decided in time and has been escalated to you.\n\n")
	case NotifyReminder:
		b.WriteString("This payment is still waiting for your decision.\n\n")
	default:
		b.WriteString("A payment needs your approval before it is released.\n\n")
	}
	fmt.Fprintf(&b, "Approval as:   %s\n", req.Slot)
	fmt.Fprintf(&b, "Why:           %s\n", req.ApprovalReason)
	fmt.Fprintf(&b, "Invoice:       %s\n", req.Action.InvoiceID)
	fmt.Fprintf(&b, "Vendor:        %s (%s)\n", req.Action.VendorName, req.Action.VendorID)
	fmt.Fprintf(&b, "Amount:        %s\n", money(req.Action.AmountMinor, req.Action.Currency))
	fmt.Fprintf(&b, "Beneficiary:   %s, IBAN %s, BIC %s\n", req.Action.Beneficiary.AccountHolder, req.Action.Beneficiary.IBAN, req.Action.Beneficiary.BIC)
	fmt.Fprintf(&b, "Action digest: %s\n", req.ActionDigest)
	fmt.Fprintf(&b, "Decide by:     %s\n\n", req.Deadline.UTC().Format(time.RFC1123))
	fmt.Fprintf(&b, "Approve or reject: %s\n\n", link)
	b.WriteString("The link works once and only for exactly this payment. If the payment changes, you will be asked again.\n")
	return b.String()
}

// CheckApprovers re-checks, right before release, that each approver may
// still approve: they hold the slot's role, or they acted for someone who
// does and still stands in for them (delegate or manager).
func (a *Activities) CheckApprovers(_ context.Context, req CheckApproversRequest) (CheckApproversResult, error) {
	if a.Directory == nil {
		return CheckApproversResult{}, notConfigured("Directory")
	}
	var res CheckApproversResult
	for _, ap := range req.Approvals {
		if reason := a.approverProblem(ap); reason != "" {
			res.Invalid = append(res.Invalid, ApproverProblem{Approver: ap.Approver, Slot: ap.Slot, Reason: reason})
		}
	}
	return res, nil
}

func (a *Activities) approverProblem(ap Approval) string {
	return approvals.ApproverProblem(a.Directory, ap)
}

// NotifyRequester emails the requester how the request ended. Agents
// ("agent:...") and ids not in the directory have no mailbox and are skipped.
func (a *Activities) NotifyRequester(ctx context.Context, req NotifyRequesterRequest) error {
	if strings.HasPrefix(req.RequestedBy, "agent:") {
		return nil
	}
	if a.Directory == nil {
		return notConfigured("Directory")
	}
	if a.Mail == nil {
		return notConfigured("Mail")
	}
	p, ok := a.Directory.Person(req.RequestedBy)
	if !ok || p.Email == "" {
		a.log().InfoContext(ctx, "requester has no email in the directory; not notified", "requestedBy", req.RequestedBy)
		return nil
	}
	msg := email.Message{
		From: a.from(), To: []string{p.Email}, MessageID: opMessageID(ctx, "requester", ""),
		Subject: fmt.Sprintf("Payment of invoice %s: %s", req.InvoiceID, req.Outcome),
		Body: fmt.Sprintf("Hello %s,\n\nyour payment request for invoice %s ended with outcome %q: %s.\n\nWorkflow: %s\n",
			p.Name, req.InvoiceID, req.Outcome, req.Reason, req.WorkflowID),
	}
	if err := a.Mail.Send(ctx, msg); err != nil {
		return classify(fmt.Errorf("email requester %s: %w", req.RequestedBy, err))
	}
	return nil
}

// ReleasePayment releases exactly the approved action, and is its own gate:
// right before the treasury call it checks that the caller is this
// invoice's VendorPayment workflow, rebuilds the action from the ERP's
// current records (so no caller can choose the account), verifies the
// approvals' proofs and asks the policies. A refusal is non-retryable.
func (a *Activities) ReleasePayment(ctx context.Context, req ReleaseRequest) (treasury.Payment, error) {
	if a.Treasury == nil {
		return treasury.Payment{}, notConfigured("Treasury")
	}
	digest, err := action.Digest(req.Action)
	if err != nil {
		return treasury.Payment{}, invalidArg("action: %v", err)
	}
	switch {
	case req.ActionDigest != digest:
		return treasury.Payment{}, invalidArg("actionDigest: %q does not match the action (%s)", req.ActionDigest, digest)
	case req.IdempotencyKey != IdempotencyKey(digest):
		return treasury.Payment{}, invalidArg("idempotencyKey: %q is not derived from the action digest", req.IdempotencyKey)
	case req.Action.AmountMinor <= 0:
		return treasury.Payment{}, invalidArg("action.amountMinor: must be positive")
	}
	var payments []treasury.Payment
	switch {
	case a.Gate != nil:
		if payments, err = a.gateRelease(ctx, req, digest); err != nil {
			return treasury.Payment{}, err
		}
	case !a.Ungated:
		// A worker without a gate fails closed rather than paying unchecked.
		return treasury.Payment{}, notConfigured("Gate")
	}
	if err := a.refuseOtherPayment(ctx, req, payments); err != nil {
		return treasury.Payment{}, err
	}
	p, err := a.Treasury.ReleasePayment(ctx, req.IdempotencyKey, treasury.PaymentRequest{
		InvoiceID: req.Action.InvoiceID, VendorID: req.Action.VendorID,
		AmountMinor: req.Action.AmountMinor, Currency: req.Action.Currency,
		Beneficiary: req.Action.Beneficiary, Reference: req.Action.Reference, ActionDigest: digest,
	})
	if treasury.IsIdempotencyConflict(err) {
		return treasury.Payment{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("treasury refused release of invoice %s: idempotency key %s was already used for a different payment (%v)",
				req.Action.InvoiceID, req.IdempotencyKey, err),
			ErrTypeIdempotencyConflict, nil)
	}
	if err != nil {
		return treasury.Payment{}, classify(fmt.Errorf("release payment of invoice %s: %w", req.Action.InvoiceID, err))
	}
	if p.AmountMinor != req.Action.AmountMinor || p.Currency != req.Action.Currency || p.Beneficiary != req.Action.Beneficiary {
		return p, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("treasury payment %s does not match the released action %s", p.ID, digest), ErrTypeMismatch, nil)
	}
	a.log().InfoContext(ctx, "payment released", "paymentId", p.ID, "invoiceId", p.InvoiceID, "actionDigest", digest)
	return p, nil
}

// gateRelease refuses a release that is not this invoice's own workflow's,
// not the ERP's current action, or not admitted by the policies now.
func (a *Activities) gateRelease(ctx context.Context, req ReleaseRequest, digest string) ([]treasury.Payment, error) {
	info := activity.GetInfo(ctx)
	started, err := a.ensureOurs(ctx, VendorPaymentID(req.Action.InvoiceID))
	if err != nil {
		return nil, err
	}
	if a.ERP == nil {
		return nil, notConfigured("ERP")
	}
	inv, err := a.LoadInvoice(ctx, req.Action.InvoiceID)
	if err != nil {
		return nil, err
	}
	vendor, err := a.LoadVendor(ctx, inv.VendorID)
	if err != nil {
		return nil, err
	}
	current, err := action.Digest(action.NewPayment(inv, vendor))
	if err != nil {
		return nil, invalidArg("action: %v", err)
	}
	if current != digest || inv.Status != erp.InvoiceOpen {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("action: the ERP's invoice %s and vendor %s now make action %s (invoice %s), not the requested %s",
				inv.ID, vendor.ID, current, inv.Status, digest),
			ErrTypeMismatch, nil)
	}
	// The business checks again, not the workflow's word for them: due,
	// open, bank details as on record, approved for exactly this amount.
	if outcome, reason := checkInvoice(req.Action.InvoiceID, inv, a.now().UTC().Truncate(24*time.Hour)); outcome != "" {
		return nil, temporal.NewNonRetryableApplicationError("invoice: "+reason, ErrTypeRefused, nil)
	}
	if diff := bankDifference(inv.BankAccount, vendor.BankAccount); diff != "" {
		return nil, temporal.NewNonRetryableApplicationError("invoice: bank details differ from the vendor record in "+diff, ErrTypeMismatch, nil)
	}
	sched, err := a.CheckPaymentSchedule(ctx, ScheduleCheck{InvoiceID: inv.ID, AmountMinor: inv.AmountMinor})
	if err != nil {
		return nil, err
	}
	if !sched.OnSchedule {
		return nil, temporal.NewNonRetryableApplicationError("invoice: not on the approved payment schedule: "+sched.Detail, ErrTypeRefused, nil)
	}
	payments, err := a.listPayments(ctx)
	if err != nil {
		return nil, err
	}
	d, err := a.admit(ctx, req.Action, digest, requester{req.RequestedBy, req.RequesterProof, started}, req.Approvals, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, req.IdempotencyKey, payments)
	if err != nil {
		return nil, err
	}
	if !d.Permit {
		return nil, temporal.NewNonRetryableApplicationError("gate denies the release: "+d.String(), ErrTypeGateDenied, nil, d)
	}
	return payments, nil
}

// refuseOtherPayment fails non-retryably when treasury already holds a live
// payment for the invoice under another idempotency key. The key only makes
// one action one payment; a later run for the same invoice whose action
// changed (the ERP data moved) has another key, and treasury would pay again.
// A payment under the same key is this action's own and is released again
// idempotently; a failed payment moved no money and does not block.
// listed is what the gate already read from treasury (all payments), or
// nil to read the invoice's.
func (a *Activities) refuseOtherPayment(ctx context.Context, req ReleaseRequest, listed []treasury.Payment) error {
	existing := listed
	if existing == nil {
		var err error
		if existing, err = a.Treasury.ListPaymentsForInvoice(ctx, req.Action.InvoiceID); err != nil {
			return classify(fmt.Errorf("list treasury payments of invoice %s: %w", req.Action.InvoiceID, err))
		}
	}
	for _, p := range existing {
		if p.InvoiceID != req.Action.InvoiceID || p.Status == treasury.StatusFailed || p.IdempotencyKey == req.IdempotencyKey {
			continue
		}
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("invoice %s already has payment %s (released under another action: %s, status %s, idempotency key %s, action digest %s); not paying again",
				req.Action.InvoiceID, p.ID, money(p.AmountMinor, p.Currency), p.Status, p.IdempotencyKey, p.ActionDigest),
			ErrTypeAlreadyPaid, nil)
	}
	return nil
}

// VerifySettlement returns the payment once treasury reports it settled.
// While it is only released the activity fails retryably, so the workflow's
// retry policy paces and bounds the wait; a failed payment is final.
func (a *Activities) VerifySettlement(ctx context.Context, paymentID string) (treasury.Payment, error) {
	if strings.TrimSpace(paymentID) == "" {
		return treasury.Payment{}, invalidArg("paymentId: required")
	}
	if a.Treasury == nil {
		return treasury.Payment{}, notConfigured("Treasury")
	}
	p, err := a.Treasury.GetPayment(ctx, paymentID)
	if err != nil {
		return treasury.Payment{}, classify(fmt.Errorf("get payment %s: %w", paymentID, err))
	}
	switch p.Status {
	case treasury.StatusSettled:
		if p.SettledAt == nil {
			return p, temporal.NewApplicationError(fmt.Sprintf("payment %s is settled but has no settledAt", paymentID), ErrTypeNotSettled)
		}
		return p, nil
	case treasury.StatusReleased:
		return p, temporal.NewApplicationError(fmt.Sprintf("payment %s is released, not yet settled", paymentID), ErrTypeNotSettled)
	case treasury.StatusFailed:
		return p, temporal.NewNonRetryableApplicationError(fmt.Sprintf("payment %s failed at treasury", paymentID), ErrTypePaymentFailed, nil)
	default:
		return p, temporal.NewNonRetryableApplicationError(fmt.Sprintf("payment %s has unknown status %q", paymentID, p.Status), ErrTypePaymentFailed, nil)
	}
}

// NotifyVendor emails the vendor's AP contact that the payment settled. The
// caller's Message-ID makes a resend the same message.
func (a *Activities) NotifyVendor(ctx context.Context, req NotifyVendorRequest) error {
	switch {
	case strings.TrimSpace(req.MessageID) == "":
		return invalidArg("messageId: required")
	case strings.TrimSpace(req.Vendor.APContact.Email) == "":
		return invalidArg("vendor.apContact.email: vendor %s has no AP contact email", req.Vendor.ID)
	case a.Mail == nil:
		return notConfigured("Mail")
	}
	p := req.Payment
	var b strings.Builder
	name := req.Vendor.APContact.Name
	if name == "" {
		name = req.Vendor.Name
	}
	fmt.Fprintf(&b, "Hello %s,\n\nwe have paid invoice %s.\n\n", name, p.InvoiceID)
	fmt.Fprintf(&b, "Amount:            %s\n", money(p.AmountMinor, p.Currency))
	fmt.Fprintf(&b, "To account:        %s, IBAN %s\n", p.Beneficiary.AccountHolder, p.Beneficiary.IBAN)
	fmt.Fprintf(&b, "Reference:         %s\n", p.Reference)
	fmt.Fprintf(&b, "Payment reference: %s\n", p.ID)
	if p.SettledAt != nil {
		fmt.Fprintf(&b, "Settled:           %s\n", p.SettledAt.UTC().Format(time.DateOnly))
	}
	b.WriteString("\nKind regards,\nAccounts Payable\n")
	msg := email.Message{
		From: a.from(), To: []string{req.Vendor.APContact.Email}, MessageID: req.MessageID,
		Subject: fmt.Sprintf("Payment of invoice %s: %s", p.InvoiceID, money(p.AmountMinor, p.Currency)),
		Body:    b.String(),
	}
	if err := a.Mail.Send(ctx, msg); err != nil {
		return classify(fmt.Errorf("email vendor %s: %w", req.Vendor.ID, err))
	}
	return nil
}

// VerifyEmailDelivered returns the stored message once the mail system holds
// it; until then it fails retryably and the retry policy bounds the wait.
func (a *Activities) VerifyEmailDelivered(ctx context.Context, messageID string) (email.StoredMessage, error) {
	if strings.TrimSpace(messageID) == "" {
		return email.StoredMessage{}, invalidArg("messageId: required")
	}
	if a.Mail == nil {
		return email.StoredMessage{}, notConfigured("Mail")
	}
	m, err := a.Mail.Lookup(ctx, messageID)
	if isNotFound(err) {
		return email.StoredMessage{}, temporal.NewApplicationError("message "+messageID+" not delivered yet", ErrTypeNotDelivered)
	}
	if err != nil {
		return email.StoredMessage{}, classify(fmt.Errorf("look up message %s: %w", messageID, err))
	}
	return m, nil
}

// MarkInvoicePaid records the payment reference on the ERP invoice and checks
// the ERP shows it. Repeating it with the same reference is harmless.
func (a *Activities) MarkInvoicePaid(ctx context.Context, req MarkPaidRequest) (erp.Invoice, error) {
	switch {
	case strings.TrimSpace(req.InvoiceID) == "":
		return erp.Invoice{}, invalidArg("invoiceId: required")
	case strings.TrimSpace(req.PaymentReference) == "":
		return erp.Invoice{}, invalidArg("paymentReference: required")
	case a.ERP == nil:
		return erp.Invoice{}, notConfigured("ERP")
	}
	inv, err := a.ERP.MarkPaid(ctx, req.InvoiceID, req.PaymentReference)
	if err != nil {
		return erp.Invoice{}, classify(fmt.Errorf("mark invoice %s paid: %w", req.InvoiceID, err))
	}
	if inv.Status != erp.InvoicePaid || inv.PaymentReference != req.PaymentReference {
		return inv, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("ERP shows invoice %s as %q with payment reference %q, want paid with %q",
				req.InvoiceID, inv.Status, inv.PaymentReference, req.PaymentReference),
			ErrTypeMismatch, nil)
	}
	return inv, nil
}

// RecordNote adds a note to an ERP invoice once per workflow run and activity.
func (a *Activities) RecordNote(ctx context.Context, req NoteRequest) error {
	switch {
	case strings.TrimSpace(req.InvoiceID) == "":
		return invalidArg("invoiceId: required")
	case strings.TrimSpace(req.Text) == "":
		return invalidArg("text: required")
	case a.ERP == nil:
		return notConfigured("ERP")
	}
	if err := a.ERP.AddNote(ctx, req.InvoiceID, opKey(ctx, "note"), req.Text); err != nil {
		return classify(fmt.Errorf("add note to invoice %s: %w", req.InvoiceID, err))
	}
	return nil
}

// EscalateToFinanceOps emails finance operations that a person must act.
func (a *Activities) EscalateToFinanceOps(ctx context.Context, req EscalationRequest) error {
	switch {
	case strings.TrimSpace(req.Subject) == "":
		return invalidArg("subject: required")
	case a.FinanceOpsEmail == "":
		return notConfigured("FinanceOpsEmail")
	case a.Mail == nil:
		return notConfigured("Mail")
	}
	body := req.Body + "\n\nWorkflow: " + req.WorkflowID + "\nInvoice: " + req.InvoiceID + "\n"
	if req.PaymentID != "" {
		body += "Payment: " + req.PaymentID + "\n"
	}
	msg := email.Message{
		From: a.from(), To: []string{a.FinanceOpsEmail}, MessageID: opMessageID(ctx, "escalation", ""),
		Subject: "[Escalation] " + req.Subject, Body: body,
	}
	if err := a.Mail.Send(ctx, msg); err != nil {
		return classify(fmt.Errorf("email finance ops: %w", err))
	}
	a.log().WarnContext(ctx, "escalated to finance operations", "workflowId", req.WorkflowID, "invoiceId", req.InvoiceID, "subject", req.Subject,
		"attempt", activity.GetInfo(ctx).Attempt)
	return nil
}

// money renders minor units as "EUR 1 234.56" using the directory's format
// (two decimals; the directory supports two-digit currencies only).
func money(minor int64, currency string) string {
	return currency + " " + policy.FormatAmount(minor)
}
