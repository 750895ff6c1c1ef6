package onboarding

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/sandbox/sandboxtest"
)

var day0 = time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)

// sandboxActivities starts a sandbox at day0 and returns activities bound
// to its CRM and mail system.
func sandboxActivities(t *testing.T) (*Activities, *sandbox.Server) {
	t.Helper()
	s := sandboxtest.Start(t, func(c *sandbox.Config) { c.Now = func() time.Time { return day0 } })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	return &Activities{
		CRM:       crm.New(s.HTTPURL(), httpx.WithLogger(quiet)),
		Mail:      email.New(s.SMTPAddr(), s.HTTPURL(), email.WithLogger(quiet)),
		Directory: dir,
		Logger:    quiet,
	}, s
}

// execute runs one activity in a test activity environment and decodes its
// result into out (when not nil).
func execute(t *testing.T, a *Activities, fn any, arg any, out any) error {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	v, err := env.ExecuteActivity(fn, arg)
	if err != nil {
		return err
	}
	if out != nil {
		require.NoError(t, v.Get(out))
	}
	return nil
}

// appErr returns err's ApplicationError, failing the test when there is none.
func appErr(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	require.Error(t, err)
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae), "%v is not an ApplicationError", err)
	return ae
}

func createRequest() CreateAccountRequest {
	in := validInput
	return CreateAccountRequest{IdempotencyKey: AccountKey(WorkflowID(in.CustomerRef)), Account: crm.AccountRequest{
		Name: in.Name, Email: in.Email, Phone: in.Phone, Address: in.Address, Lat: in.Lat, Lon: in.Lon, Plan: in.Plan,
	}}
}

func TestActivityCreateAccountIdempotent(t *testing.T) {
	t.Parallel()
	a, s := sandboxActivities(t)
	req := createRequest()
	var first crm.Account
	require.NoError(t, execute(t, a, a.OnboardingCreateAccount, req, &first))
	assert.Equal(t, crm.StatusPending, first.Status)
	assert.Equal(t, req.IdempotencyKey, first.IdempotencyKey)
	assert.Equal(t, validInput.Email, first.Email)
	assert.True(t, strings.HasPrefix(first.ID, "ACC-"), first.ID)

	// A retry (or a rerun of the workflow) is the same account.
	var again crm.Account
	require.NoError(t, execute(t, a, a.OnboardingCreateAccount, req, &again))
	assert.Equal(t, first, again)
	list, err := a.CRM.(*crm.Client).FindByEmail(t.Context(), validInput.Email)
	require.NoError(t, err)
	assert.Len(t, list, 1, "one account, however often it is created")

	// The same key for another customer is refused for good.
	other := req
	other.Account.Name = "Someone Else"
	ae := appErr(t, execute(t, a, a.OnboardingCreateAccount, other, nil))
	assert.Equal(t, ErrTypeIdempotencyConflict, ae.Type())
	assert.True(t, ae.NonRetryable())

	// Bad data is refused for good, naming the field.
	bad := createRequest()
	bad.IdempotencyKey, bad.Account.Plan = "k-bad", "gold"
	ae = appErr(t, execute(t, a, a.OnboardingCreateAccount, bad, nil))
	assert.True(t, ae.NonRetryable())
	assert.Contains(t, ae.Message(), "plan")

	// An account closed since is not handed back as if it could go on.
	_, err = s.CloseAccount(t.Context(), first.ID, "customer withdrew")
	require.NoError(t, err)
	ae = appErr(t, execute(t, a, a.OnboardingCreateAccount, req, nil))
	assert.Equal(t, ErrTypeAccountClosed, ae.Type())
	assert.Contains(t, ae.Message(), "customer withdrew")
}

func TestActivityWelcomeDelivery(t *testing.T) {
	t.Parallel()
	a, _ := sandboxActivities(t)
	msgID := WelcomeMessageID(WorkflowID("C-1001"))
	check := DeliveryCheck{MessageID: msgID, Email: validInput.Email}

	// Not sent yet: "not yet", retryable, so the retry policy waits.
	ae := appErr(t, execute(t, a, a.OnboardingVerifyDelivery, check, nil))
	assert.Equal(t, ErrTypeNotDelivered, ae.Type())
	assert.False(t, ae.NonRetryable())

	req := WelcomeRequest{MessageID: msgID, AccountID: "ACC-1", Name: validInput.Name, Email: validInput.Email, Plan: validInput.Plan, Address: validInput.Address}
	require.NoError(t, execute(t, a, a.OnboardingSendWelcome, req, nil))
	require.NoError(t, execute(t, a, a.OnboardingSendWelcome, req, nil), "a retried send")

	var got email.StoredMessage
	require.NoError(t, execute(t, a, a.OnboardingVerifyDelivery, check, &got))
	assert.Equal(t, []string{validInput.Email}, got.To)
	assert.Contains(t, got.Subject, "ACC-1")
	assert.Contains(t, got.Body, validInput.Address)
	list, err := a.Mail.(*email.Client).List(t.Context(), validInput.Email)
	require.NoError(t, err)
	assert.Len(t, list, 1, "one welcome, however often it is sent")

	// Delivered, but to someone else: not the customer's, and final.
	ae = appErr(t, execute(t, a, a.OnboardingVerifyDelivery, DeliveryCheck{MessageID: msgID, Email: "other@example.com"}, nil))
	assert.Equal(t, ErrTypeMismatch, ae.Type())
	assert.True(t, ae.NonRetryable())

	// An address the mail system cannot take: undeliverable, final.
	bad := req
	bad.MessageID, bad.Email = WelcomeMessageID(WorkflowID("C-1002")), "joana at example"
	ae = appErr(t, execute(t, a, a.OnboardingSendWelcome, bad, nil))
	assert.Equal(t, ErrTypeUndeliverable, ae.Type())
	assert.True(t, ae.NonRetryable())
}

