// Package approvals is the kernel's human-approval machinery, shared by every
// gated process: the plan (slots and their candidates), who is awaited, the
// reminders, escalation, delegation and expiry of the wait, and the one rule
// set behind the "approval" Update (with its validator) and the "approval"
// Signal. A decision counts only with a proof of who made it (package proof):
// the identity typed into a payload is a claim, never accepted on its own.
// It knows no process; a process supplies a Host for the few things that
// depend on it (notifications, notes, checks against its directory).
package approvals

import (
	"time"

	"github.com/execution-orchestrator/orchestrator/policy"
)

// Names of the approval handlers and the query every gated workflow answers.
// They are part of the public contract of each process.
const (
	UpdateName = "approval"
	SignalName = "approval"
	QueryName  = "approvals"
)

// Decisions a Request may carry.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// StageAwaitingApproval is the stage of a workflow waiting for people.
const StageAwaitingApproval = "awaiting_approval"

// Kinds of approver notification.
const (
	NotifyRequest    = "request"
	NotifyReminder   = "reminder"
	NotifyEscalation = "escalation"
)

// Outcomes a wait for approvals can end with (besides being approved).
const (
	OutcomeRejected = "rejected"
	OutcomeExpired  = "expired"
	OutcomeFailed   = "failed"
)

// Caps on what one approval message may carry. A Signal is recorded in
// history before the workflow sees it; these keep what the workflow keeps
// (status, rejected messages) small.
const (
	MaxApproverLen = 128
	MaxCommentLen  = 2000
	MaxDigestLen   = 80
	MaxProofLen    = 4096
)

// Request is the payload of the "approval" Update and Signal.
type Request struct {
	Decision     string `json:"decision"` // "approve" or "reject"
	Approver     string `json:"approver"` // person id from the org directory
	Comment      string `json:"comment,omitempty"`
	ActionDigest string `json:"actionDigest"`
	// Proof shows that Approver made this decision: an assertion signed by
	// the web app after sign-in, by the person's own key (CLI), or a
	// six-digit one-time code from the person's authenticator app, which a
	// worker activity checks. Required for executions under proven approvals.
	Proof string `json:"proof,omitempty"`
}

// Proof is how an accepted decision was proven: the verified assertion, kept
// so that the side effect can verify it again.
type Proof struct {
	Method string `json:"method"` // oidc, link, key, totp
	KeyID  string `json:"kid"`
	Nonce  string `json:"nonce"`
	Token  string `json:"token"`
}

// Approval is one accepted decision, as recorded by the workflow.
type Approval struct {
	Slot         string `json:"slot"` // role the approver filled, e.g. "finance-manager"
	Approver     string `json:"approver"`
	OnBehalfOf   string `json:"onBehalfOf,omitempty"` // set when a delegate or escalation target decided
	Decision     string `json:"decision"`
	Comment      string `json:"comment,omitempty"`
	ActionDigest string `json:"actionDigest"`
	// Target is what the approved action acts on (payee, environment, ...);
	// the gate's target.binding rule refuses it anywhere else.
	Target string    `json:"target,omitempty"`
	At     time.Time `json:"at"`
	Proof  *Proof    `json:"proof,omitempty"`
}

// RejectedMessage is an approval signal the workflow ignored, and why.
type RejectedMessage struct {
	Approver     string    `json:"approver"`
	Decision     string    `json:"decision"`
	ActionDigest string    `json:"actionDigest,omitempty"`
	Reason       string    `json:"reason"`
	At           time.Time `json:"at"`
}

// Receipt is what an accepted "approval" Update returns.
type Receipt struct {
	Slot       string `json:"slot"`
	Decision   string `json:"decision"`
	OnBehalfOf string `json:"onBehalfOf,omitempty"`
	// Remaining lists the roles whose approval is still needed after this one.
	Remaining []string `json:"remaining,omitempty"`
}

// The plan travels in activity results as the org directory's JSON-tagged
// types; their JSON is part of recorded histories.
type (
	// Plan is the approvals an action needs.
	Plan = policy.Plan
	// Slot is one approval a person holding Role must give.
	Slot = policy.Slot
	// Candidate may fill a slot. Delegate is set when the person is absent;
	// Manager is the escalation target.
	Candidate = policy.Candidate
)

// Problem says why an approval no longer counts.
type Problem struct {
	Approver string `json:"approver"`
	Slot     string `json:"slot"`
	Reason   string `json:"reason"`
}

// Status is the answer to the "approvals" query: the same shape for every
// gated process, so the web inbox and the CLI need to know no process.
type Status struct {
	Process    string `json:"process"`
	WorkflowID string `json:"workflowId"`
	// RunID is the run a proof must be made for.
	RunID       string `json:"runId"`
	BusinessKey string `json:"businessKey"`
	Stage       string `json:"stage"`
	// Title is one line saying what will execute, e.g. "Pay EUR 9 800.00 to Initech (invoice INV-1044)".
	Title       string `json:"title"`
	RequestedBy string `json:"requestedBy,omitempty"`
	// RequesterVerified is true when the start carried a verified proof of
	// who requested it (see docs/approvals.md).
	RequesterVerified bool   `json:"requesterVerified"`
	Kind              string `json:"kind,omitempty"`
	Target            string `json:"target,omitempty"`
	// Action is exactly what will execute once admitted; approvers see it.
	Action         any    `json:"action,omitempty"`
	ActionDigest   string `json:"actionDigest,omitempty"`
	AmountMinor    int64  `json:"amountMinor,omitempty"`
	Currency       string `json:"currency,omitempty"`
	ApprovalReason string `json:"approvalReason,omitempty"`
	// Justification is the requester's own reason, e.g. what an AI agent
	// said when it proposed the action; shown to approvers as a claim.
	Justification    string            `json:"justification,omitempty"`
	Tier             string            `json:"tier,omitempty"`
	AwaitingSlot     string            `json:"awaitingSlot,omitempty"`
	PendingApprovers []string          `json:"pendingApprovers,omitempty"`
	AwaitingSince    *time.Time        `json:"awaitingSince,omitempty"`
	Escalated        bool              `json:"escalated,omitempty"`
	Approvals        []Approval        `json:"approvals,omitempty"`
	RejectedMessages []RejectedMessage `json:"rejectedMessages,omitempty"`
	Outcome          string            `json:"outcome,omitempty"`
	Reason           string            `json:"reason,omitempty"`
	// ProofRequired is true when decisions need a proof (see Request.Proof).
	ProofRequired bool `json:"proofRequired"`
}
