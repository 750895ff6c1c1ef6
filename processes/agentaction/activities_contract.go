package agentaction

import (
	"encoding/json"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/gate"
)

// Activity names of AgentAction; part of the contract (histories name them).
const (
	ActivityResolve         = "AgentResolveAction"
	ActivityEvaluateGate    = "AgentEvaluateGate"
	ActivityPlanApprovals   = "AgentPlanApprovals"
	ActivityCheckApprovers  = "AgentCheckApprovers"
	ActivityNotifyApprovers = "AgentNotifyApprovers"
	ActivityLoadTrust       = "AgentLoadTrust"
	ActivityCheckCode       = "AgentCheckApprovalCode"
	ActivityExecute         = "AgentExecute"
	ActivityVerify          = "AgentVerify"
	ActivitySignHandoff     = "AgentSignHandoff"
)

// ApplicationError types of the agent-action activities.
const (
	ErrTypeInvalidInput    = "InvalidInput"
	ErrTypeGateDenied      = "GateDenied"
	ErrTypeGateUndecidable = "GateUndecidable"
	// ErrTypeActionChanged: at the side effect the target system no longer
	// matches the action that was gated (e.g. the artifact was re-pushed).
	ErrTypeActionChanged = "ActionChanged"
	ErrTypeProofRefused  = approvals.ErrTypeProofRefused
	ErrTypeNotConfigured = approvals.ErrTypeNotConfigured
	ErrTypeNotFound      = "NotFound"
	ErrTypeRefused       = "Refused"
	// ErrTypeNotYet: the verification has not seen the resolution yet; the
	// retry policy asks again until its ScheduleToClose.
	ErrTypeNotYet = "NotYet"
	// ErrTypeUnhealthy: the release was reported unhealthy.
	ErrTypeUnhealthy = "Unhealthy"
)

// DeployAction is exactly what a deploy.release executes.
type DeployAction struct {
	Kind           string `json:"kind"`
	Target         string `json:"target"`
	Service        string `json:"service"`
	Version        string `json:"version"`
	ArtifactDigest string `json:"artifactDigest"`
	RequestedBy    string `json:"requestedBy"`
}

// EmailAction is exactly what an email.send executes.
type EmailAction struct {
	Kind        string `json:"kind"`
	To          string `json:"to"`
	Subject     string `json:"subject"`
	Body        string `json:"body"`
	RequestedBy string `json:"requestedBy"`
}

// PaymentAction is what a vendor_payment.release hands to the vendor-payment
// process, which builds and gates the payment itself.
type PaymentAction struct {
	Kind        string `json:"kind"`
	InvoiceID   string `json:"invoiceId"`
	RequestedBy string `json:"requestedBy"`
}

// ResolveRequest asks for the exact action of a proposal, read from the
// target system now.
type ResolveRequest struct {
	Kind        string          `json:"kind"`
	Target      string          `json:"target"`
	Params      json.RawMessage `json:"params,omitempty"`
	RequestedBy string          `json:"requestedBy"`
}

// GateRequest asks the gate whether the action is admissible now.
type GateRequest struct {
	Kind           string          `json:"kind"`
	Target         string          `json:"target"`
	Action         json.RawMessage `json:"action"`
	ActionDigest   string          `json:"actionDigest"`
	RequestedBy    string          `json:"requestedBy"`
	RequesterProof string          `json:"requesterProof"`
	// ProposalDigest is the digest of the proposal the run started with;
	// the gateway's start proof is bound to it (empty in runs from before).
	ProposalDigest    string               `json:"proposalDigest,omitempty"`
	ConfidencePercent int64                `json:"confidencePercent"`
	Approvals         []approvals.Approval `json:"approvals,omitempty"`
}

// PlanRequest asks who must approve for roles.
type PlanRequest struct {
	Roles  []string `json:"roles"`
	Reason string   `json:"reason"`
}

// NotifyApproversRequest asks people to decide on an action.
type NotifyApproversRequest struct {
	WorkflowID    string    `json:"workflowId"`
	Kind          string    `json:"kind"` // request, reminder, escalation
	Slot          string    `json:"slot"`
	Approvers     []string  `json:"approvers"`
	Title         string    `json:"title"`
	Justification string    `json:"justification"`
	Reason        string    `json:"reason"`
	ActionDigest  string    `json:"actionDigest"`
	Deadline      time.Time `json:"deadline"`
}

// ExecuteRequest executes an admitted action: the gate decides again first.
type ExecuteRequest struct {
	GateRequest
	// IdempotencyKey is derived from the action id and the digest: the same
	// approved action is one side effect, however often it is retried.
	IdempotencyKey string `json:"idempotencyKey"`
}

// ExecuteResult is what the side effect did, and the gate's decision.
type ExecuteResult struct {
	Ref      string        `json:"ref"`
	Decision gate.Decision `json:"decision"`
	// Recovered: an earlier attempt's side effect was found under the
	// idempotency key (its answer was lost), so this attempt neither
	// decided nor acted again; Decision is empty.
	Recovered bool `json:"recovered,omitempty"`
}

// VerifyRequest asks whether the executed action reached its resolution.
type VerifyRequest struct {
	Kind string `json:"kind"`
	Ref  string `json:"ref"`
}

// VerifyResult is the confirmed resolution.
type VerifyResult struct {
	State  string    `json:"state"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// HandoffRequest asks the worker to vouch that the agent requested the
// vendor payment it hands off to (a start proof for that workflow).
type HandoffRequest struct {
	ChildWorkflowID string `json:"childWorkflowId"`
	RequestedBy     string `json:"requestedBy"`
	RequesterProof  string `json:"requesterProof"`
	ProposalDigest  string `json:"proposalDigest,omitempty"`
}

// Config tunes AgentAction's activity options; tests shorten them.
type Config struct {
	Read    workflow.ActivityOptions
	Execute workflow.ActivityOptions
	// Verify bounds the verification: it fails NotYet until the resolution
	// is seen and is retried by this policy until ScheduleToCloseTimeout.
	Verify            workflow.ActivityOptions
	Notify            workflow.ActivityOptions
	MaxApprovalRounds int
}

// DefaultConfig returns the production defaults.
func DefaultConfig() Config {
	backoff := func(initial, maxInterval time.Duration, attempts int32) *temporal.RetryPolicy {
		return &temporal.RetryPolicy{InitialInterval: initial, BackoffCoefficient: 2, MaximumInterval: maxInterval, MaximumAttempts: attempts}
	}
	return Config{
		Read: workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 10 * time.Minute, RetryPolicy: backoff(time.Second, 30*time.Second, 20)},
		Execute: workflow.ActivityOptions{StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 30 * time.Minute, RetryPolicy: backoff(time.Second, time.Minute, 30),
			// A cancelled action must not close while its side effect is in flight.
			WaitForCancellation: true},
		Verify: workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 15 * time.Minute,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 1.5, MaximumInterval: 15 * time.Second}},
		Notify:            workflow.ActivityOptions{StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 30 * time.Minute, RetryPolicy: backoff(time.Second, time.Minute, 20)},
		MaxApprovalRounds: 3,
	}
}
