package process

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/gate"
)

// AuditGate appends a gate decision to the ledger from the activity that
// decided (only there are the reasons and the policy-set hash known). where
// is "plan" (before approval) or "side_effect" (right before the call).
// The event id names the activity attempt: a retried attempt decides
// again, and both decisions are facts. Outside an activity or without a
// ledger it records nothing.
func AuditGate(ctx context.Context, ledger audit.Appender, processName, where, digest string, d gate.Decision) error {
	if ledger == nil || !activity.IsActivity(ctx) {
		return nil
	}
	info := activity.GetInfo(ctx)
	data := audit.GateData{Where: where, Permit: d.Permit, PolicySetHash: d.PolicySetHash, ActionDigest: digest}
	for _, r := range d.Reasons {
		data.Reasons = append(data.Reasons, audit.GateReason{Policy: r.PolicyID, Message: r.Message, Approval: r.Approval != ""})
	}
	for _, e := range d.Errors {
		data.Reasons = append(data.Reasons, audit.GateReason{Policy: "evaluation_error", Message: e})
	}
	summary := "Gate at the side effect: " + d.String()
	if where != "side_effect" {
		summary = "Gate: " + d.String()
	}
	ev := audit.Event{
		ID:         fmt.Sprintf("%s/%s/activity-%s#%d/gate", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID, info.Attempt),
		Process:    processName,
		WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
		Kind: audit.KindGate, Actor: "system:gate", Summary: clipLine(summary, 480), At: d.At.UTC(),
	}
	if ev.At.IsZero() {
		ev.At = activity.GetInfo(ctx).StartedTime.UTC()
	}
	if err := setData(&ev, data); err != nil {
		return err
	}
	if _, err := ledger.Append(ctx, ev); err != nil {
		return fmt.Errorf("record gate decision: %w", err)
	}
	return nil
}

// AuditOutcome records how a run ended. autonomous: nobody was asked and
// nobody had to take over.
func AuditOutcome(ctx workflow.Context, rec *audit.Recorder, outcome, reason string, autonomous bool) {
	summary := "Outcome: " + outcome
	if reason != "" {
		summary += " — " + reason
	}
	rec.Record(ctx, audit.KindOutcome, "system", summary, audit.OutcomeData{Outcome: outcome, Reason: reason, Autonomous: autonomous})
}

// AuditException records that people were asked to take over; reason is
// the bounded exception reason (Exception*), to says whom.
func AuditException(ctx workflow.Context, rec *audit.Recorder, reason, subject string, to ...string) {
	summary := "Exception (" + reason + ")"
	if subject != "" {
		summary += ": " + subject
	}
	if len(to) > 0 {
		summary += " → " + strings.Join(to, ", ")
	}
	rec.Record(ctx, audit.KindException, "system", summary, audit.ExceptionData{Reason: reason, To: to})
}

// AuditVerification records what a verification activity confirmed, or
// could not.
func AuditVerification(ctx workflow.Context, rec *audit.Recorder, what string, verified bool, detail string) {
	summary := "Verified: " + what
	if !verified {
		summary = "Not verified: " + what
	}
	if detail != "" {
		summary += " — " + detail
	}
	rec.Record(ctx, audit.KindVerification, "system", summary, audit.VerificationData{What: what, Verified: verified, Detail: detail})
}

func clipLine(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func setData(ev *audit.Event, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s data: %w", ev.Kind, err)
	}
	ev.Data = raw
	return nil
}