// The SMTP server refuses for a while: the send fails retryably, and
// nothing is stored until it works.
func TestActivityWelcomeTransientFailure(t *testing.T) {
	t.Parallel()
	a, s := sandboxActivities(t)
	require.NoError(t, s.SetFaults(map[string]sandbox.Fault{sandbox.EndpointMailSMTP: {ErrorRate: 1}}))
	msgID := WelcomeMessageID(WorkflowID("C-1003"))
	req := WelcomeRequest{MessageID: msgID, AccountID: "ACC-1", Name: "N", Email: validInput.Email, Plan: crm.PlanBasic, Address: "A"}
	err := execute(t, a, a.OnboardingSendWelcome, req, nil)
	require.Error(t, err)
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		assert.False(t, ae.NonRetryable(), "%v", err)
		assert.NotEqual(t, ErrTypeUndeliverable, ae.Type())
	}
	require.NoError(t, s.SetFaults(nil))
	require.NoError(t, execute(t, a, a.OnboardingSendWelcome, req, nil))
	require.NoError(t, execute(t, a, a.OnboardingVerifyDelivery, DeliveryCheck{MessageID: msgID, Email: validInput.Email}, nil))
}

func TestActivityActivateAndVerify(t *testing.T) {
	t.Parallel()
	a, s := sandboxActivities(t)
	var acc crm.Account
	require.NoError(t, execute(t, a, a.OnboardingCreateAccount, createRequest(), &acc))
	req := ActivateRequest{AccountID: acc.ID, VerifiedBy: TaskID(acc.ID)}

	// Pending: "not yet", retryable.
	ae := appErr(t, execute(t, a, a.OnboardingVerifyActive, req, nil))
	assert.Equal(t, ErrTypeNotActive, ae.Type())
	assert.False(t, ae.NonRetryable())

	var active crm.Account
	require.NoError(t, execute(t, a, a.OnboardingActivate, req, &active))
	assert.Equal(t, crm.StatusActive, active.Status)
	assert.Equal(t, "idv-"+acc.ID, active.VerifiedBy)
	require.NoError(t, execute(t, a, a.OnboardingActivate, req, &active), "activating twice is activating once")

	var verified crm.Account
	require.NoError(t, execute(t, a, a.OnboardingVerifyActive, req, &verified))
	assert.Equal(t, crm.StatusActive, verified.Status)
	require.NotNil(t, verified.ActivatedAt)
	assert.True(t, verified.ActivatedAt.Equal(day0))

	// Active on someone else's verification is not ours to claim.
	ae = appErr(t, execute(t, a, a.OnboardingVerifyActive, ActivateRequest{AccountID: acc.ID, VerifiedBy: "idv-other"}, nil))
	assert.Equal(t, ErrTypeMismatch, ae.Type())
	assert.True(t, ae.NonRetryable())

	// Closed: neither activation nor its verification can succeed.
	_, err := s.CloseAccount(t.Context(), acc.ID, "fraud suspected")
	require.NoError(t, err)
	ae = appErr(t, execute(t, a, a.OnboardingVerifyActive, req, nil))
	assert.Equal(t, ErrTypeAccountClosed, ae.Type())
	assert.True(t, ae.NonRetryable())
	_, err = s.CloseAccount(t.Context(), sandbox.AccountDemo, "customer withdrew")
	require.NoError(t, err)
	ae = appErr(t, execute(t, a, a.OnboardingActivate, ActivateRequest{AccountID: sandbox.AccountDemo, VerifiedBy: "idv-y"}, nil))
	assert.Equal(t, ErrTypeAccountClosed, ae.Type())
	assert.True(t, ae.NonRetryable())

	// An account that does not exist is final too.
	ae = appErr(t, execute(t, a, a.OnboardingActivate, ActivateRequest{AccountID: "ACC-NONE", VerifiedBy: "idv"}, nil))
	assert.Equal(t, ErrTypeNotFound, ae.Type())
	ae = appErr(t, execute(t, a, a.OnboardingVerifyActive, ActivateRequest{AccountID: "", VerifiedBy: "idv"}, nil))
	assert.Equal(t, ErrTypeInvalidArgument, ae.Type())
}

