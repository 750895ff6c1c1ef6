// The activities of the CustomerOnboarding workflow, on top of the CRM and
// email connectors and the org directory. Every external mutation carries an
// idempotency key from a stable identity (the workflow id and the step), and
// every step is read back before the workflow moves on. Permanent connector
// errors become non-retryable ApplicationErrors; everything else is left to
// the activity retry policy.
package onboarding

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// CRM is what the activities use of the CRM connector (*crm.Client).
type CRM interface {
	CreateAccount(ctx context.Context, idempotencyKey string, req crm.AccountRequest) (crm.Account, error)
	GetAccount(ctx context.Context, id string) (crm.Account, error)
	Activate(ctx context.Context, id, verifiedBy string) (crm.Account, error)
	AddNote(ctx context.Context, id, idempotencyKey, text string) (crm.Account, error)
}

// Mailer is what the activities use of the email connector (*email.Client).
type Mailer interface {
	Send(ctx context.Context, m email.Message) error
	Lookup(ctx context.Context, messageID string) (email.StoredMessage, error)
}

// Directory lists the people escalations go to (*policy.Directory).
type Directory interface {
	People() []policy.Person
	HasRole(personID, role string) bool
}

// Activities holds the dependencies of the CustomerOnboarding activities.
// The worker constructs it once; its methods are safe for concurrent use as
// long as the dependencies are.
type Activities struct {
	// Temporal describes the calling workflow: side effects serve only this
	// process's own runs on our task queue (process.EnsureCaller). The
	// worker always sets it; unit tests that call activities directly
	// leave it nil, which skips the check.
	Temporal  process.Describer
	CRM       CRM
	Mail      Mailer
	Directory Directory
	// Trust returns the keys a requester's proof is verified against.
	Trust func() (proof.Trust, error)
	// OpsEmail receives escalations when nobody holds the role asked for
	// (process.Deps.FinanceOpsEmail).
	OpsEmail string
	// From is the sender of every email; empty means DefaultFrom.
	From   string
	Logger *slog.Logger
}

var _ OnboardingActivities = (*Activities)(nil)

// ensureOurs refuses a caller that is not this process's own run.
func (a *Activities) ensureOurs(ctx context.Context) error {
	if a.Temporal == nil {
		return nil
	}
	_, err := process.EnsureCaller(ctx, a.Temporal, Workflow, activity.GetInfo(ctx).WorkflowExecution.ID)
	return err
}

// DefaultFrom is the sender address used when Activities.From is empty.
const DefaultFrom = "onboarding@orchestrator.example"

func (a *Activities) from() string {
	if a.From != "" {
		return a.From
	}
	return DefaultFrom
}

func (a *Activities) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// OnboardingLoadTrust returns the keys requester proofs are verified
// against, read now (an activity, so the workflow replays).
func (a *Activities) OnboardingLoadTrust(_ context.Context, _ struct{}) (proof.Trust, error) {
	if a.Trust == nil {
		return proof.Trust{}, notConfigured("Trust")
	}
	t, err := a.Trust()
	if err != nil {
		return proof.Trust{}, fmt.Errorf("load trusted keys: %w", err)
	}
	return t, nil
}

// OnboardingCreateAccount creates the pending account once per key and
// reads it back: it returns the account only when the CRM holds exactly what
// was asked for. An account that was closed since is refused for good.
func (a *Activities) OnboardingCreateAccount(ctx context.Context, req CreateAccountRequest) (crm.Account, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return crm.Account{}, err
	}
	switch {
	case strings.TrimSpace(req.IdempotencyKey) == "":
		return crm.Account{}, invalidArg("idempotencyKey: required")
	case a.CRM == nil:
		return crm.Account{}, notConfigured("CRM")
	}
	created, err := a.CRM.CreateAccount(ctx, req.IdempotencyKey, req.Account)
	if err != nil {
		return crm.Account{}, classify(fmt.Errorf("create account: %w", err))
	}
	acc, err := a.CRM.GetAccount(ctx, created.ID)
	if err != nil {
		// Just created, so a 404 is the CRM lagging, not a refusal.
		return crm.Account{}, fmt.Errorf("read back account %s: %w", created.ID, err)
	}
	r := req.Account
	if acc.IdempotencyKey != req.IdempotencyKey || acc.Name != r.Name || !sameEmail(acc.Email, r.Email) || acc.Phone != r.Phone ||
		acc.Address != r.Address || acc.Lat != r.Lat || acc.Lon != r.Lon || acc.Plan != r.Plan {
		return acc, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("CRM account %s does not hold the requested customer data (key %q)", acc.ID, acc.IdempotencyKey), ErrTypeMismatch, nil)
	}
	if acc.Status == crm.StatusClosed {
		return acc, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("CRM account %s is closed (%s)", acc.ID, acc.ClosedReason), ErrTypeAccountClosed, nil)
	}
	a.log().InfoContext(ctx, "account created", "accountId", acc.ID, "status", acc.Status)
	return acc, nil
}

