package humantask

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// Activity names of HumanTask; the Go method of each has the same name (the
// SDK maps Go names to registered names for every call).
const (
	ActivityRoute           = "TaskRoute"
	ActivityNotifyWorker    = "TaskNotifyWorker"
	ActivityAdjustLoad      = "TaskAdjustLoad"
	ActivityCheckEvidence   = "TaskCheckEvidence"
	ActivityEscalate        = "TaskEscalate"
	ActivityPlanReview      = "TaskPlanReview"
	ActivityNotifyReviewers = "TaskNotifyReviewers"
	ActivityCheckReviewers  = "TaskCheckReviewers"
	ActivityLoadTrust       = "TaskLoadTrust"
	ActivityCheckCode       = "TaskCheckApprovalCode"
)

// ApplicationError types of the human-task activities.
const (
	ErrTypeInvalidInput  = "InvalidInput"
	ErrTypeNotConfigured = "NotConfigured"
	ErrTypeNotOurs       = "NotOurs"
)

// Kinds of worker notification.
const (
	NotifyOffer      = "offer"
	NotifyReminder   = "reminder"
	NotifyResubmit   = "resubmit"
	NotifyWithdrawn  = "withdrawn"
	NotifyAssignment = "assigned"
)

// NotifyWorkerRequest tells a worker about their task.
type NotifyWorkerRequest struct {
	WorkflowID string    `json:"workflowId"`
	WorkerID   string    `json:"workerId"`
	Kind       string    `json:"kind"`
	Step       string    `json:"step"`
	Title      string    `json:"title"`
	Address    string    `json:"address"`
	Deadline   time.Time `json:"deadline"`
	Detail     string    `json:"detail,omitempty"`
}

// LoadRequest changes a worker's load once per OpKey.
type LoadRequest struct {
	WorkerID string `json:"workerId"`
	OpKey    string `json:"opKey"`
	Delta    int    `json:"delta"`
}

// CheckRequest asks for the verdict on a submission.
type CheckRequest struct {
	Spec       evidence.Spec       `json:"spec"`
	Submission evidence.Submission `json:"submission"`
	Place      evidence.GeoPoint   `json:"place"`
	Start      time.Time           `json:"start"`
	End        time.Time           `json:"end"`
}

// EscalateRequest tells the coordinators.
type EscalateRequest struct {
	WorkflowID string `json:"workflowId"`
	Role       string `json:"role"`
	Subject    string `json:"subject"`
	Body       string `json:"body"`
}

// ReviewNotice asks People (reviewers) to look at evidence.
type ReviewNotice struct {
	EscalateRequest
	People []string `json:"people"`
}

// ReviewPlanRequest asks who reviews evidence for role.
type ReviewPlanRequest struct {
	Role   string `json:"role"`
	Reason string `json:"reason"`
}

// RouteRequest asks who may be offered the task.
type RouteRequest = workforce.Requirement

// Config tunes HumanTask's activity options; tests shorten them.
type Config struct {
	Read   workflow.ActivityOptions
	Notify workflow.ActivityOptions
}

// DefaultConfig returns the production defaults.
func DefaultConfig() Config {
	return Config{
		Read: workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 10 * time.Minute,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 20}},
		Notify: workflow.ActivityOptions{StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 30 * time.Minute,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 20}},
	}
}
