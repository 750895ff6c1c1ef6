// Package agentaction is the agent-action process: an AI agent proposes an
// action of a kind the layer knows; the gate decides whether it may run
// autonomously, people approve where policy asks, the kind's connector
// executes exactly the approved action (the gate decides again right before
// the call), a verification activity confirms the outcome, and the agent
// reads what happened and why. This file is its public contract: names,
// ids and JSON payloads that services in any language may rely on.
package agentaction

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/gate"
)

// ProcessName is the EOProcess value and the name in processes.All.
const ProcessName = "agent-action"

// Names that make up the public contract.
const (
	Workflow       = "AgentAction"
	StatusQuery    = "status"
	ApprovalUpdate = approvals.UpdateName
	ApprovalSignal = approvals.SignalName
	ApprovalsQuery = approvals.QueryName
)

// Kinds the layer knows.
const (
	KindDeploy        = "deploy.release"
	KindEmail         = "email.send"
	KindVendorPayment = "vendor_payment.release"
)

// WorkflowID is the action id of an agent's proposal: one per agent and
// idempotency key, so proposing twice with one key can never start a second
// action. The key is hashed: it is the agent's string, of any shape.
func WorkflowID(agent, idempotencyKey string) string {
	sum := sha256.Sum256([]byte(agent + "\x00" + idempotencyKey))
	return "agent-action-" + agent + "-" + hex.EncodeToString(sum[:10])
}

// Proposal is what an agent asks for (MCP propose_action, REST POST
// /v1/actions). Params depend on the kind (see Kinds).
type Proposal struct {
	Kind   string          `json:"kind"`
	Target string          `json:"target"`
	Params json.RawMessage `json:"params"`
	// Justification is shown to the approver when people are asked.
	Justification string `json:"justification"`
	// Confidence is the agent's own confidence in the action, 0 to 1;
	// policies may ask people below a threshold.
	Confidence float64 `json:"confidence"`
	// IdempotencyKey: the same key gives the same action, never a second.
	IdempotencyKey string `json:"idempotencyKey"`
}

// Input starts an AgentAction.
type Input struct {
	Proposal
	// RequestedBy is "agent:<name>".
	RequestedBy string `json:"requestedBy"`
	// RequesterProof is a start assertion (proof.KindStart) for this
	// workflow id with RequestedBy as subject, signed by the agent gateway
	// after it authenticated the agent's key. Required.
	RequesterProof string `json:"requesterProof"`
}

// Stages an AgentAction moves through (status query, EOStage).
const (
	StageLoading          = "loading"
	StageGating           = "gating"
	StageAwaitingApproval = approvals.StageAwaitingApproval
	StageExecuting        = "executing"
	StageVerifying        = "verifying"
	StageDone             = "done"
)

// Outcomes an AgentAction ends with.
const (
	// OutcomeSucceeded: executed and the verification confirmed it.
	OutcomeSucceeded = "succeeded"
	// OutcomeDenied: the gate forbids it for a reason no approval lifts.
	OutcomeDenied   = "denied"
	OutcomeRejected = approvals.OutcomeRejected
	OutcomeExpired  = approvals.OutcomeExpired
	// OutcomeUnverified: executed, but the verification did not confirm
	// the resolution (e.g. the release never became healthy); escalated.
	OutcomeUnverified = "unverified"
	// OutcomeFailed: invalid input, or a step failed; Reason says which.
	OutcomeFailed    = "failed"
	OutcomeCancelled = "cancelled"
)

// Gate checkpoints.
const (
	GateBeforeApproval = "before_approval"
	GateAtSideEffect   = "at_side_effect"
)

// GateCheck is one decision of the gate on this action.
type GateCheck struct {
	Point    string        `json:"point"` // before_approval or at_side_effect
	At       time.Time     `json:"at"`
	Decision gate.Decision `json:"decision"`
}

// Execution is what the kind's connector did.
type Execution struct {
	// Ref is the external id: a release id, a Message-ID, a payment id.
	Ref string    `json:"ref"`
	At  time.Time `json:"at"`
}

// Verification is what the verification activity saw.
type Verification struct {
	Verified bool      `json:"verified"`
	State    string    `json:"state"` // healthy, delivered, paid, ...
	Detail   string    `json:"detail,omitempty"`
	At       time.Time `json:"at"`
}

// Status is what the "status" query returns and what get_action answers.
type Status struct {
	ID                string          `json:"id"`
	RunID             string          `json:"runId,omitempty"`
	Kind              string          `json:"kind"`
	Target            string          `json:"target"`
	Params            json.RawMessage `json:"params,omitempty"`
	RequestedBy       string          `json:"requestedBy"`
	RequesterVerified bool            `json:"requesterVerified"`
	Justification     string          `json:"justification,omitempty"`
	Confidence        float64         `json:"confidence"`
	Stage             string          `json:"stage"`
	// Action is exactly what executes once admitted (the proposal resolved
	// against the target system, e.g. with the artifact's digest), and
	// ActionDigest its RFC 8785 SHA-256; approvals are for this digest.
	Action       json.RawMessage `json:"action,omitempty"`
	ActionDigest string          `json:"actionDigest,omitempty"`
	// Gate lists the gate's decisions, oldest first.
	Gate             []GateCheck                 `json:"gateDecisions,omitempty"`
	ApprovalReason   string                      `json:"approvalReason,omitempty"`
	AwaitingSlot     string                      `json:"awaitingSlot,omitempty"`
	PendingApprovers []string                    `json:"pendingApprovers,omitempty"`
	Approvals        []approvals.Approval        `json:"approvals,omitempty"`
	ApprovalRounds   int                         `json:"approvalRounds,omitempty"`
	Execution        *Execution                  `json:"execution,omitempty"`
	Verification     *Verification               `json:"verification,omitempty"`
	Outcome          string                      `json:"outcome,omitempty"`
	Reason           string                      `json:"reason,omitempty"`
	Rejected         []approvals.RejectedMessage `json:"rejectedMessages,omitempty"`
}

// Result is what an AgentAction returns: its final status.
type Result = Status

// Errors the agent-facing client returns besides *FieldError.
var (
	// ErrNotFound: no such action, or not the asking agent's (an agent
	// cannot tell another agent's action from one that does not exist).
	ErrNotFound = errors.New("no such action")
	// ErrConflict: the idempotency key was used before for a different
	// proposal; nothing was started.
	ErrConflict = errors.New("idempotency key already used for a different proposal")
)
