package vendorpayment

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/connectors/erp"
)

const testWorkflowID = "vendor-payment-INV-1042"

func testConfig() VendorPaymentConfig {
	cfg := DefaultVendorPaymentConfig()
	// Short bounds keep the simulated retries few; the clock is mocked.
	cfg.Settlement.ScheduleToCloseTimeout = 5 * time.Minute
	cfg.Delivery.ScheduleToCloseTimeout = 2 * time.Minute
	return cfg
}

// runVP runs VendorPayment against f in a time-skipping test environment.
// setup may register delayed callbacks (approvals) before the run.
func runVP(t *testing.T, f *fakeActivities, in VendorPaymentInput, setup func(env *testsuite.TestWorkflowEnvironment)) (*testsuite.TestWorkflowEnvironment, VendorPaymentResult, error) {
	t.Helper()
	return runVPMetrics(t, f, in, nil, setup)
}

// runVPMetrics is runVP recording metrics with metrics (nil: none).
func runVPMetrics(t *testing.T, f *fakeActivities, in VendorPaymentInput, metrics client.MetricsHandler, setup func(env *testsuite.TestWorkflowEnvironment)) (*testsuite.TestWorkflowEnvironment, VendorPaymentResult, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	if metrics != nil {
		suite.SetMetricsHandler(metrics)
	}
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(testStart)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: testWorkflowID})
	RegisterWorkflows(env, testConfig())
	f.now = env.Now
	env.RegisterActivity(f)
	if setup != nil {
		setup(env)
	}
	env.ExecuteWorkflow(VendorPaymentWorkflow, in)
	require.True(t, env.IsWorkflowCompleted(), "workflow did not complete")
	var res VendorPaymentResult
	err := env.GetWorkflowError()
	if err == nil {
		require.NoError(t, env.GetWorkflowResult(&res))
	}
	return env, res, err
}

func queryStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) VendorPaymentStatus {
	t.Helper()
	v, err := env.QueryWorkflow(StatusQuery)
	require.NoError(t, err)
	var st VendorPaymentStatus
	require.NoError(t, v.Get(&st))
	return st
}

var validInput = VendorPaymentInput{InvoiceID: "INV-1042", RequestedBy: "agent:payables-bot"}

func TestVendorPaymentAutonomous(t *testing.T) {
	mismatched := testInvoice(120000)
	mismatched.BankAccount.IBAN = "GB33BUKB20201555555555"
	dueToday := testInvoice(120000)
	dueToday.DueDate = "2026-03-10"
	paid := testInvoice(120000)
	paid.Status, paid.PaymentReference = erp.InvoicePaid, "PAY-0"
	spacedIBAN := testInvoice(120000)
	spacedIBAN.BankAccount.IBAN = "de89 3704 0044 0532 0130 00"

	tests := []struct {
		name         string
		modify       func(f *fakeActivities)
		wantOutcome  string
		wantReason   string // substring
		wantReleases int
		wantSettles  int
		wantMarkPaid int
		wantEscalate int
		wantNotes    int
	}{
		{name: "pays overdue scheduled invoice", wantOutcome: OutcomePaid, wantReleases: 1, wantSettles: 1, wantMarkPaid: 1},
		{name: "IBAN spacing and case are not a mismatch", modify: func(f *fakeActivities) { f.invoices = []erp.Invoice{spacedIBAN} },
			wantOutcome: OutcomePaid, wantReleases: 1, wantSettles: 1, wantMarkPaid: 1},
		{name: "settles late", modify: func(f *fakeActivities) { f.settleAfter = 3 },
			wantOutcome: OutcomePaid, wantReleases: 1, wantSettles: 4, wantMarkPaid: 1},
		{name: "bank details mismatch stops before paying", modify: func(f *fakeActivities) { f.invoices = []erp.Invoice{mismatched} },
			wantOutcome: OutcomeBankDetailsMismatch, wantReason: "iban", wantNotes: 1},
		{name: "due today is not overdue", modify: func(f *fakeActivities) { f.invoices = []erp.Invoice{dueToday} },
			wantOutcome: OutcomeNotDue, wantReason: "due on 2026-03-10"},
		{name: "already paid", modify: func(f *fakeActivities) { f.invoices = []erp.Invoice{paid} },
			wantOutcome: OutcomeFailed, wantReason: "already paid"},
		{name: "not scheduled", modify: func(f *fakeActivities) { f.schedule = ScheduleCheckResult{Detail: "no schedule entry"} },
			wantOutcome: OutcomeFailed, wantReason: "not on the approved payment schedule"},
		{name: "never settles escalates and does not claim success", modify: func(f *fakeActivities) { f.settleAfter = -1 },
			wantOutcome: OutcomeFailed, wantReason: "payment not settled (escalated)", wantReleases: 1, wantSettles: -1, wantEscalate: 1, wantNotes: 1},
		{name: "treasury conflict is not retried and escalated", modify: func(f *fakeActivities) {
			f.releaseErr = temporal.NewNonRetryableApplicationError("treasury refused: idempotency key reused with a different body", "Conflict", nil)
		}, wantOutcome: OutcomeFailed, wantReason: "idempotency key reused", wantReleases: 1, wantEscalate: 1},
		{name: "undelivered vendor email still marks paid but fails honestly", modify: func(f *fakeActivities) { f.undelivered = true },
			wantOutcome: OutcomeFailed, wantReason: "vendor notification not confirmed", wantReleases: 1, wantSettles: 1, wantMarkPaid: 1, wantEscalate: 1, wantNotes: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			if tc.modify != nil {
				tc.modify(f)
			}
			env, res, err := runVP(t, f, validInput, nil)
			require.NoError(t, err)
			assert.Equal(t, tc.wantOutcome, res.Outcome)
			if tc.wantOutcome == OutcomePaid {
				assert.Empty(t, res.Reason)
			} else {
				assert.Contains(t, res.Reason, tc.wantReason)
			}
			assert.Len(t, f.releases, tc.wantReleases)
			if tc.wantSettles >= 0 {
				assert.Equal(t, tc.wantSettles, f.settles)
			} else {
				assert.Greater(t, f.settles, 3, "settlement should be retried until its bound")
			}
			assert.Len(t, f.markPaid, tc.wantMarkPaid)
			assert.Len(t, f.escalated, tc.wantEscalate)
			assert.Len(t, f.notes, tc.wantNotes)

			st := queryStatus(t, env)
			assert.Equal(t, StageDone, st.Stage)
			assert.Equal(t, tc.wantOutcome, st.Outcome)
			assert.Empty(t, st.PendingApprovers)
		})
	}
}

