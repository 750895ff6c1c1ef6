package vendorpayment

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// approvalHost is what the kernel's approval wait needs from a vendor
// payment: its stage, its emails and ERP notes, and its directory checks.
type approvalHost struct{ r *run }

var _ approvals.Host = approvalHost{}

func (h approvalHost) SetStage(ctx workflow.Context, stage, details string) {
	h.r.setStage(ctx, stage, details)
}

// NotifyApprovers emails approval links. A failure is logged, not fatal: the
// approvers can still decide in the UI and the next reminder tries again.
func (h approvalHost) NotifyApprovers(ctx workflow.Context, kind string, slot approvals.Slot, people []string, expiry time.Time) {
	r := h.r
	if len(people) == 0 || r.st.Action == nil {
		return
	}
	req := NotifyApproversRequest{
		WorkflowID: r.wfID, Kind: kind, Slot: slot.Role, Approvers: people,
		Action: *r.st.Action, ActionDigest: r.st.ActionDigest, ApprovalReason: r.st.ApprovalReason, Deadline: expiry,
	}
	if err := r.exec(ctx, r.cfg.Notify, ActivityNotifyApprovers, req, nil); err != nil {
		r.logger.Error("Notifying approvers failed", "kind", kind, "approvers", people, "error", err)
	}
}

func (h approvalHost) CheckApprovers(ctx workflow.Context, kept []approvals.Approval) ([]approvals.Problem, error) {
	var check CheckApproversResult
	if err := h.r.exec(ctx, h.r.cfg.Read, ActivityCheckApprovers, CheckApproversRequest{Approvals: kept}, &check); err != nil {
		return nil, err
	}
	return check.Invalid, nil
}

// Ended notes on the invoice why nothing was paid and tells the requester.
func (h approvalHost) Ended(ctx workflow.Context, outcome, reason string) {
	r := h.r
	switch outcome {
	case OutcomeExpired:
		r.note(ctx, r.in.InvoiceID, "Payment request expired before release: "+reason+". Nothing was paid.")
	case OutcomeRejected:
		r.note(ctx, r.in.InvoiceID, "Payment rejected before release: "+reason+".")
	}
	r.notifyRequester(ctx, outcome, reason)
}

func (h approvalHost) LoadTrust(ctx workflow.Context) (proof.Trust, error) {
	var t proof.Trust
	err := h.r.exec(ctx, h.r.cfg.Read, ActivityLoadTrust, struct{}{}, &t)
	return t, err
}

func (h approvalHost) CheckCode(ctx workflow.Context, req approvals.CodeCheck) (string, error) {
	var token string
	// A wrong, used or unknown code fails non-retryably in the activity;
	// only transient failures are retried.
	err := h.r.exec(ctx, h.r.cfg.Read, ActivityCheckApprovalCode, req, &token)
	return token, err
}

// notifyRequester tells the requester how the request ended; agents are not
// emailed (the activity skips them) and a failure is only logged.
func (r *run) notifyRequester(ctx workflow.Context, outcome, reason string) {
	if approvals.IsAgent(r.in.RequestedBy) {
		return
	}
	req := NotifyRequesterRequest{WorkflowID: r.wfID, RequestedBy: r.in.RequestedBy, InvoiceID: r.in.InvoiceID, Outcome: outcome, Reason: reason}
	if err := r.exec(ctx, r.cfg.Notify, ActivityNotifyRequester, req, nil); err != nil {
		r.logger.Error("Notifying requester failed", "requestedBy", r.in.RequestedBy, "error", err)
	}
}