// OnboardingSendWelcome emails the customer a welcome under the caller's
// Message-ID; a message the mail system already holds is not sent again. A
// refusal (bad address, SMTP 5xx) is ErrTypeUndeliverable.
func (a *Activities) OnboardingSendWelcome(ctx context.Context, req WelcomeRequest) error {
	if err := a.ensureOurs(ctx); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(req.MessageID) == "":
		return invalidArg("messageId: required")
	case strings.TrimSpace(req.Email) == "":
		return invalidArg("email: required")
	case a.Mail == nil:
		return notConfigured("Mail")
	}
	if _, err := a.Mail.Lookup(ctx, req.MessageID); err == nil {
		return nil
	} else if !isNotFound(err) {
		return classify(fmt.Errorf("check earlier welcome email %s: %w", req.MessageID, err))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\n\nwelcome! Your %s account %s has been created.\n\n", req.Name, req.Plan, req.AccountID)
	b.WriteString("Before we can activate it, a member of our field team will visit you to verify your identity in person:\n")
	fmt.Fprintf(&b, "  %s\n\n", req.Address)
	b.WriteString("Please have an official photo ID ready. We will contact you to agree on a time within the next day.\n\n")
	b.WriteString("Kind regards,\nCustomer Onboarding\n")
	msg := email.Message{
		From: a.from(), To: []string{req.Email}, MessageID: req.MessageID,
		Subject: "Welcome: your account " + req.AccountID + " is almost ready",
		Body:    b.String(),
	}
	if err := a.Mail.Send(ctx, msg); err != nil {
		if email.IsPermanent(err) {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("welcome email to %s refused: %v", req.Email, err), ErrTypeUndeliverable, nil)
		}
		return fmt.Errorf("email welcome to %s: %w", req.Email, err)
	}
	a.log().InfoContext(ctx, "welcome email sent", "accountId", req.AccountID, "messageId", req.MessageID)
	return nil
}

// OnboardingVerifyDelivery returns the stored welcome email once the mail
// system holds it for the customer's address; until then it fails
// retryably ("not yet") and the retry policy bounds the wait.
func (a *Activities) OnboardingVerifyDelivery(ctx context.Context, req DeliveryCheck) (email.StoredMessage, error) {
	switch {
	case strings.TrimSpace(req.MessageID) == "":
		return email.StoredMessage{}, invalidArg("messageId: required")
	case a.Mail == nil:
		return email.StoredMessage{}, notConfigured("Mail")
	}
	m, err := a.Mail.Lookup(ctx, req.MessageID)
	if isNotFound(err) {
		return email.StoredMessage{}, temporal.NewApplicationError("message "+req.MessageID+" not delivered yet", ErrTypeNotDelivered)
	}
	if err != nil {
		return email.StoredMessage{}, classify(fmt.Errorf("look up message %s: %w", req.MessageID, err))
	}
	if req.Email != "" && !containsEmail(m.To, req.Email) {
		return m, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("message %s was delivered to %s, not to %s", req.MessageID, strings.Join(m.To, ", "), req.Email), ErrTypeMismatch, nil)
	}
	return m, nil
}

func containsEmail(list []string, addr string) bool {
	for _, v := range list {
		if sameEmail(v, addr) {
			return true
		}
	}
	return false
}

// OnboardingActivate activates the account, recording the identity check's
// task id as verifiedBy. Activating an active account is harmless; a closed
// account is refused for good (ErrTypeAccountClosed).
func (a *Activities) OnboardingActivate(ctx context.Context, req ActivateRequest) (crm.Account, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return crm.Account{}, err
	}
	if err := req.validate(); err != nil {
		return crm.Account{}, err
	}
	if a.CRM == nil {
		return crm.Account{}, notConfigured("CRM")
	}
	acc, err := a.CRM.Activate(ctx, req.AccountID, req.VerifiedBy)
	if crm.IsConflict(err) {
		return crm.Account{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("CRM refuses to activate account %s: %v", req.AccountID, err), ErrTypeAccountClosed, nil)
	}
	if err != nil {
		return crm.Account{}, classify(fmt.Errorf("activate account %s: %w", req.AccountID, err))
	}
	a.log().InfoContext(ctx, "account activated", "accountId", acc.ID, "verifiedBy", acc.VerifiedBy)
	return acc, nil
}

