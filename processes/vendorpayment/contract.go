// Package workflows holds the Temporal workflows of ExecutionOrchestrator and
// their public contract: task queue, workflow types, id schemes, query, update
// and signal names and the JSON payloads. Services in any language rely on
// these names; change them only with a versioned migration.
package workflows

import (
	"time"

	"github.com/execution-orchestrator/orchestrator/action"
)

// TaskQueue is the default task queue every workflow of ours runs on.
const TaskQueue = "execution-orchestrator"

// Names that make up the public contract.
const (
	VendorPaymentWorkflow = "VendorPayment"
	StatusQuery           = "status"
	ApprovalUpdate        = "approval"
	ApprovalSignal        = "approval"
)

// VendorPaymentID is the workflow id for an invoice: one payment workflow per
// invoice, so a second start for the same invoice can never pay twice.
func VendorPaymentID(invoiceID string) string { return "vendor-payment-" + invoiceID }

// Outcomes a VendorPayment ends with.
const (
	OutcomePaid                = "paid"
	OutcomeBankDetailsMismatch = "bank_details_mismatch"
	OutcomeNotDue              = "not_due"
	OutcomeRejected            = "rejected"
	OutcomeExpired             = "expired"
	OutcomeFailed              = "failed"
	// OutcomeCancelled is reported by the status query and the EOOutcome
	// search attribute of a cancelled run; the run itself ends Canceled.
	OutcomeCancelled = "cancelled"
)

// VendorPaymentInput starts a VendorPayment.
type VendorPaymentInput struct {
	InvoiceID   string `json:"invoiceId"`
	RequestedBy string `json:"requestedBy"`
}

// VendorPaymentResult is what a VendorPayment returns. Every outcome but
// "paid" carries a Reason.
type VendorPaymentResult struct {
	Outcome      string     `json:"outcome"`
	Reason       string     `json:"reason,omitempty"`
	PaymentID    string     `json:"paymentId,omitempty"`
	ActionDigest string     `json:"actionDigest,omitempty"`
	VerifiedAt   *time.Time `json:"verifiedAt,omitempty"`
	Approvals    []Approval `json:"approvals,omitempty"`
}

// ApprovalRequest is the payload of the "approval" Update and Signal.
type ApprovalRequest struct {
	Decision     string `json:"decision"` // "approve" or "reject"
	Approver     string `json:"approver"` // person id from the org directory
	Comment      string `json:"comment,omitempty"`
	ActionDigest string `json:"actionDigest"`
}

// Decisions an ApprovalRequest may carry.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// Approval is one accepted decision, as recorded by the workflow.
type Approval struct {
	Slot         string    `json:"slot"` // role the approver filled, e.g. "finance-manager"
	Approver     string    `json:"approver"`
	OnBehalfOf   string    `json:"onBehalfOf,omitempty"` // set when a delegate or escalation target decided
	Decision     string    `json:"decision"`
	Comment      string    `json:"comment,omitempty"`
	ActionDigest string    `json:"actionDigest"`
	At           time.Time `json:"at"`
}

// VendorPaymentStatus is what the "status" query returns.
type VendorPaymentStatus struct {
	Stage        string `json:"stage"`
	InvoiceID    string `json:"invoiceId"`
	RequestedBy  string `json:"requestedBy,omitempty"`
	ActionDigest string `json:"actionDigest,omitempty"`
	// Action is exactly what will execute once admitted; approvers see it.
	Action *action.Payment `json:"action,omitempty"`
	// ApprovalReason says why a person must approve, e.g. the tier that applies.
	ApprovalReason   string     `json:"approvalReason,omitempty"`
	AmountMinor      int64      `json:"amountMinor,omitempty"`
	Currency         string     `json:"currency,omitempty"`
	PendingApprovers []string   `json:"pendingApprovers,omitempty"`
	AwaitingSince    *time.Time `json:"awaitingSince,omitempty"`
	Approvals        []Approval `json:"approvals,omitempty"`
	Outcome          string     `json:"outcome,omitempty"`
	Reason           string     `json:"reason,omitempty"`
	PaymentID        string     `json:"paymentId,omitempty"`
	// Tier is the approval tier that applies (from the org directory).
	Tier string `json:"tier,omitempty"`
	// AwaitingSlot is the role whose approval is awaited right now.
	AwaitingSlot string `json:"awaitingSlot,omitempty"`
	// Escalated is true once the current slot was escalated to managers.
	Escalated bool `json:"escalated,omitempty"`
	// RejectedMessages are approval signals that could not be decoded or
	// broke the rules, and were ignored (an invalid Update is refused to its
	// caller instead).
	RejectedMessages []RejectedMessage `json:"rejectedMessages,omitempty"`
	// ApprovalRounds counts how often approval was requested; a changed
	// action or stale approvals start a new round.
	ApprovalRounds int        `json:"approvalRounds,omitempty"`
	VerifiedAt     *time.Time `json:"verifiedAt,omitempty"`
}

// RejectedMessage is an approval signal the workflow ignored, and why.
type RejectedMessage struct {
	Approver     string    `json:"approver"`
	Decision     string    `json:"decision"`
	ActionDigest string    `json:"actionDigest,omitempty"`
	Reason       string    `json:"reason"`
	At           time.Time `json:"at"`
}

// ApprovalReceipt is what an accepted "approval" Update returns.
type ApprovalReceipt struct {
	Slot       string `json:"slot"`
	Decision   string `json:"decision"`
	OnBehalfOf string `json:"onBehalfOf,omitempty"`
	// Remaining lists the roles whose approval is still needed after this one.
	Remaining []string `json:"remaining,omitempty"`
}

// Stages a VendorPayment moves through; the "status" query and the EOStage
// search attribute report them.
const (
	StageLoading          = "loading"
	StageChecking         = "checking"
	StageAwaitingApproval = "awaiting_approval"
	StageReleasing        = "releasing"
	StageVerifying        = "verifying"
	StageNotifying        = "notifying"
	StageRecording        = "recording"
	StageDone             = "done"
)
