package vendorpayment

import (
	"context"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// Activity names of VendorPayment. They appear in the Temporal UI and in
// histories, so they are part of the contract: worker.Register registers the
// activities under exactly these names.
const (
	ActivityLoadInvoice          = "LoadInvoice"
	ActivityLoadVendor           = "LoadVendor"
	ActivityCheckPaymentSchedule = "CheckPaymentSchedule"
	ActivityPlanApprovals        = "PlanApprovals"
	ActivityNotifyApprovers      = "NotifyApprovers"
	ActivityCheckApprovers       = "CheckApprovers"
	ActivityNotifyRequester      = "NotifyRequester"
	ActivityReleasePayment       = "ReleasePayment"
	ActivityVerifySettlement     = "VerifySettlement"
	ActivityNotifyVendor         = "NotifyVendor"
	ActivityVerifyEmailDelivered = "VerifyEmailDelivered"
	ActivityMarkInvoicePaid      = "MarkInvoicePaid"
	ActivityRecordNote           = "RecordNote"
	ActivityEscalate             = "EscalateToFinanceOps"
	ActivityEvaluateGate         = "EvaluateGate"
	ActivityLoadTrust            = "LoadTrust"
	ActivityCheckApprovalCode    = "CheckApprovalCode"
)

// VendorPaymentActivities is what the VendorPayment workflow needs from its
// activities; the method names equal the activity names above. It is declared
// here, where it is used, and Activities implements it (checked at
// compile time there), so a signature drift breaks the build, not a run.
type VendorPaymentActivities interface {
	LoadInvoice(ctx context.Context, invoiceID string) (erp.Invoice, error)
	LoadVendor(ctx context.Context, vendorID string) (erp.Vendor, error)
	CheckPaymentSchedule(ctx context.Context, req ScheduleCheck) (ScheduleCheckResult, error)
	PlanApprovals(ctx context.Context, req PlanRequest) (ApprovalPlan, error)
	NotifyApprovers(ctx context.Context, req NotifyApproversRequest) (NotifyApproversResult, error)
	CheckApprovers(ctx context.Context, req CheckApproversRequest) (CheckApproversResult, error)
	NotifyRequester(ctx context.Context, req NotifyRequesterRequest) error
	ReleasePayment(ctx context.Context, req ReleaseRequest) (treasury.Payment, error)
	VerifySettlement(ctx context.Context, paymentID string) (treasury.Payment, error)
	NotifyVendor(ctx context.Context, req NotifyVendorRequest) error
	VerifyEmailDelivered(ctx context.Context, messageID string) (email.StoredMessage, error)
	MarkInvoicePaid(ctx context.Context, req MarkPaidRequest) (erp.Invoice, error)
	RecordNote(ctx context.Context, req NoteRequest) error
	EscalateToFinanceOps(ctx context.Context, req EscalationRequest) error
	EvaluateGate(ctx context.Context, req GateRequest) (gate.Decision, error)
	LoadTrust(ctx context.Context, _ struct{}) (proof.Trust, error)
	CheckApprovalCode(ctx context.Context, req approvals.CodeCheck) (string, error)
}

// GateRequest asks the gate whether Action is admissible now with the
// approvals so far (the same evaluation ReleasePayment makes at the side
// effect, made earlier to learn whether people are needed).
type GateRequest struct {
	Action       action.Payment `json:"action"`
	ActionDigest string         `json:"actionDigest"`
	RequestedBy  string         `json:"requestedBy"`
	// RequesterProof is the start's proof of who requested, if any.
	RequesterProof string     `json:"requesterProof,omitempty"`
	Approvals      []Approval `json:"approvals,omitempty"`
}

// ScheduleCheck asks whether an invoice is on the approved payment schedule
// for exactly this amount.
type ScheduleCheck struct {
	InvoiceID   string `json:"invoiceId"`
	AmountMinor int64  `json:"amountMinor"`
}

// ScheduleCheckResult answers a ScheduleCheck. Detail says why not, for the
// ERP note and the logs.
type ScheduleCheckResult struct {
	OnSchedule bool   `json:"onSchedule"`
	Detail     string `json:"detail,omitempty"`
}

// PlanRequest asks the org directory which approvals a payment needs.
type PlanRequest struct {
	AmountMinor int64  `json:"amountMinor"`
	Currency    string `json:"currency"`
	// Roles the gate asks for: the plan is the lowest tier at or above the
	// amount's whose approvers include them.
	Roles []string `json:"roles,omitempty"`
}

// The approval plan travels in PlanApprovals' result as the org directory's
// own JSON-tagged types: one declaration, so the activity returns the plan as
// is. Their JSON is part of recorded histories; tests/replay guards it.
type (
	// ApprovalPlan is the approvals a payment needs.
	ApprovalPlan = policy.Plan
	// ApprovalSlot is one approval a person holding Role must give.
	ApprovalSlot = policy.Slot
	// ApprovalCandidate may fill a slot. Delegate is set when the person is
	// absent; Manager is the escalation target.
	ApprovalCandidate = policy.Candidate
)

// Kinds of approver notification (the kernel's).
const (
	NotifyRequest    = approvals.NotifyRequest
	NotifyReminder   = approvals.NotifyReminder
	NotifyEscalation = approvals.NotifyEscalation
)

// NotifyApproversRequest asks people (org directory ids) to decide on Action.
type NotifyApproversRequest struct {
	WorkflowID     string         `json:"workflowId"`
	Kind           string         `json:"kind"`
	Slot           string         `json:"slot"`
	Approvers      []string       `json:"approvers"`
	Action         action.Payment `json:"action"`
	ActionDigest   string         `json:"actionDigest"`
	ApprovalReason string         `json:"approvalReason"`
	// Deadline is when the request expires; link tokens live until then.
	Deadline time.Time `json:"deadline"`
}

// NotifyApproversResult lists who was emailed.
type NotifyApproversResult struct {
	Notified []string `json:"notified"`
}

// CheckApproversRequest asks whether the approvers still may approve.
type CheckApproversRequest struct {
	Approvals []Approval `json:"approvals"`
}

// CheckApproversResult lists approvals that no longer count.
type CheckApproversResult struct {
	Invalid []ApproverProblem `json:"invalid,omitempty"`
}

// ApproverProblem says why an approval no longer counts.
type ApproverProblem = approvals.Problem

// NotifyRequesterRequest tells the requester how their request ended.
type NotifyRequesterRequest struct {
	WorkflowID  string `json:"workflowId"`
	RequestedBy string `json:"requestedBy"`
	InvoiceID   string `json:"invoiceId"`
	Outcome     string `json:"outcome"`
	Reason      string `json:"reason"`
}

// ErrTypeAlreadyPaid is the ApplicationError type with which ReleasePayment
// refuses an invoice that treasury already paid under another action.
const ErrTypeAlreadyPaid = "AlreadyPaid"

// ReleaseRequest releases exactly Action. IdempotencyKey is derived from
// ActionDigest, so a retried or repeated release of the same action is one
// payment.
type ReleaseRequest struct {
	IdempotencyKey string         `json:"idempotencyKey"`
	Action         action.Payment `json:"action"`
	ActionDigest   string         `json:"actionDigest"`
	// RequestedBy and Approvals (with their proofs) are what the activity's
	// own gate verifies; executions before proven approvals send neither.
	RequestedBy    string     `json:"requestedBy,omitempty"`
	RequesterProof string     `json:"requesterProof,omitempty"`
	Approvals      []Approval `json:"approvals,omitempty"`
}

// NotifyVendorRequest emails the vendor's AP contact about a settled payment.
type NotifyVendorRequest struct {
	// MessageID is derived from the workflow id and action digest, so a
	// retried send is recognisably the same message.
	MessageID string           `json:"messageId"`
	Vendor    erp.Vendor       `json:"vendor"`
	Payment   treasury.Payment `json:"payment"`
}

// MarkPaidRequest marks an ERP invoice paid.
type MarkPaidRequest struct {
	InvoiceID        string `json:"invoiceId"`
	PaymentReference string `json:"paymentReference"`
}

// NoteRequest adds a note to an ERP invoice. The activity derives the
// idempotency key from the workflow run id and activity id.
type NoteRequest struct {
	InvoiceID string `json:"invoiceId"`
	Text      string `json:"text"`
}

// EscalationRequest tells finance operations that a person must act.
type EscalationRequest struct {
	WorkflowID string `json:"workflowId"`
	InvoiceID  string `json:"invoiceId"`
	PaymentID  string `json:"paymentId,omitempty"`
	Subject    string `json:"subject"`
	Body       string `json:"body"`
}

// VendorPaymentConfig tunes the VendorPayment workflow. Changing it changes
// which commands the workflow issues only in timeouts and retry policies, so
// running workflows replay fine under a new config.
type VendorPaymentConfig struct {
	// Read covers ERP, treasury and directory reads, ERP notes and CheckApprovers.
	Read workflow.ActivityOptions
	// Release covers ReleasePayment and MarkInvoicePaid (idempotent writes).
	Release workflow.ActivityOptions
	// Settlement bounds VerifySettlement: it fails while the payment is only
	// released and is retried by this policy until ScheduleToCloseTimeout.
	Settlement workflow.ActivityOptions
	// Notify covers emails (vendor, approvers, requester, finance ops).
	Notify workflow.ActivityOptions
	// Delivery bounds VerifyEmailDelivered like Settlement bounds settlement.
	Delivery workflow.ActivityOptions
	// MaxApprovalRounds caps how often approval is re-requested because the
	// action changed or approvals went stale; then the workflow fails.
	MaxApprovalRounds int
}

// DefaultVendorPaymentConfig returns the production defaults.
func DefaultVendorPaymentConfig() VendorPaymentConfig {
	backoff := func(initial, maxInterval time.Duration, attempts int32) *temporal.RetryPolicy {
		return &temporal.RetryPolicy{
			InitialInterval:    initial,
			BackoffCoefficient: 2,
			MaximumInterval:    maxInterval,
			MaximumAttempts:    attempts,
		}
	}
	return VendorPaymentConfig{
		Read: workflow.ActivityOptions{
			StartToCloseTimeout:    30 * time.Second,
			ScheduleToCloseTimeout: 10 * time.Minute,
			RetryPolicy:            backoff(time.Second, 30*time.Second, 20),
		},
		Release: workflow.ActivityOptions{
			StartToCloseTimeout:    time.Minute,
			ScheduleToCloseTimeout: 30 * time.Minute,
			RetryPolicy:            backoff(time.Second, time.Minute, 30),
			// A cancelled run must not close while a release is still in
			// flight, or a new run's double-payment check could miss it.
			WaitForCancellation: true,
		},
		Settlement: workflow.ActivityOptions{
			StartToCloseTimeout:    30 * time.Second,
			ScheduleToCloseTimeout: 30 * time.Minute,
			RetryPolicy:            backoff(time.Second, 30*time.Second, 0),
		},
		Notify: workflow.ActivityOptions{
			StartToCloseTimeout:    time.Minute,
			ScheduleToCloseTimeout: 30 * time.Minute,
			RetryPolicy:            backoff(time.Second, time.Minute, 20),
		},
		Delivery: workflow.ActivityOptions{
			StartToCloseTimeout:    30 * time.Second,
			ScheduleToCloseTimeout: 10 * time.Minute,
			RetryPolicy:            backoff(time.Second, 30*time.Second, 0),
		},
		MaxApprovalRounds: 3,
	}
}