// A new run for an invoice that an earlier run paid under another action:
// ReleasePayment refuses, and the workflow fails and escalates saying so
// rather than suggesting the release may have reached treasury.
func TestReleaseRefusedForInvoicePaidUnderAnotherAction(t *testing.T) {
	f := newFake()
	f.releaseErr = temporal.NewNonRetryableApplicationError(
		"invoice INV-1042 already has payment PAY-7 (released under another action: EUR 1 100.00, status settled); not paying again",
		ErrTypeAlreadyPaid, nil)
	env, res, err := runVP(t, f, validInput, nil)
	require.NoError(t, err)
	assert.Equal(t, OutcomeFailed, res.Outcome)
	assert.Contains(t, res.Reason, "already has payment PAY-7 (released under another action")
	assert.Contains(t, res.Reason, "(escalated)")
	require.Len(t, f.releases, 1, "a refusal is not retried")
	assert.Zero(t, f.settles)
	assert.Empty(t, f.markPaid)
	require.Len(t, f.escalated, 1)
	assert.Contains(t, f.escalated[0].Body, "already has payment PAY-7")
	assert.Contains(t, f.escalated[0].Body, "This run released nothing")
	assert.NotContains(t, f.escalated[0].Body, "may or may not have reached treasury")
	assert.Equal(t, OutcomeFailed, queryStatus(t, env).Outcome)
}

func TestVendorPaymentPaidResult(t *testing.T) {
	f := newFake()
	env, res, err := runVP(t, f, validInput, nil)
	require.NoError(t, err)

	digest := digestOf(t, f.invoices[0], f.vendor)
	assert.Equal(t, OutcomePaid, res.Outcome)
	assert.Equal(t, "PAY-1", res.PaymentID)
	assert.Equal(t, digest, res.ActionDigest)
	require.NotNil(t, res.VerifiedAt)
	assert.True(t, res.VerifiedAt.Equal(testSettled), "verifiedAt is the settlement time")

	require.Len(t, f.releases, 1)
	assert.Equal(t, "vp-"+strings.TrimPrefix(digest, "sha256:"), f.releases[0].IdempotencyKey)
	assert.Equal(t, digest, f.releases[0].ActionDigest)
	assert.Equal(t, int64(120000), f.releases[0].Action.AmountMinor)
	require.Len(t, f.vendorMsg, 1)
	assert.Equal(t, VendorMessageID(testWorkflowID, digest), f.vendorMsg[0].MessageID)
	assert.Contains(t, f.vendorMsg[0].MessageID, testWorkflowID)
	assert.Equal(t, []MarkPaidRequest{{InvoiceID: "INV-1042", PaymentReference: "PAY-1"}}, f.markPaid)
	assert.Equal(t, 0, f.count(ActivityNotifyApprovers), "autonomous payments ask nobody")

	st := queryStatus(t, env)
	assert.Equal(t, "PAY-1", st.PaymentID)
	assert.Equal(t, digest, st.ActionDigest)
	require.NotNil(t, st.Action)
	assert.Equal(t, "INV-1042", st.Action.InvoiceID)
	assert.Equal(t, int64(120000), st.AmountMinor)
}

