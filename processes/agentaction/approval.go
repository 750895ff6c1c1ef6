package agentaction

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// host is what the kernel's approval wait needs from an agent action.
type host struct{ r *run }

var _ approvals.Host = host{}

func (h host) SetStage(ctx workflow.Context, stage, details string) {
	h.r.setStage(ctx, stage, details)
}

// NotifyApprovers emails the people asked; a failure is logged, not fatal:
// the inbox lists the action and the next reminder tries again.
func (h host) NotifyApprovers(ctx workflow.Context, kind string, slot approvals.Slot, people []string, expiry time.Time) {
	r := h.r
	if len(people) == 0 {
		return
	}
	req := NotifyApproversRequest{
		WorkflowID: r.st.ID, Kind: kind, Slot: slot.Role, Approvers: people, Title: r.title(),
		Justification: r.in.Justification, Reason: r.st.ApprovalReason, ActionDigest: r.st.ActionDigest, Deadline: expiry,
	}
	if err := r.exec(ctx, r.cfg.Notify, ActivityNotifyApprovers, req, nil); err != nil {
		r.logger.Error("Notifying approvers failed", "kind", kind, "approvers", people, "error", err)
	}
}

func (h host) CheckApprovers(ctx workflow.Context, kept []approvals.Approval) ([]approvals.Problem, error) {
	var out []approvals.Problem
	err := h.r.exec(ctx, h.r.cfg.Read, ActivityCheckApprovers, kept, &out)
	return out, err
}

// Ended needs no note: the agent reads the outcome from get_action.
func (h host) Ended(workflow.Context, string, string) {}

func (h host) LoadTrust(ctx workflow.Context) (proof.Trust, error) {
	var t proof.Trust
	err := h.r.exec(ctx, h.r.cfg.Read, ActivityLoadTrust, nil, &t)
	return t, err
}

func (h host) CheckCode(ctx workflow.Context, req approvals.CodeCheck) (string, error) {
	var token string
	err := h.r.exec(ctx, h.r.cfg.Read, ActivityCheckCode, req, &token)
	return token, err
}
