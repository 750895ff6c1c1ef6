package customerescalation

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// DetectorWorkflow is the type a Temporal Schedule runs periodically: it
// lists open P1 support issues in ticketing and enterprise accounts whose
// CRM health fell below a threshold, and starts (or joins) a
// CustomerEscalation for each.
const DetectorWorkflow = "EscalationDetector"

// DetectorScheduleID is the id of the Schedule that runs the detector.
const DetectorScheduleID = "customer-escalation-detector"

// DetectorRequester is the requestedBy of escalations the detector starts.
const DetectorRequester = "schedule:customer-escalation-detector"

// Activity names the detector calls.
const (
	ListP1IssuesActivity        = "EscalationListP1Issues"
	ListUnhealthyActivity       = "EscalationListUnhealthyAccounts"
	StartEscalationActivity     = "EscalationStartFromDetector"
	SupportProject              = "SUP"
	DetectorPriority            = "P1"
	DefaultHealthThreshold      = 60
	ticketRefPrefix             = "ESC-"
	healthRefPrefix             = "ESC-HEALTH-"
	detectorSummaryMaxTitleSize = 400
)

// P1Issue is an open P1 support issue the detector found.
type P1Issue struct {
	ID        string `json:"id"`
	AccountID string `json:"accountId"`
	Title     string `json:"title"`
}

// UnhealthyAccount is an account whose health is below the threshold.
type UnhealthyAccount struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Health    int    `json:"health"`
	Threshold int    `json:"threshold"`
}

// DetectorResult reports what one detector run did.
type DetectorResult struct {
	Issues    []string `json:"issues"`    // P1 support issues found
	Unhealthy []string `json:"unhealthy"` // accounts below the threshold
	Started   []string `json:"started"`   // workflow ids started or joined
	// Finished lists refs whose escalation already completed; the detector
	// does not start them again.
	Finished []string `json:"finished"`
	// Skipped lists refs that could not be started, with why; one bad
	// issue or account never stops the others.
	Skipped []SkippedEscalation `json:"skipped,omitempty"`
}

// SkippedEscalation is an escalation the detector could not start.
type SkippedEscalation struct {
	Ref    string `json:"ref"`
	Reason string `json:"reason"`
}

// StartOutcome is what StartEscalationActivity reports.
type StartOutcome struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId,omitempty"`
	// AlreadyCompleted is true when the ref's escalation finished before.
	AlreadyCompleted bool `json:"alreadyCompleted"`
}

// TicketEscalationRef is the ref of the escalation of a P1 support issue.
func TicketEscalationRef(issueID string) string { return ticketRefPrefix + issueID }

// HealthEscalationRef is the ref of the escalation of an unhealthy account.
func HealthEscalationRef(accountID string) string { return healthRefPrefix + accountID }

// EscalationDetector lists P1 issues and unhealthy accounts and starts a
// CustomerEscalation for each. A failing list does not stop the other.
func EscalationDetector(ctx workflow.Context) (DetectorResult, error) {
	var res DetectorResult
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10,
			NonRetryableErrorTypes: []string{ErrTypeInvalidInput, ErrTypeNotConfigured},
		},
	})
	var issues []P1Issue
	errIssues := workflow.ExecuteActivity(ctx, ListP1IssuesActivity).Get(ctx, &issues)
	var accounts []UnhealthyAccount
	errAccounts := workflow.ExecuteActivity(ctx, ListUnhealthyActivity).Get(ctx, &accounts)
	if errIssues != nil && errAccounts != nil {
		return res, fmt.Errorf("list P1 issues: %w; list unhealthy accounts: %v", errIssues, errAccounts)
	}
	start := func(in Input) {
		var out StartOutcome
		if err := workflow.ExecuteActivity(ctx, StartEscalationActivity, in).Get(ctx, &out); err != nil {
			workflow.GetLogger(ctx).Warn("Could not start customer escalation", "ref", in.Ref, "error", err)
			res.Skipped = append(res.Skipped, SkippedEscalation{Ref: in.Ref, Reason: err.Error()})
			return
		}
		if out.AlreadyCompleted {
			res.Finished = append(res.Finished, in.Ref)
		} else {
			res.Started = append(res.Started, out.WorkflowID)
		}
	}
	if errIssues != nil {
		res.Skipped = append(res.Skipped, SkippedEscalation{Ref: "ticketing", Reason: errIssues.Error()})
	}
	for _, is := range issues {
		res.Issues = append(res.Issues, is.ID)
		start(Input{Ref: TicketEscalationRef(is.ID), AccountID: is.AccountID, Severity: Sev1, Trigger: TriggerTicket, TicketID: is.ID,
			Summary: clipSummary("P1 support issue " + is.ID + ": " + is.Title), RequestedBy: DetectorRequester})
	}
	if errAccounts != nil {
		res.Skipped = append(res.Skipped, SkippedEscalation{Ref: "crm", Reason: errAccounts.Error()})
	}
	for _, acc := range accounts {
		res.Unhealthy = append(res.Unhealthy, acc.ID)
		name := acc.Name
		if name == "" {
			name = acc.ID
		}
		start(Input{Ref: HealthEscalationRef(acc.ID), AccountID: acc.ID, Severity: Sev2, Trigger: TriggerHealth,
			Summary:     clipSummary(fmt.Sprintf("CRM health of %s dropped to %d, below %d", name, acc.Health, acc.Threshold)),
			RequestedBy: DetectorRequester})
	}
	return res, nil
}

// clipSummary keeps a summary within validateInput's 500 bytes.
func clipSummary(s string) string {
	if len(s) <= detectorSummaryMaxTitleSize {
		return s
	}
	cut := detectorSummaryMaxTitleSize
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}