func TestVendorPaymentInvalidInput(t *testing.T) {
	tests := []struct {
		name      string
		in        VendorPaymentInput
		wantField string
	}{
		{"missing invoice id", VendorPaymentInput{RequestedBy: "agent:bot"}, "invoiceId"},
		{"blank invoice id", VendorPaymentInput{InvoiceID: "  ", RequestedBy: "agent:bot"}, "invoiceId"},
		{"invoice id with slash", VendorPaymentInput{InvoiceID: "INV/1", RequestedBy: "agent:bot"}, "invoiceId"},
		{"invoice id too long", VendorPaymentInput{InvoiceID: strings.Repeat("A", 65), RequestedBy: "agent:bot"}, "invoiceId"},
		{"missing requester", VendorPaymentInput{InvoiceID: "INV-1042"}, "requestedBy"},
		{"requester with space", VendorPaymentInput{InvoiceID: "INV-1042", RequestedBy: "a b"}, "requestedBy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			_, _, err := runVP(t, f, tc.in, nil)
			require.Error(t, err)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "want ApplicationError, got %v", err)
			assert.True(t, appErr.NonRetryable())
			assert.Equal(t, ErrTypeInvalidInput, appErr.Type())
			assert.True(t, strings.HasPrefix(appErr.Message(), tc.wantField+":"), "message %q names %s", appErr.Message(), tc.wantField)
			assert.Empty(t, f.calls, "no activity may run on invalid input")
		})
	}
}

func TestCheckInvoice(t *testing.T) {
	today := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	base := testInvoice(100)
	with := func(mod func(*erp.Invoice)) erp.Invoice { inv := base; mod(&inv); return inv }
	tests := []struct {
		name    string
		inv     erp.Invoice
		outcome string
	}{
		{"overdue open", base, ""},
		{"due yesterday", with(func(i *erp.Invoice) { i.DueDate = "2026-03-09" }), ""},
		{"due today", with(func(i *erp.Invoice) { i.DueDate = "2026-03-10" }), OutcomeNotDue},
		{"due tomorrow", with(func(i *erp.Invoice) { i.DueDate = "2026-03-11" }), OutcomeNotDue},
		{"bad due date", with(func(i *erp.Invoice) { i.DueDate = "10/03/2026" }), OutcomeFailed},
		{"draft", with(func(i *erp.Invoice) { i.Status = "draft" }), OutcomeFailed},
		{"zero amount", with(func(i *erp.Invoice) { i.AmountMinor = 0 }), OutcomeFailed},
		{"other invoice", with(func(i *erp.Invoice) { i.ID = "INV-9" }), OutcomeFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outcome, reason := checkInvoice("INV-1042", tc.inv, today)
			assert.Equal(t, tc.outcome, outcome)
			assert.Equal(t, outcome == "", reason == "", "a reason goes with every refusal")
		})
	}
}

func TestMoneyFormatting(t *testing.T) {
	tests := []struct {
		minor    int64
		currency string
		major    float64
		text     string
	}{
		{120000, "EUR", 1200, "EUR 1200.00"},
		{5, "EUR", 0.05, "EUR 0.05"},
		{1500, "JPY", 1500, "JPY 1500"},
		{1234, "KWD", 1.234, "KWD 1.234"},
	}
	for _, tc := range tests {
		assert.InDelta(t, tc.major, majorUnits(tc.minor, tc.currency), 1e-9)
		assert.Equal(t, tc.text, formatMoney(tc.minor, tc.currency))
	}
}

func TestZeroConfigTakesDefaults(t *testing.T) {
	f := newFake()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(testStart)
	RegisterWorkflows(env, VendorPaymentConfig{})
	f.now = env.Now
	env.RegisterActivity(f)
	env.ExecuteWorkflow(VendorPaymentWorkflow, validInput)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res VendorPaymentResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
}

