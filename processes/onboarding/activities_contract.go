package onboarding

import (
	"context"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// Activity names of CustomerOnboarding. Each is the Go name of its method
// (the SDK maps Go names to registered names for every call, so a method
// named otherwise would capture another process's activity) and starts
// with Onboarding, so no name collides with another process on the worker.
const (
	ActivityLoadTrust      = "OnboardingLoadTrust"
	ActivityCreateAccount  = "OnboardingCreateAccount"
	ActivitySendWelcome    = "OnboardingSendWelcome"
	ActivityVerifyDelivery = "OnboardingVerifyDelivery"
	ActivityActivate       = "OnboardingActivate"
	ActivityVerifyActive   = "OnboardingVerifyActive"
	ActivityAddNote        = "OnboardingAddNote"
	ActivityEscalate       = "OnboardingEscalate"
)

// OnboardingActivities is what the workflow needs from its activities; the
// method names equal the activity names above. Activities implements it
// (checked at compile time), so a signature drift breaks the build.
type OnboardingActivities interface {
	OnboardingLoadTrust(ctx context.Context, _ struct{}) (proof.Trust, error)
	OnboardingCreateAccount(ctx context.Context, req CreateAccountRequest) (crm.Account, error)
	OnboardingSendWelcome(ctx context.Context, req WelcomeRequest) error
	OnboardingVerifyDelivery(ctx context.Context, req DeliveryCheck) (email.StoredMessage, error)
	OnboardingActivate(ctx context.Context, req ActivateRequest) (crm.Account, error)
	OnboardingVerifyActive(ctx context.Context, req ActivateRequest) (crm.Account, error)
	OnboardingAddNote(ctx context.Context, req NoteRequest) error
	OnboardingEscalate(ctx context.Context, req EscalationRequest) ([]string, error)
}

// CreateAccountRequest creates the customer's CRM account once per
// IdempotencyKey (AccountKey of the workflow id).
type CreateAccountRequest struct {
	IdempotencyKey string             `json:"idempotencyKey"`
	Account        crm.AccountRequest `json:"account"`
}

// WelcomeRequest emails the customer a welcome. MessageID is stable per
// workflow (WelcomeMessageID), so a resend is the same message.
type WelcomeRequest struct {
	MessageID string `json:"messageId"`
	AccountID string `json:"accountId"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	Plan      string `json:"plan"`
	Address   string `json:"address"`
}

// DeliveryCheck asks whether the mail system holds MessageID for Email.
type DeliveryCheck struct {
	MessageID string `json:"messageId"`
	Email     string `json:"email"`
}

// ActivateRequest activates (or verifies the activation of) an account
// verified by VerifiedBy, the identity check's task id.
type ActivateRequest struct {
	AccountID  string `json:"accountId"`
	VerifiedBy string `json:"verifiedBy"`
}

// NoteRequest adds a note to a CRM account once per IdempotencyKey.
type NoteRequest struct {
	AccountID      string `json:"accountId"`
	IdempotencyKey string `json:"idempotencyKey"`
	Text           string `json:"text"`
}

// EscalationRequest tells the people holding Role (the field coordinators)
// that a person must take over; when nobody holds it, operations.
type EscalationRequest struct {
	WorkflowID  string `json:"workflowId"`
	CustomerRef string `json:"customerRef"`
	AccountID   string `json:"accountId"`
	TaskID      string `json:"taskId,omitempty"`
	Role        string `json:"role"`
	Subject     string `json:"subject"`
	Body        string `json:"body"`
}

// Error types of the ApplicationErrors the activities return.
const (
	ErrTypeInvalidInput        = "InvalidInput"
	ErrTypeInvalidArgument     = "InvalidArgument"
	ErrTypeNotFound            = "NotFound"
	ErrTypeRefused             = "Refused"
	ErrTypeIdempotencyConflict = "IdempotencyConflict"
	ErrTypeNotConfigured       = "NotConfigured"
	ErrTypeMismatch            = "Mismatch"
	// ErrTypeAccountClosed: the account is closed; it cannot be activated.
	ErrTypeAccountClosed = "AccountClosed"
	// ErrTypeUndeliverable: the mail system refused the welcome email (a
	// bad address, a 5xx): the customer cannot be reached by email.
	ErrTypeUndeliverable = "Undeliverable"
	// Retryable, so the retry policy paces and bounds the wait.
	ErrTypeNotDelivered = "NotDelivered"
	ErrTypeNotActive    = "NotActive"
)

// Identity verification task defaults.
const (
	// CoordinatorRole reviews evidence needing a person and is told when
	// nobody can do the check.
	CoordinatorRole = "field-coordinator"
	// SkillIDVerification at level IDVerificationLevel is what the field
	// worker needs.
	SkillIDVerification = "id-verification"
	IDVerificationLevel = 3
	// DefaultTaskStartAfter and DefaultTaskWindow make the visit's window
	// now+1h .. now+25h.
	DefaultTaskStartAfter = time.Hour
	DefaultTaskWindow     = 24 * time.Hour
	// IDPhotoMaxDistanceM bounds how far from the address the ID photo
	// may be taken.
	IDPhotoMaxDistanceM = 100
)

// AccountKey is the CRM idempotency key of the account a workflow creates:
// one account per onboarding workflow, whatever the retries and reruns.
func AccountKey(workflowID string) string { return workflowID + ":account" }

// WelcomeMessageID is the Message-ID of the welcome email: one per
// onboarding workflow, so a retried or rerun send is the same message.
func WelcomeMessageID(workflowID string) string {
	return "<" + workflowID + ".welcome@execution-orchestrator>"
}

// TaskID is the human task id of an account's identity verification; it is
// what the account's verifiedBy records.
func TaskID(accountID string) string { return "idv-" + accountID }

// NoteKey is the CRM idempotency key of a run's timeline note: one per run.
func NoteKey(workflowID, runID string) string { return workflowID + ":" + runID + ":timeline" }

// Config tunes the CustomerOnboarding workflow. Changing it changes only
// timeouts, retry policies and the task's window, so running workflows
// replay fine under a new config.
type Config struct {
	// Read covers loading trusted keys and CRM notes.
	Read workflow.ActivityOptions
	// Write covers creating and activating the account (idempotent writes).
	Write workflow.ActivityOptions
	// Notify covers the welcome email and escalations.
	Notify workflow.ActivityOptions
	// Delivery bounds OnboardingVerifyDelivery: it fails while the mail
	// system does not hold the welcome email and is retried by this policy
	// until ScheduleToCloseTimeout; then the customer is unreachable.
	Delivery workflow.ActivityOptions
	// Activation bounds OnboardingVerifyActive the same way.
	Activation workflow.ActivityOptions
	// TaskStartAfter and TaskWindow place the in-person visit: from
	// now+TaskStartAfter for TaskWindow (0 => 1h and 24h).
	TaskStartAfter time.Duration
	TaskWindow     time.Duration
}

// DefaultConfig returns the production defaults.
func DefaultConfig() Config {
	backoff := func(initial, maxInterval time.Duration, attempts int32) *temporal.RetryPolicy {
		return &temporal.RetryPolicy{InitialInterval: initial, BackoffCoefficient: 2, MaximumInterval: maxInterval, MaximumAttempts: attempts}
	}
	return Config{
		Read: workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 10 * time.Minute,
			RetryPolicy: backoff(time.Second, 30*time.Second, 20),
		},
		Write: workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 30 * time.Minute,
			RetryPolicy: backoff(time.Second, time.Minute, 30),
		},
		Notify: workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 30 * time.Minute,
			RetryPolicy: backoff(time.Second, time.Minute, 20),
		},
		Delivery: workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 10 * time.Minute,
			RetryPolicy: backoff(time.Second, 30*time.Second, 0),
		},
		Activation: workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 5 * time.Minute,
			RetryPolicy: backoff(time.Second, 30*time.Second, 0),
		},
		TaskStartAfter: DefaultTaskStartAfter,
		TaskWindow:     DefaultTaskWindow,
	}
}

// withDefaults fills activity options without any timeout and non-positive
// durations from the defaults, so a partly filled config cannot schedule an
// activity Temporal refuses.
func (c Config) withDefaults() Config {
	def := DefaultConfig()
	for _, o := range []struct{ dst, def *workflow.ActivityOptions }{
		{&c.Read, &def.Read}, {&c.Write, &def.Write}, {&c.Notify, &def.Notify},
		{&c.Delivery, &def.Delivery}, {&c.Activation, &def.Activation},
	} {
		if o.dst.StartToCloseTimeout <= 0 && o.dst.ScheduleToCloseTimeout <= 0 {
			*o.dst = *o.def
		}
	}
	if c.TaskStartAfter <= 0 {
		c.TaskStartAfter = def.TaskStartAfter
	}
	if c.TaskWindow <= 0 {
		c.TaskWindow = def.TaskWindow
	}
	return c
}

// sameEmail compares addresses as the CRM does: without case.
func sameEmail(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}