// OnboardingVerifyActive re-reads the account and returns it once the CRM
// shows it active and verified by req.VerifiedBy. While it is pending the
// activity fails retryably (the retry policy bounds the wait); closed, or
// active on someone else's verification, is final.
func (a *Activities) OnboardingVerifyActive(ctx context.Context, req ActivateRequest) (crm.Account, error) {
	if err := req.validate(); err != nil {
		return crm.Account{}, err
	}
	if a.CRM == nil {
		return crm.Account{}, notConfigured("CRM")
	}
	acc, err := a.CRM.GetAccount(ctx, req.AccountID)
	if err != nil {
		return crm.Account{}, classify(fmt.Errorf("read account %s: %w", req.AccountID, err))
	}
	switch {
	case acc.Status == crm.StatusClosed:
		return acc, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("account %s is closed (%s)", acc.ID, acc.ClosedReason), ErrTypeAccountClosed, nil)
	case acc.Status != crm.StatusActive:
		return acc, temporal.NewApplicationError(fmt.Sprintf("account %s is %s, not active yet", acc.ID, acc.Status), ErrTypeNotActive)
	case acc.VerifiedBy != req.VerifiedBy:
		return acc, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("account %s is active but verified by %q, not %q", acc.ID, acc.VerifiedBy, req.VerifiedBy), ErrTypeMismatch, nil)
	case acc.ActivatedAt == nil:
		return acc, temporal.NewApplicationError(fmt.Sprintf("account %s is active without activatedAt", acc.ID), ErrTypeNotActive)
	}
	return acc, nil
}

func (r ActivateRequest) validate() error {
	switch {
	case strings.TrimSpace(r.AccountID) == "":
		return invalidArg("accountId: required")
	case strings.TrimSpace(r.VerifiedBy) == "":
		return invalidArg("verifiedBy: required")
	}
	return nil
}

// OnboardingAddNote adds a note to the account once per key.
func (a *Activities) OnboardingAddNote(ctx context.Context, req NoteRequest) error {
	if err := a.ensureOurs(ctx); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(req.AccountID) == "":
		return invalidArg("accountId: required")
	case strings.TrimSpace(req.IdempotencyKey) == "":
		return invalidArg("idempotencyKey: required")
	case strings.TrimSpace(req.Text) == "":
		return invalidArg("text: required")
	case a.CRM == nil:
		return notConfigured("CRM")
	}
	if _, err := a.CRM.AddNote(ctx, req.AccountID, req.IdempotencyKey, req.Text); err != nil {
		return classify(fmt.Errorf("add note to account %s: %w", req.AccountID, err))
	}
	return nil
}

// OnboardingEscalate emails everyone holding req.Role in the org directory
// (the field coordinators) and returns who was told; when nobody holds the
// role, operations (OpsEmail) is told instead. Each email's Message-ID is
// fixed per run, activity and person, so a retry does not duplicate it.
func (a *Activities) OnboardingEscalate(ctx context.Context, req EscalationRequest) ([]string, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return nil, err
	}
	switch {
	case strings.TrimSpace(req.Subject) == "":
		return nil, invalidArg("subject: required")
	case strings.TrimSpace(req.Role) == "":
		return nil, invalidArg("role: required")
	case a.Mail == nil:
		return nil, notConfigured("Mail")
	}
	type rcpt struct{ id, addr string }
	var to []rcpt
	if a.Directory != nil {
		for _, p := range a.Directory.People() {
			if p.Email != "" && a.Directory.HasRole(p.ID, req.Role) {
				to = append(to, rcpt{p.ID, p.Email})
			}
		}
	}
	if len(to) == 0 {
		if a.OpsEmail == "" {
			return nil, temporal.NewNonRetryableApplicationError(
				"nobody holds role "+req.Role+" and no operations address is configured", ErrTypeNotConfigured, nil)
		}
		to = append(to, rcpt{a.OpsEmail, a.OpsEmail})
	}
	body := req.Body + "\n\nWorkflow: " + req.WorkflowID + "\nCustomer: " + req.CustomerRef + "\nAccount: " + req.AccountID + "\n"
	if req.TaskID != "" {
		body += "Task: " + req.TaskID + "\n"
	}
	info := activity.GetInfo(ctx)
	var told []string
	for _, r := range to {
		msg := email.Message{
			From: a.from(), To: []string{r.addr}, Subject: "[Escalation] " + req.Subject, Body: body,
			MessageID: fmt.Sprintf("<onboarding-escalation-%s-%s.%s@execution-orchestrator>", info.WorkflowExecution.RunID, info.ActivityID, r.id),
		}
		if err := a.Mail.Send(ctx, msg); err != nil {
			return told, classify(fmt.Errorf("email escalation to %s: %w", r.id, err))
		}
		told = append(told, r.id)
	}
	a.log().WarnContext(ctx, "onboarding escalated", "workflowId", req.WorkflowID, "accountId", req.AccountID, "to", told)
	return told, nil
}

// classify wraps a connector error: permanent ones (4xx, invalid requests)
// become non-retryable, the rest stay retryable.
func classify(err error) error {
	if err == nil || !httpx.IsPermanent(err) {
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

// isNotFound reports whether err is an HTTP 404 from any connector.
func isNotFound(err error) bool {
	return err != nil && httpx.StatusCode(err) == http.StatusNotFound
}