// runVPReadingSearchAttributes runs VendorPayment like runVP, inside a test
// workflow that reads the run's search attributes after it returns, as
// visibility would show them (unset ones absent).
func runVPReadingSearchAttributes(t *testing.T, f *fakeActivities, in VendorPaymentInput, setup func(env *testsuite.TestWorkflowEnvironment)) (*testsuite.TestWorkflowEnvironment, map[string]any, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(testStart)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: testWorkflowID})
	final := map[string]any{}
	vp := NewVendorPayment(testConfig())
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context, in VendorPaymentInput) (VendorPaymentResult, error) {
		res, err := vp.Run(ctx, in)
		for k, v := range workflow.GetTypedSearchAttributes(ctx).GetUntypedValues() {
			final[k.GetName()] = v
		}
		return res, err
	}, workflow.RegisterOptions{Name: VendorPaymentWorkflow})
	f.now = env.Now
	env.RegisterActivity(f)
	setup(env)
	env.ExecuteWorkflow(VendorPaymentWorkflow, in)
	require.True(t, env.IsWorkflowCompleted(), "workflow did not complete")
	return env, final, env.GetWorkflowError()
}

func TestCancellationLeavesNoStaleState(t *testing.T) {
	tests := []struct {
		name         string
		modify       func(f *fakeActivities)
		cancelAt     time.Duration
		wantReason   string
		wantNote     string
		wantEscalate int
		wantPayment  string
		wantMarkPaid int
	}{
		{name: "while awaiting approval", cancelAt: time.Hour,
			modify:     func(f *fakeActivities) { f.invoices, f.plan = []erp.Invoice{bigInvoice()}, fmPlan },
			wantReason: "cancelled while awaiting_approval; nothing was paid", wantNote: "Nothing was paid"},
		{name: "while verifying a released payment", cancelAt: 10 * time.Second,
			modify:     func(f *fakeActivities) { f.settleAfter = -1 },
			wantReason: "cancelled while verifying; payment PAY-1 was released and may settle", wantNote: "PAY-1 was already released",
			wantEscalate: 1, wantPayment: "PAY-1"},
		{name: "after settlement, once the vendor email could not be confirmed", cancelAt: 3 * time.Second,
			modify:     func(f *fakeActivities) { f.undelivered = true },
			wantReason: "cancelled while recording; payment PAY-1 had settled", wantNote: "The invoice is marked paid",
			wantEscalate: 1, wantPayment: "PAY-1", wantMarkPaid: 1},
		{name: "while a release is being retried", cancelAt: 10 * time.Second,
			modify: func(f *fakeActivities) {
				f.releaseErr = temporal.NewApplicationError("treasury unavailable", "Unavailable")
			},
			wantReason: "cancelled while releasing; the release may have reached treasury (idempotency key vp-", wantNote: "may have reached treasury",
			wantEscalate: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			tc.modify(f)
			env, sa, err := runVPReadingSearchAttributes(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) {
				env.RegisterDelayedCallback(env.CancelWorkflow, tc.cancelAt)
			})
			require.Error(t, err)
			assert.True(t, temporal.IsCanceledError(err), "the run ends cancelled, got %v", err)

			st := queryStatus(t, env)
			assert.Equal(t, StageDone, st.Stage)
			assert.Equal(t, OutcomeCancelled, st.Outcome)
			assert.True(t, strings.HasPrefix(st.Reason, tc.wantReason), "reason %q", st.Reason)
			assert.Equal(t, tc.wantPayment, st.PaymentID)
			assert.Empty(t, st.PendingApprovers)
			assert.Empty(t, st.AwaitingSlot)
			assert.Nil(t, st.AwaitingSince)

			assert.Equal(t, StageDone, sa["EOStage"])
			assert.Equal(t, OutcomeCancelled, sa["EOOutcome"])
			assert.NotContains(t, sa, "EOPendingApprovers", "no one is listed as pending after cancellation")

			require.Len(t, f.notes, 1, "the cancellation is noted on the invoice")
			assert.Contains(t, f.notes[0].Text, "cancelled")
			assert.Contains(t, f.notes[0].Text, tc.wantNote)
			assert.Len(t, f.escalated, tc.wantEscalate)
			assert.Len(t, f.markPaid, tc.wantMarkPaid, "a settled payment closes the invoice even when cancelled")
			assert.Empty(t, f.requester)
		})
	}
}
