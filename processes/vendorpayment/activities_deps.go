// The activities of the VendorPayment workflow, on top of the ERP, treasury and email connectors, the org
// directory and the approval link tokens. Every external mutation carries an
// idempotency key from a stable identity: the action digest for money, the
// workflow run id and activity id otherwise. Permanent connector errors become
// non-retryable ApplicationErrors; everything else is left to the activity
// retry policy.
package vendorpayment

import (
	"context"
	"fmt"
	"github.com/execution-orchestrator/orchestrator/audit"
	"log/slog"
	"net/http"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// ERP is what the activities use of the ERP connector (*erp.Client).
type ERP interface {
	GetInvoice(ctx context.Context, id string) (erp.Invoice, error)
	GetVendor(ctx context.Context, id string) (erp.Vendor, error)
	GetScheduleEntry(ctx context.Context, invoiceID string) (erp.ScheduleEntry, error)
	MarkPaid(ctx context.Context, invoiceID, paymentReference string) (erp.Invoice, error)
	AddNote(ctx context.Context, invoiceID, idempotencyKey, text string) error
}

// Treasury is what the activities use of the treasury connector (*treasury.Client).
type Treasury interface {
	ReleasePayment(ctx context.Context, idempotencyKey string, req treasury.PaymentRequest) (treasury.Payment, error)
	GetPayment(ctx context.Context, id string) (treasury.Payment, error)
	ListPaymentsForInvoice(ctx context.Context, invoiceID string) ([]treasury.Payment, error)
	ListPayments(ctx context.Context) ([]treasury.Payment, error)
}

// Mailer is what the activities use of the email connector (*email.Client).
type Mailer interface {
	Send(ctx context.Context, m email.Message) error
	Lookup(ctx context.Context, messageID string) (email.StoredMessage, error)
}

// Directory is the org directory (*policy.Directory).
type Directory interface {
	PlanWithRoles(amountMinor int64, currency string, roles []string) (policy.Plan, error)
	Person(id string) (policy.Person, bool)
	HasRole(personID, role string) bool
}

// LinkIssuer issues one-time approval link tokens (*linktoken.Store).
type LinkIssuer interface {
	Issue(ctx context.Context, personID, workflowID, runID, actionDigest string, ttl time.Duration) (string, error)
}

// Activities holds the dependencies of the VendorPayment activities. The
// worker constructs it once; its methods are safe for concurrent use as long
// as the dependencies are.
type Activities struct {
	// ERP reads invoices, vendors and the payment schedule, marks invoices
	// paid and records notes.
	ERP ERP
	// Treasury releases payments and reports their status.
	Treasury Treasury
	// Mail sends email and confirms it was stored.
	Mail Mailer
	// Directory says who approves what and who stands in for whom.
	Directory Directory
	// Links issues the tokens carried by approval links.
	Links LinkIssuer
	// WebBaseURL is where approvers open links, e.g. "http://127.0.0.1:8080";
	// a link is <WebBaseURL>/approvals/<workflowId>?token=<token>.
	WebBaseURL string
	// From is the sender address of every email; empty means DefaultFrom.
	From string
	// FinanceOpsEmail receives escalations when a person must take over.
	FinanceOpsEmail string
	// Gate decides whether an action is admissible right now (Cedar
	// policies); nil turns the release's own gate off, which only tests of
	// other activities do.
	Gate Gate
	// Trust returns the keys approval proofs are verified against; it is
	// read per call, so rotated keys count at once.
	Trust func() (proof.Trust, error)
	// Codes checks one-time codes from authenticator apps.
	Codes CodeVerifier
	// Signer is the worker's key: it signs the assertion of a checked code.
	Signer *proof.Signer
	// Temporal describes the workflow that scheduled a gated activity, so
	// only our own workflows on our task queue are served.
	Temporal Describer
	// Audit is the ledger gate decisions are appended to; nil records none.
	Audit audit.Appender
	// Ungated lets ReleasePayment run without Gate: only tests of the
	// treasury exchange set it. Without a Gate and without it, a release
	// fails closed (NotConfigured).
	Ungated bool
	// Now is the clock (token lifetimes, the gate's context); nil means time.Now.
	Now func() time.Time
	// Logger receives activity logs; nil means slog.Default().
	Logger *slog.Logger
}

var _ VendorPaymentActivities = (*Activities)(nil)

// DefaultFrom is the sender address used when Activities.From is empty.
const DefaultFrom = "accounts-payable@orchestrator.example"

func (a *Activities) from() string {
	if a.From != "" {
		return a.From
	}
	return DefaultFrom
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Activities) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// Error types of the non-retryable ApplicationErrors the activities return.
const (
	ErrTypeInvalidArgument     = "InvalidArgument"
	ErrTypeNotFound            = "NotFound"
	ErrTypeRefused             = "Refused"
	ErrTypeIdempotencyConflict = "IdempotencyConflict"
	ErrTypeNotConfigured       = "NotConfigured"
	ErrTypePaymentFailed       = "PaymentFailed"
	ErrTypeMismatch            = "Mismatch"
	// Retryable, so the retry policy bounds the wait.
	ErrTypeNotSettled   = "NotSettled"
	ErrTypeNotDelivered = "NotDelivered"
)

// classify wraps a connector error: permanent ones (4xx, business refusals,
// invalid requests) become non-retryable, the rest stay retryable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if !httpx.IsPermanent(err) {
		return err
	}
	typ := ErrTypeRefused
	switch httpx.StatusCode(err) {
	case http.StatusNotFound:
		typ = ErrTypeNotFound
	case http.StatusConflict:
		typ = ErrTypeIdempotencyConflict
	case 0:
		typ = ErrTypeInvalidArgument
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), typ, nil)
}

func invalidArg(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrTypeInvalidArgument, nil)
}

func notConfigured(field string) error {
	return temporal.NewNonRetryableApplicationError("activities: "+field+" is not configured", ErrTypeNotConfigured, nil)
}

// opKey is a stable identity for a side effect that is not money: the
// workflow run id and activity id stay the same across retries of one
// activity, so a retried note or email is recognised as the same.
func opKey(ctx context.Context, prefix string) string {
	info := activity.GetInfo(ctx)
	return fmt.Sprintf("%s-%s-%s", prefix, info.WorkflowExecution.RunID, info.ActivityID)
}

// opMessageID is the Message-ID for an email identified by opKey and part.
func opMessageID(ctx context.Context, prefix, part string) string {
	id := opKey(ctx, prefix)
	if part != "" {
		id += "." + part
	}
	return "<" + id + "@execution-orchestrator>"
}

// isNotFound reports whether err is an HTTP 404 from any connector.
func isNotFound(err error) bool {
	return err != nil && httpx.StatusCode(err) == http.StatusNotFound
}