func TestActivityAddNote(t *testing.T) {
	t.Parallel()
	a, _ := sandboxActivities(t)
	req := NoteRequest{AccountID: sandbox.AccountDemo, IdempotencyKey: NoteKey("customer-onboarding-C-1", "run-1"), Text: "timeline"}
	require.NoError(t, execute(t, a, a.OnboardingAddNote, req, nil))
	require.NoError(t, execute(t, a, a.OnboardingAddNote, req, nil))
	acc, err := a.CRM.GetAccount(t.Context(), sandbox.AccountDemo)
	require.NoError(t, err)
	assert.Equal(t, []string{"timeline"}, acc.Notes, "a retried note is one note")

	ae := appErr(t, execute(t, a, a.OnboardingAddNote, NoteRequest{AccountID: "ACC-NONE", IdempotencyKey: "k", Text: "x"}, nil))
	assert.Equal(t, ErrTypeNotFound, ae.Type())
	assert.True(t, ae.NonRetryable())
}

func TestActivityEscalate(t *testing.T) {
	t.Parallel()
	a, _ := sandboxActivities(t)
	req := EscalationRequest{WorkflowID: WorkflowID("C-1001"), CustomerRef: "C-1001", AccountID: "ACC-1", TaskID: "idv-ACC-1",
		Role: CoordinatorRole, Subject: "nobody can verify", Body: "please help"}
	var told []string
	require.NoError(t, execute(t, a, a.OnboardingEscalate, req, &told))
	assert.Equal(t, []string{"fatima"}, told, "the directory's field coordinators")
	list, err := a.Mail.(*email.Client).List(t.Context(), "fatima@example.com")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "[Escalation] nobody can verify", list[0].Subject)
	assert.Contains(t, list[0].Body, "Task: idv-ACC-1")

	// Nobody holds the role: operations is told, if configured.
	req.Role = "nobody-has-this-role"
	ae := appErr(t, execute(t, a, a.OnboardingEscalate, req, nil))
	assert.Equal(t, ErrTypeNotConfigured, ae.Type())
	a.OpsEmail = "ops@example.com"
	require.NoError(t, execute(t, a, a.OnboardingEscalate, req, &told))
	assert.Equal(t, []string{"ops@example.com"}, told)
}

func TestActivityLoadTrust(t *testing.T) {
	t.Parallel()
	a := &Activities{}
	ae := appErr(t, execute(t, a, a.OnboardingLoadTrust, struct{}{}, nil))
	assert.Equal(t, ErrTypeNotConfigured, ae.Type())
	a.Trust = func() (proof.Trust, error) { return proof.Trust{}, nil }
	require.NoError(t, execute(t, a, a.OnboardingLoadTrust, struct{}{}, nil))
}

// Without connectors every activity says what is missing, for good.
func TestActivitiesNotConfigured(t *testing.T) {
	t.Parallel()
	a := &Activities{}
	for name, call := range map[string]func() error{
		ActivityCreateAccount: func() error { return execute(t, a, a.OnboardingCreateAccount, createRequest(), nil) },
		ActivitySendWelcome: func() error {
			return execute(t, a, a.OnboardingSendWelcome, WelcomeRequest{MessageID: "<m@x>", Email: "a@b.c"}, nil)
		},
		ActivityVerifyDelivery: func() error { return execute(t, a, a.OnboardingVerifyDelivery, DeliveryCheck{MessageID: "<m@x>"}, nil) },
		ActivityActivate: func() error {
			return execute(t, a, a.OnboardingActivate, ActivateRequest{AccountID: "A", VerifiedBy: "v"}, nil)
		},
		ActivityVerifyActive: func() error {
			return execute(t, a, a.OnboardingVerifyActive, ActivateRequest{AccountID: "A", VerifiedBy: "v"}, nil)
		},
		ActivityAddNote: func() error {
			return execute(t, a, a.OnboardingAddNote, NoteRequest{AccountID: "A", IdempotencyKey: "k", Text: "t"}, nil)
		},
		ActivityEscalate: func() error {
			return execute(t, a, a.OnboardingEscalate, EscalationRequest{Role: "r", Subject: "s"}, nil)
		},
	} {
		ae := appErr(t, call())
		assert.Equal(t, ErrTypeNotConfigured, ae.Type(), name)
		assert.True(t, ae.NonRetryable(), name)
	}
}
