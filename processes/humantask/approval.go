package humantask

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// host is what the kernel's approval wait needs from a task whose evidence
// needs a coordinator's review.
type host struct{ r *run }

var _ approvals.Host = host{}

func (h host) SetStage(ctx workflow.Context, stage, details string) {
	h.r.setStage(ctx, stage, details)
}

// NotifyApprovers emails the coordinators asked to review; a failure is
// logged (the inbox lists the review anyway).
func (h host) NotifyApprovers(ctx workflow.Context, kind string, slot approvals.Slot, people []string, expiry time.Time) {
	r := h.r
	if len(people) == 0 {
		return
	}
	body := "Evidence for task " + r.in.TaskID + " (" + r.in.Title + ") needs a review before " + expiry.UTC().Format(time.RFC3339)
	if n := len(r.st.Submissions); n > 0 {
		body += ": " + reviewReason(r.st.Submissions[n-1].Verdict)
	}
	req := EscalateRequest{WorkflowID: r.wfID, Role: slot.Role, Subject: "[" + kind + "] Review evidence: " + r.in.Title, Body: body}
	if err := r.exec(ctx, r.cfg.Notify, ActivityNotifyReviewers, ReviewNotice{EscalateRequest: req, People: people}, nil); err != nil {
		r.logger.Error("Notifying reviewers failed", "people", people, "error", err)
	}
}

func (h host) CheckApprovers(ctx workflow.Context, kept []approvals.Approval) ([]approvals.Problem, error) {
	var out []approvals.Problem
	err := h.r.exec(ctx, h.r.cfg.Read, ActivityCheckReviewers, kept, &out)
	return out, err
}

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
