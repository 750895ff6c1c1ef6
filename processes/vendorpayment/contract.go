// Package vendorpayment is the vendor-payment process: an overdue, scheduled
// invoice is paid exactly as approved, verified settled, the vendor told and
// the invoice closed. This file is its public contract: workflow types, id
// schemes, query, update and signal names and the JSON payloads. Services in
// any language rely on these names; change them only with a versioned
// migration.
package vendorpayment

import (
	"time"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/gate"
)

// ProcessName is the EOProcess value of a VendorPayment and the name the
// process is listed under (processes.All).
const ProcessName = "vendor-payment"

// Names that make up the public contract.
const (
	VendorPaymentWorkflow = "VendorPayment"
	StatusQuery           = "status"
	ApprovalUpdate        = approvals.UpdateName
	ApprovalSignal        = approvals.SignalName
	ApprovalsQuery        = approvals.QueryName
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
	// OutcomeDenied: the gate's policies forbid the payment for a reason no
	// approval lifts (payment window, target binding, ...); Reason names them.
	OutcomeDenied = "denied"
	// OutcomeCancelled is reported by the status query and the EOOutcome
	// search attribute of a cancelled run; the run itself ends Canceled.
	OutcomeCancelled = "cancelled"
)

// VendorPaymentInput starts a VendorPayment.
type VendorPaymentInput struct {
	InvoiceID   string `json:"invoiceId"`
	RequestedBy string `json:"requestedBy"`
	// RequesterProof, when given, proves who requested: a start assertion
	// (proof.KindStart) for this workflow id with requestedBy as subject,
	// signed by a person's key (orchestrator start --key) or the worker
	// (the detector's Schedule). A start with a proof that does not verify
	// fails; a start without one runs with requesterVerified false.
	RequesterProof string `json:"requesterProof,omitempty"`
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

// The approval payloads are the kernel's (package approvals): every gated
// process takes the same "approval" Update and Signal and answers the same
// "approvals" query. The aliases keep this contract readable on its own.
type (
	// ApprovalRequest is the payload of the "approval" Update and Signal.
	ApprovalRequest = approvals.Request
	// Approval is one accepted decision, as recorded by the workflow.
	Approval = approvals.Approval
	// RejectedMessage is an approval signal the workflow ignored, and why.
	RejectedMessage = approvals.RejectedMessage
	// ApprovalReceipt is what an accepted "approval" Update returns.
	ApprovalReceipt = approvals.Receipt
)

// Decisions an ApprovalRequest may carry.
const (
	DecisionApprove = approvals.DecisionApprove
	DecisionReject  = approvals.DecisionReject
)

// VendorPaymentStatus is what the "status" query returns.
type VendorPaymentStatus struct {
	Stage       string `json:"stage"`
	InvoiceID   string `json:"invoiceId"`
	RequestedBy string `json:"requestedBy,omitempty"`
	// RequesterVerified is true when the start carried a verified proof.
	RequesterVerified bool   `json:"requesterVerified,omitempty"`
	ActionDigest      string `json:"actionDigest,omitempty"`
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
	// Gate is the last decision of the policy gate before approval or release.
	Gate *gate.Decision `json:"gate,omitempty"`
	// ProofRequired is true when decisions need a proof of who made them.
	ProofRequired bool `json:"proofRequired,omitempty"`
}

// Stages a VendorPayment moves through; the "status" query and the EOStage
// search attribute report them.
const (
	StageLoading          = "loading"
	StageChecking         = "checking"
	StageAwaitingApproval = approvals.StageAwaitingApproval
	StageReleasing        = "releasing"
	StageVerifying        = "verifying"
	StageNotifying        = "notifying"
	StageRecording        = "recording"
	StageDone             = "done"
)
