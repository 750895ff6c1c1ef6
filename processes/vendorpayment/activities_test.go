package vendorpayment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/totp"
)

// --- fakes -----------------------------------------------------------------

type fakeERP struct {
	mu       sync.Mutex
	invoice  erp.Invoice
	vendor   erp.Vendor
	schedule erp.ScheduleEntry
	err      error // returned by every call when set
	noteKeys []string
	markPaid erp.Invoice
}

func (f *fakeERP) GetInvoice(_ context.Context, id string) (erp.Invoice, error) {
	if f.err != nil {
		return erp.Invoice{}, f.err
	}
	return f.invoice, nil
}

func (f *fakeERP) GetVendor(_ context.Context, id string) (erp.Vendor, error) {
	if f.err != nil {
		return erp.Vendor{}, f.err
	}
	return f.vendor, nil
}

func (f *fakeERP) GetScheduleEntry(_ context.Context, id string) (erp.ScheduleEntry, error) {
	if f.err != nil {
		return erp.ScheduleEntry{}, f.err
	}
	return f.schedule, nil
}

func (f *fakeERP) MarkPaid(_ context.Context, id, ref string) (erp.Invoice, error) {
	if f.err != nil {
		return erp.Invoice{}, f.err
	}
	return f.markPaid, nil
}

func (f *fakeERP) AddNote(_ context.Context, id, key, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noteKeys = append(f.noteKeys, key)
	return f.err
}

type fakeTreasury struct {
	keys    []string
	reqs    []treasury.PaymentRequest
	err     error
	payment treasury.Payment
	// existing is what ListPaymentsForInvoice reports; listErr fails it.
	existing []treasury.Payment
	listErr  error
	listed   []string
}

func (f *fakeTreasury) ReleasePayment(_ context.Context, key string, req treasury.PaymentRequest) (treasury.Payment, error) {
	f.keys = append(f.keys, key)
	f.reqs = append(f.reqs, req)
	if f.err != nil {
		return treasury.Payment{}, f.err
	}
	return treasury.Payment{ID: "PAY-1", AmountMinor: req.AmountMinor, Currency: req.Currency, Beneficiary: req.Beneficiary, Status: treasury.StatusReleased}, nil
}

func (f *fakeTreasury) ListPaymentsForInvoice(_ context.Context, invoiceID string) ([]treasury.Payment, error) {
	f.listed = append(f.listed, invoiceID)
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []treasury.Payment
	for _, p := range f.existing {
		if p.InvoiceID == invoiceID {
			out = append(out, p)
		}
	}
	return out, nil
}

// ListPayments reports every payment treasury holds (existing), for the
// gate's daily cap.
func (f *fakeTreasury) ListPayments(context.Context) ([]treasury.Payment, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	return f.existing, nil
}

func (f *fakeTreasury) GetPayment(_ context.Context, id string) (treasury.Payment, error) {
	if f.err != nil {
		return treasury.Payment{}, f.err
	}
	return f.payment, nil
}

// fakeMail keeps sent messages by Message-ID, like the mail system does.
type fakeMail struct {
	mu      sync.Mutex
	sent    []email.Message
	stored  map[string]email.StoredMessage
	sendErr error
}

func newFakeMail() *fakeMail { return &fakeMail{stored: map[string]email.StoredMessage{}} }

func (f *fakeMail) Send(_ context.Context, m email.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sendErr != nil {
		return f.sendErr
	}
	f.sent = append(f.sent, m)
	f.stored[m.MessageID] = email.StoredMessage{MessageID: m.MessageID, To: m.To, Subject: m.Subject, Body: m.Body}
	return nil
}

func (f *fakeMail) Lookup(_ context.Context, id string) (email.StoredMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.stored[id]
	if !ok {
		return email.StoredMessage{}, &httpx.Error{Op: "mail.getMessage", StatusCode: http.StatusNotFound, Message: "no such message", Permanent: true}
	}
	return m, nil
}

type fakeLinks struct {
	mu     sync.Mutex
	issued []string // personID|workflowID|runID|digest|ttl
}

func (f *fakeLinks) Issue(_ context.Context, person, wf, run, digest string, ttl time.Duration) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issued = append(f.issued, fmt.Sprintf("%s|%s|%s|%s|%s", person, wf, run, digest, ttl))
	return fmt.Sprintf("tok-%s-%d", person, len(f.issued)), nil
}

var (
	permanent404 = &httpx.Error{Op: "erp.getInvoice INV-1", StatusCode: http.StatusNotFound, Message: "invoice not found", Permanent: true}
	permanent422 = &httpx.Error{Op: "erp", StatusCode: http.StatusUnprocessableEntity, Message: "bad", Permanent: true}
	conflict409  = &httpx.Error{Op: "treasury.releasePayment", StatusCode: http.StatusConflict, Message: "key reused", Permanent: true}
	transient503 = &httpx.Error{Op: "erp.getInvoice INV-1", StatusCode: http.StatusServiceUnavailable, Message: "down"}
	transport    = errors.New("dial tcp 127.0.0.1:1: connection refused")
)

func execute(t *testing.T, fn any, out any, args ...any) error {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(fn)
	v, err := env.ExecuteActivity(fn, args...)
	if err == nil && out != nil {
		require.NoError(t, v.Get(out))
	}
	return err
}

// executeAsVendorPayment runs activity fn (registered as name) the way a
// VendorPayment workflow with id wfID schedules it: the gated activities
// read the calling workflow's type and id, which the plain activity
// environment cannot set.
func executeAsVendorPayment(t *testing.T, wfID, name string, fn, out, arg any) error {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: wfID})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) (json.RawMessage, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		var res json.RawMessage
		err := workflow.ExecuteActivity(ctx, name, arg).Get(ctx, &res)
		return res, err
	}, workflow.RegisterOptions{Name: VendorPaymentWorkflow})
	env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	env.ExecuteWorkflow(VendorPaymentWorkflow)
	require.True(t, env.IsWorkflowCompleted())
	if err := env.GetWorkflowError(); err != nil {
		return err
	}
	var raw json.RawMessage
	require.NoError(t, env.GetWorkflowResult(&raw))
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out))
	}
	return nil
}

// nonRetryable returns the ApplicationError type when err is non-retryable.
func nonRetryable(err error) (string, bool) {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		return appErr.Type(), true
	}
	return "", false
}

// --- tests -----------------------------------------------------------------

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		wantNonRetry bool
		wantType     string
	}{
		{"404 is permanent", permanent404, true, ErrTypeNotFound},
		{"422 is permanent", permanent422, true, ErrTypeRefused},
		{"409 is a conflict", conflict409, true, ErrTypeIdempotencyConflict},
		{"503 is retried", transient503, false, ""},
		{"connection refused is retried", transport, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &Activities{ERP: &fakeERP{err: tc.err}}
			err := execute(t, a.LoadInvoice, nil, "INV-1")
			require.Error(t, err)
			typ, nr := nonRetryable(err)
			assert.Equal(t, tc.wantNonRetry, nr, "non-retryable for %v", err)
			assert.Equal(t, tc.wantType, typ)
			assert.Contains(t, err.Error(), "INV-1", "the error says what failed")
		})
	}
}

func TestInvalidArgumentsAreNonRetryable(t *testing.T) {
	a := &Activities{ERP: &fakeERP{}, Treasury: &fakeTreasury{}, Mail: newFakeMail(), FinanceOpsEmail: "ops@example.com"}
	tests := []struct {
		name      string
		fn        any
		arg       any
		wantField string
	}{
		{"LoadInvoice", a.LoadInvoice, "", "invoiceId"},
		{"LoadVendor", a.LoadVendor, " ", "vendorId"},
		{"VerifySettlement", a.VerifySettlement, "", "paymentId"},
		{"VerifyEmailDelivered", a.VerifyEmailDelivered, "", "messageId"},
		{"MarkInvoicePaid", a.MarkInvoicePaid, MarkPaidRequest{InvoiceID: "INV-1"}, "paymentReference"},
		{"RecordNote", a.RecordNote, NoteRequest{InvoiceID: "INV-1"}, "text"},
		{"NotifyVendor", a.NotifyVendor, NotifyVendorRequest{MessageID: "<x@y>"}, "vendor.apContact.email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := execute(t, tc.fn, nil, tc.arg)
			typ, nr := nonRetryable(err)
			require.True(t, nr, "want non-retryable, got %v", err)
			assert.Equal(t, ErrTypeInvalidArgument, typ)
			assert.Contains(t, err.Error(), tc.wantField)
		})
	}
}

func testAction() action.Payment {
	inv := erp.Invoice{ID: "INV-1", VendorID: "V-1", AmountMinor: 120000, Currency: "EUR"}
	v := erp.Vendor{ID: "V-1", Name: "Acme", BankAccount: erp.BankAccount{IBAN: "DE89370400440532013000", BIC: "COBADEFFXXX", AccountHolder: "Acme GmbH"}}
	return action.NewPayment(inv, v)
}

func TestReleasePayment(t *testing.T) {
	pay := testAction()
	digest, err := action.Digest(pay)
	require.NoError(t, err)
	good := ReleaseRequest{IdempotencyKey: IdempotencyKey(digest), Action: pay, ActionDigest: digest}
	tampered := good
	tampered.Action.AmountMinor++
	wrongKey := good
	wrongKey.IdempotencyKey = "vp-something-else"

	tests := []struct {
		name      string
		req       ReleaseRequest
		treasErr  error
		wantType  string // "" = success; "retry" = retryable error
		wantCalls int
	}{
		{"releases with the digest key", good, nil, "", 1},
		{"action changed after digest", tampered, nil, ErrTypeInvalidArgument, 0},
		{"key not derived from digest", wrongKey, nil, ErrTypeInvalidArgument, 0},
		{"treasury 409 is final", good, conflict409, ErrTypeIdempotencyConflict, 1},
		{"treasury 503 is retried", good, transient503, "retry", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &fakeTreasury{err: tc.treasErr}
			a := &Activities{Treasury: tr, Ungated: true}
			var p treasury.Payment
			err := execute(t, a.ReleasePayment, &p, tc.req)
			assert.Len(t, tr.keys, tc.wantCalls)
			switch tc.wantType {
			case "":
				require.NoError(t, err)
				assert.Equal(t, "PAY-1", p.ID)
				assert.Equal(t, []string{"vp-" + strings.TrimPrefix(digest, "sha256:")}, tr.keys)
				assert.Equal(t, digest, tr.reqs[0].ActionDigest)
			case "retry":
				require.Error(t, err)
				_, nr := nonRetryable(err)
				assert.False(t, nr)
			default:
				typ, nr := nonRetryable(err)
				require.True(t, nr, "want non-retryable, got %v", err)
				assert.Equal(t, tc.wantType, typ)
			}
		})
	}
}

// A new run for an invoice whose action changed (ERP data edited after a
// failed run) has another digest, hence another idempotency key: treasury
// would pay again unless the release refuses first.
func TestReleasePaymentRefusesInvoicePaidUnderAnotherAction(t *testing.T) {
	pay := testAction()
	digest, err := action.Digest(pay)
	require.NoError(t, err)
	req := ReleaseRequest{IdempotencyKey: IdempotencyKey(digest), Action: pay, ActionDigest: digest}
	other := func(id, status string) treasury.Payment {
		return treasury.Payment{ID: id, IdempotencyKey: "vp-0123abcd", InvoiceID: pay.InvoiceID, AmountMinor: 110000, Currency: "EUR",
			ActionDigest: "sha256:0123abcd", Status: status}
	}
	own := treasury.Payment{ID: "PAY-1", IdempotencyKey: req.IdempotencyKey, InvoiceID: pay.InvoiceID, AmountMinor: pay.AmountMinor,
		Currency: pay.Currency, Beneficiary: pay.Beneficiary, ActionDigest: digest, Status: treasury.StatusSettled}
	otherInvoice := other("PAY-8", treasury.StatusSettled)
	otherInvoice.InvoiceID = "INV-2"

	tests := []struct {
		name         string
		existing     []treasury.Payment
		listErr      error
		wantType     string // "" = released; "retry" = retryable error
		wantMessage  string
		wantReleases int
	}{
		{name: "no earlier payment", wantReleases: 1},
		{name: "same key is this action's own payment", existing: []treasury.Payment{own}, wantReleases: 1},
		{name: "failed payment under another key moved no money", existing: []treasury.Payment{other("PAY-7", treasury.StatusFailed)}, wantReleases: 1},
		{name: "another invoice's payment does not count", existing: []treasury.Payment{otherInvoice}, wantReleases: 1},
		{name: "released under another key", existing: []treasury.Payment{other("PAY-7", treasury.StatusReleased)},
			wantType: ErrTypeAlreadyPaid, wantMessage: "invoice INV-1 already has payment PAY-7 (released under another action"},
		{name: "settled under another key, next to a failed one", existing: []treasury.Payment{other("PAY-6", treasury.StatusFailed), other("PAY-7", treasury.StatusSettled)},
			wantType: ErrTypeAlreadyPaid, wantMessage: "already has payment PAY-7"},
		{name: "listing fails transiently", listErr: transient503, wantType: "retry"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &fakeTreasury{existing: tc.existing, listErr: tc.listErr}
			a := &Activities{Treasury: tr, Ungated: true}
			var p treasury.Payment
			err := execute(t, a.ReleasePayment, &p, req)
			assert.Equal(t, []string{pay.InvoiceID}, tr.listed, "treasury is asked before every release")
			assert.Len(t, tr.keys, tc.wantReleases)
			switch tc.wantType {
			case "":
				require.NoError(t, err)
				assert.Equal(t, "PAY-1", p.ID)
			case "retry":
				require.Error(t, err)
				_, nr := nonRetryable(err)
				assert.False(t, nr, "a failed listing is retried: %v", err)
			default:
				typ, nr := nonRetryable(err)
				require.True(t, nr, "want non-retryable, got %v", err)
				assert.Equal(t, tc.wantType, typ)
				assert.Contains(t, err.Error(), tc.wantMessage)
			}
		})
	}
}

func TestVerifySettlement(t *testing.T) {
	settledAt := time.Date(2026, 3, 10, 9, 5, 0, 0, time.UTC)
	tests := []struct {
		name      string
		payment   treasury.Payment
		err       error
		wantErr   bool
		wantRetry bool
	}{
		{"settled", treasury.Payment{ID: "P", Status: treasury.StatusSettled, SettledAt: &settledAt}, nil, false, false},
		{"released keeps polling", treasury.Payment{ID: "P", Status: treasury.StatusReleased}, nil, true, true},
		{"failed is final", treasury.Payment{ID: "P", Status: treasury.StatusFailed}, nil, true, false},
		{"unknown payment is final", treasury.Payment{}, &httpx.Error{Op: "treasury.getPayment P", StatusCode: 404, Permanent: true}, true, false},
		{"treasury down is retried", treasury.Payment{}, transient503, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &Activities{Treasury: &fakeTreasury{payment: tc.payment, err: tc.err}}
			var p treasury.Payment
			err := execute(t, a.VerifySettlement, &p, "P")
			if !tc.wantErr {
				require.NoError(t, err)
				assert.Equal(t, settledAt, p.SettledAt.UTC())
				return
			}
			require.Error(t, err)
			_, nr := nonRetryable(err)
			assert.Equal(t, !tc.wantRetry, nr)
		})
	}
}

func TestVerifyEmailDelivered(t *testing.T) {
	mail := newFakeMail()
	a := &Activities{Mail: mail}
	err := execute(t, a.VerifyEmailDelivered, nil, "<m1@x>")
	require.Error(t, err)
	_, nr := nonRetryable(err)
	assert.False(t, nr, "not yet delivered is retried")

	require.NoError(t, mail.Send(context.Background(), email.Message{MessageID: "<m1@x>"}))
	var got email.StoredMessage
	require.NoError(t, execute(t, a.VerifyEmailDelivered, &got, "<m1@x>"))
	assert.Equal(t, "<m1@x>", got.MessageID)
}

func TestCheckPaymentSchedule(t *testing.T) {
	tests := []struct {
		name  string
		entry erp.ScheduleEntry
		err   error
		want  bool
	}{
		{"approved, same amount", erp.ScheduleEntry{InvoiceID: "INV-1", Approved: true, AmountMinor: 100}, nil, true},
		{"not approved", erp.ScheduleEntry{InvoiceID: "INV-1", AmountMinor: 100}, nil, false},
		{"other amount", erp.ScheduleEntry{InvoiceID: "INV-1", Approved: true, AmountMinor: 99}, nil, false},
		{"not scheduled", erp.ScheduleEntry{}, permanent404, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &Activities{ERP: &fakeERP{schedule: tc.entry, err: tc.err}}
			var res ScheduleCheckResult
			require.NoError(t, execute(t, a.CheckPaymentSchedule, &res, ScheduleCheck{InvoiceID: "INV-1", AmountMinor: 100}))
			assert.Equal(t, tc.want, res.OnSchedule)
			assert.Equal(t, tc.want, res.Detail == "", "a refusal says why")
		})
	}
}

func TestMarkInvoicePaidVerifiesERP(t *testing.T) {
	tests := []struct {
		name    string
		erpView erp.Invoice
		wantErr bool
	}{
		{"recorded", erp.Invoice{ID: "INV-1", Status: erp.InvoicePaid, PaymentReference: "PAY-1"}, false},
		{"other reference", erp.Invoice{ID: "INV-1", Status: erp.InvoicePaid, PaymentReference: "PAY-0"}, true},
		{"still open", erp.Invoice{ID: "INV-1", Status: erp.InvoiceOpen}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &Activities{ERP: &fakeERP{markPaid: tc.erpView}}
			err := execute(t, a.MarkInvoicePaid, nil, MarkPaidRequest{InvoiceID: "INV-1", PaymentReference: "PAY-1"})
			if !tc.wantErr {
				require.NoError(t, err)
				return
			}
			typ, nr := nonRetryable(err)
			require.True(t, nr)
			assert.Equal(t, ErrTypeMismatch, typ)
		})
	}
}

func TestRecordNoteKeyIsStablePerRunAndActivity(t *testing.T) {
	e := &fakeERP{}
	a := &Activities{ERP: e}
	req := NoteRequest{InvoiceID: "INV-1", Text: "hello"}
	// Two environments give the same run id and activity id: a retry.
	require.NoError(t, execute(t, a.RecordNote, nil, req))
	require.NoError(t, execute(t, a.RecordNote, nil, req))
	require.Len(t, e.noteKeys, 2)
	assert.Equal(t, e.noteKeys[0], e.noteKeys[1])
	assert.True(t, strings.HasPrefix(e.noteKeys[0], "note-default-test-run-id-"), e.noteKeys[0])
}

func TestNotifyApproversSendsOneLinkPerPersonAcrossRetries(t *testing.T) {
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	mail, links := newFakeMail(), &fakeLinks{}
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	a := &Activities{
		Directory: dir, Mail: mail, Links: links, WebBaseURL: "http://127.0.0.1:8080/",
		From: "payables@example.com", Now: func() time.Time { return now },
	}
	pay := testAction()
	req := NotifyApproversRequest{
		WorkflowID: "vendor-payment-INV-1", Kind: NotifyRequest, Slot: "finance-manager",
		Approvers: []string{"maria", "nobody"}, Action: pay, ActionDigest: "sha256:abc",
		ApprovalReason: "above the autonomous limit", Deadline: now.Add(72 * time.Hour),
	}
	var res NotifyApproversResult
	require.NoError(t, execute(t, a.NotifyApprovers, &res, req))
	assert.Equal(t, []string{"maria"}, res.Notified, "unknown people are skipped")
	require.Len(t, mail.sent, 1)
	msg := mail.sent[0]
	assert.Equal(t, []string{"maria@example.com"}, msg.To)
	assert.Contains(t, msg.Body, "http://127.0.0.1:8080/approvals/vendor-payment-INV-1?token=tok-maria-1")
	assert.Contains(t, msg.Body, "sha256:abc")
	assert.Equal(t, []string{"maria|vendor-payment-INV-1|default-test-run-id|sha256:abc|72h0m0s"}, links.issued, "a link is bound to the run that asks")

	// A retry of the same activity finds the stored message: no second
	// email, no second token.
	require.NoError(t, execute(t, a.NotifyApprovers, &res, req))
	assert.Len(t, mail.sent, 1)
	assert.Len(t, links.issued, 1)
}

func TestCheckApprovers(t *testing.T) {
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	a := &Activities{Directory: dir}
	req := CheckApproversRequest{Approvals: []Approval{
		{Slot: "finance-manager", Approver: "maria"},                      // holds the role
		{Slot: "cfo", Approver: "maria"},                                  // does not
		{Slot: "finance-manager", Approver: "chen", OnBehalfOf: "omar"},   // omar's manager
		{Slot: "cfo", Approver: "sofia", OnBehalfOf: "chen"},              // chen's manager and delegate
		{Slot: "finance-manager", Approver: "sofia", OnBehalfOf: "maria"}, // not maria's stand-in
		{Slot: "finance-manager", Approver: "ghost"},                      // not in directory
	}}
	var res CheckApproversResult
	require.NoError(t, execute(t, a.CheckApprovers, &res, req))
	var bad []string
	for _, p := range res.Invalid {
		bad = append(bad, p.Approver+"/"+p.Slot)
		assert.NotEmpty(t, p.Reason)
	}
	assert.Equal(t, []string{"maria/cfo", "sofia/finance-manager", "ghost/finance-manager"}, bad)
}

func TestNotifyRequesterSkipsAgents(t *testing.T) {
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	tests := []struct {
		requester string
		wantSent  int
	}{
		{"agent:payables-bot", 0},
		{"ana", 1},
		{"erp-batch-42", 0}, // not a person in the directory
	}
	for _, tc := range tests {
		t.Run(tc.requester, func(t *testing.T) {
			mail := newFakeMail()
			a := &Activities{Directory: dir, Mail: mail, From: "payables@example.com"}
			require.NoError(t, execute(t, a.NotifyRequester, nil, NotifyRequesterRequest{
				WorkflowID: "wf", RequestedBy: tc.requester, InvoiceID: "INV-1", Outcome: OutcomeRejected, Reason: "rejected by maria",
			}))
			assert.Len(t, mail.sent, tc.wantSent)
		})
	}
}

func TestPlanApprovals(t *testing.T) {
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	a := &Activities{Directory: dir}
	tests := []struct {
		name      string
		req       PlanRequest
		wantTier  string
		wantSlots int
		wantErr   bool
	}{
		{"autonomous", PlanRequest{AmountMinor: 120000, Currency: "EUR"}, "autonomous", 0, false},
		{"finance manager", PlanRequest{AmountMinor: 1_000_000, Currency: "EUR"}, "finance-manager", 1, false},
		{"cfo", PlanRequest{AmountMinor: 4_800_000, Currency: "EUR"}, "cfo", 2, false},
		{"other currency refused", PlanRequest{AmountMinor: 100, Currency: "USD"}, "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var plan ApprovalPlan
			err := execute(t, a.PlanApprovals, &plan, tc.req)
			if tc.wantErr {
				_, nr := nonRetryable(err)
				assert.True(t, nr, "a policy refusal is permanent: %v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantTier, plan.Tier)
			assert.Len(t, plan.Slots, tc.wantSlots)
			assert.Equal(t, tc.wantSlots == 0, plan.Autonomous)
		})
	}
}

// --- proofs and the gate at the side effect --------------------------------

// fakeCodes is an authenticator store: errs maps a person to the error its
// Verify returns (nil: the code is right).
type fakeCodes struct {
	mu    sync.Mutex
	errs  map[string]error
	calls []string // person|code
}

func (f *fakeCodes) Verify(_ context.Context, person, code string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, person+"|"+code)
	return f.errs[person]
}

func TestCheckApprovalCode(t *testing.T) {
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	worker := newTestSigner()
	trust := proof.Trust{Keys: []proof.TrustedKey{trustedKey(worker, proof.IssuerWorker)}}
	// The activity environment runs activities for this workflow and run.
	req := approvals.CodeCheck{
		WorkflowID: "default-test-workflow-id", RunID: "default-test-run-id", Slot: "finance-manager",
		ActionDigest: "sha256:aa", Decision: DecisionApprove, Approver: "maria", Code: "123456",
	}
	otherRun := req
	otherRun.RunID = "another-run"
	notDigits := req
	notDigits.Code = "12345a"
	tests := []struct {
		name      string
		req       approvals.CodeCheck
		err       error // what the store says about maria's code
		noCodes   bool
		noSigner  bool
		wantType  string // "" = signed; "retry" = retryable error
		wantCheck bool   // the store was asked
	}{
		{name: "right code is signed by the worker", req: req, wantCheck: true},
		{name: "wrong code", req: req, err: fmt.Errorf("%w: does not match", totp.ErrInvalidCode), wantType: ErrTypeProofRefused, wantCheck: true},
		{name: "reused code", req: req, err: totp.ErrReused, wantType: ErrTypeProofRefused, wantCheck: true},
		{name: "not enrolled", req: req, err: fmt.Errorf("%w: %q", totp.ErrNotEnrolled, "maria"), wantType: ErrTypeProofRefused, wantCheck: true},
		{name: "store down is retried", req: req, err: errors.New("database is locked"), wantType: "retry", wantCheck: true},
		{name: "for another run", req: otherRun, wantType: ErrTypeNotOurs},
		{name: "not six digits", req: notDigits, wantType: ErrTypeInvalidArgument},
		{name: "no code store", req: req, noCodes: true, wantType: ErrTypeNotConfigured},
		{name: "no signing key", req: req, noSigner: true, wantType: ErrTypeNotConfigured},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			codes := &fakeCodes{errs: map[string]error{"maria": tc.err}}
			a := &Activities{Codes: codes, Signer: worker, Now: func() time.Time { return now },
				Temporal: &fakeDescriber{queue: "default-test-taskqueue", start: now}}
			if tc.noCodes {
				a.Codes = nil
			}
			if tc.noSigner {
				a.Signer = nil
			}
			var token string
			err := executeAsVendorPayment(t, "default-test-workflow-id", ActivityCheckApprovalCode, a.CheckApprovalCode, &token, tc.req)
			assert.Equal(t, tc.wantCheck, len(codes.calls) == 1, "store asked: %v", codes.calls)
			switch tc.wantType {
			case "":
				require.NoError(t, err)
				assert.Equal(t, []string{"maria|123456"}, codes.calls)
				as, err := proof.Verify(token, trust, proof.Expect{
					Kind: proof.KindApproval, WorkflowID: req.WorkflowID, RunID: req.RunID, Slot: req.Slot,
					ActionDigest: req.ActionDigest, Decision: req.Decision, Subject: "maria",
				}, now)
				require.NoError(t, err)
				assert.Equal(t, proof.MethodTOTP, as.Method)
				assert.Equal(t, worker.KeyID(), as.KeyID)
				assert.True(t, as.IssuedAt.Equal(now))
			case "retry":
				require.Error(t, err)
				_, nr := nonRetryable(err)
				assert.False(t, nr, "a transient store failure is retried: %v", err)
			default:
				typ, nr := nonRetryable(err)
				require.True(t, nr, "want non-retryable, got %v", err)
				assert.Equal(t, tc.wantType, typ)
			}
		})
	}
}

func TestLoadTrust(t *testing.T) {
	web := newTestSigner()
	want := proof.Trust{Keys: []proof.TrustedKey{trustedKey(web, proof.IssuerWeb)}}
	tests := []struct {
		name     string
		trust    func() (proof.Trust, error)
		wantType string // "" = keys; "retry" = retryable
	}{
		{"keys", func() (proof.Trust, error) { return want, nil }, ""},
		{"unreadable keys dir is retried", func() (proof.Trust, error) { return proof.Trust{}, errors.New("read keys: permission denied") }, "retry"},
		{"not configured", nil, ErrTypeNotConfigured},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &Activities{Trust: tc.trust}
			var got proof.Trust
			err := execute(t, a.LoadTrust, &got, struct{}{})
			switch tc.wantType {
			case "":
				require.NoError(t, err)
				assert.Equal(t, want, got)
			case "retry":
				require.Error(t, err)
				_, nr := nonRetryable(err)
				assert.False(t, nr)
			default:
				typ, nr := nonRetryable(err)
				require.True(t, nr, "want non-retryable, got %v", err)
				assert.Equal(t, tc.wantType, typ)
			}
		})
	}
}

// gateFixture is the real gate (policy/*.cedar, the default directory) in
// front of fake connectors holding one open invoice of 12 000.00 EUR, which
// needs a finance manager's approval.
// fakeDescriber answers DescribeWorkflowExecution as the server would for
// a VendorPayment on queue.
type fakeDescriber struct {
	queue, typ string
	start      time.Time
}

func (f *fakeDescriber) DescribeWorkflowExecution(_ context.Context, id, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	typ := f.typ
	if typ == "" {
		typ = VendorPaymentWorkflow
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{
		ExecutionConfig: &workflowpb.WorkflowExecutionConfig{TaskQueue: &taskqueuepb.TaskQueue{Name: f.queue}},
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: runID},
			Type:      &commonpb.WorkflowType{Name: typ}, StartTime: timestamppb.New(f.start),
		},
	}, nil
}

type gateFixture struct {
	describer *fakeDescriber
	a         *Activities
	erp       *fakeERP
	tr        *fakeTreasury
	web       *proof.Signer
	pay       action.Payment
	digest    string
	now       time.Time
}

func newGateFixture(t *testing.T, now time.Time) *gateFixture {
	t.Helper()
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	eng, err := gate.Open(gate.FSSource(policy.DefaultPolicies()), func() time.Time { return now }, nil)
	require.NoError(t, err)
	vendor := erp.Vendor{ID: "V-1", Name: "Acme", BankAccount: erp.BankAccount{IBAN: "DE89370400440532013000", BIC: "COBADEFFXXX", AccountHolder: "Acme GmbH"}}
	inv := erp.Invoice{ID: "INV-1", VendorID: "V-1", AmountMinor: 1_200_000, Currency: "EUR", DueDate: "2026-03-01",
		BankAccount: vendor.BankAccount, Status: erp.InvoiceOpen}
	pay := action.NewPayment(inv, vendor)
	digest, err := action.Digest(pay)
	require.NoError(t, err)
	g := &gateFixture{erp: &fakeERP{invoice: inv, vendor: vendor,
		schedule: erp.ScheduleEntry{InvoiceID: inv.ID, Approved: true, AmountMinor: inv.AmountMinor}},
		tr: &fakeTreasury{}, web: newTestSigner(), pay: pay, digest: digest, now: now,
		describer: &fakeDescriber{queue: "default-test-taskqueue", start: now.Add(-time.Hour)}}
	g.a = &Activities{
		ERP: g.erp, Treasury: g.tr, Directory: dir, Gate: eng, Now: func() time.Time { return now }, Temporal: g.describer,
		Trust: func() (proof.Trust, error) {
			return proof.Trust{Keys: []proof.TrustedKey{trustedKey(g.web, proof.IssuerWeb)}}, nil
		},
	}
	return g
}

// approval is who's approval of slot for the run, proven by the web key as
// after sign-in; tamper edits the assertion before it is signed.
func (g *gateFixture) approval(t *testing.T, wfID, runID, who, slot string, tamper func(*proof.Assertion)) Approval {
	t.Helper()
	at := g.now.Add(-time.Hour)
	a := proof.Assertion{
		Kind: proof.KindApproval, WorkflowID: wfID, RunID: runID, Slot: slot, ActionDigest: g.digest,
		Decision: proof.DecisionApprove, Subject: who, Method: proof.MethodOIDC, IssuedAt: at.Add(-time.Minute), ExpiresAt: at.Add(time.Hour),
	}
	if tamper != nil {
		tamper(&a)
	}
	token, err := g.web.Sign(a)
	require.NoError(t, err)
	as, err := proof.Verify(token, proof.Trust{Keys: []proof.TrustedKey{trustedKey(g.web, proof.IssuerWeb)}}, proof.Expect{}, at)
	require.NoError(t, err)
	return Approval{Slot: slot, Approver: who, Decision: DecisionApprove, ActionDigest: g.digest, Target: PaymentTarget(g.pay), At: at,
		Proof: &approvals.Proof{Method: as.Method, KeyID: as.KeyID, Nonce: as.Nonce, Token: token}}
}

// releaseFrom runs ReleasePayment as scheduled by a workflow of type wfType
// and id wfID: the test activity environment cannot set either, and the
// release's gate reads both from activity.GetInfo. mkApprovals makes the
// approvals the request carries, for the run the workflow turned out to be.
func (g *gateFixture) releaseFrom(t *testing.T, wfType, wfID string, mkApprovals func(runID string) []Approval) error {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(g.now)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: wfID})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) (treasury.Payment, error) {
		req := ReleaseRequest{IdempotencyKey: IdempotencyKey(g.digest), Action: g.pay, ActionDigest: g.digest, RequestedBy: "ana"}
		if mkApprovals != nil {
			// Test-only workflow: it never replays, so it may sign here.
			req.Approvals = mkApprovals(workflow.GetInfo(ctx).WorkflowExecution.RunID)
		}
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		var p treasury.Payment
		err := workflow.ExecuteActivity(ctx, ActivityReleasePayment, req).Get(ctx, &p)
		return p, err
	}, workflow.RegisterOptions{Name: wfType})
	env.RegisterActivityWithOptions(g.a.ReleasePayment, activity.RegisterOptions{Name: ActivityReleasePayment})
	env.ExecuteWorkflow(wfType)
	require.True(t, env.IsWorkflowCompleted())
	return env.GetWorkflowError()
}

// ReleasePayment is its own gate: only this invoice's VendorPayment may
// release, exactly the ERP's current action, with approvals whose proofs
// verify for this run, and only when the policies permit it now.
func TestReleasePaymentGatesItself(t *testing.T) {
	at9 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	ownID := VendorPaymentID("INV-1")
	maria := func(tamper func(*proof.Assertion)) func(g *gateFixture, t *testing.T) func(string) []Approval {
		return func(g *gateFixture, t *testing.T) func(string) []Approval {
			return func(runID string) []Approval {
				return []Approval{g.approval(t, ownID, runID, "maria", "finance-manager", tamper)}
			}
		}
	}
	tests := []struct {
		name      string
		now       time.Time
		wfType    string
		wfID      string
		approvals func(g *gateFixture, t *testing.T) func(string) []Approval
		modify    func(g *gateFixture)
		wantType  string // "" = released
		wantMsg   string
	}{
		{name: "proven finance-manager approval is released", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID, approvals: maria(nil)},
		{name: "another workflow type", now: at9, wfType: "SomethingElse", wfID: ownID, approvals: maria(nil),
			wantType: ErrTypeNotOurs, wantMsg: `type "SomethingElse"`},
		{name: "another invoice's workflow", now: at9, wfType: VendorPaymentWorkflow, wfID: VendorPaymentID("INV-2"), approvals: maria(nil),
			wantType: ErrTypeNotOurs, wantMsg: "vendor-payment-INV-2"},
		{name: "our workflow's name and id, on another task queue", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID, approvals: maria(nil),
			modify: func(g *gateFixture) { g.describer.queue = "mallory" }, wantType: ErrTypeNotOurs, wantMsg: `task queue "mallory"`},
		{name: "invoice no longer on the schedule", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID, approvals: maria(nil),
			modify: func(g *gateFixture) { g.erp.schedule.Approved = false }, wantType: ErrTypeRefused, wantMsg: "not on the approved payment schedule"},
		{name: "invoice not due", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID, approvals: maria(nil),
			modify: func(g *gateFixture) { g.erp.invoice.DueDate = "2026-12-31" }, wantType: ErrTypeRefused, wantMsg: "not overdue"},
		{name: "one person in two slots", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID,
			approvals: func(g *gateFixture, t *testing.T) func(string) []Approval {
				return func(runID string) []Approval {
					return []Approval{g.approval(t, ownID, runID, "chen", "finance-manager", nil), g.approval(t, ownID, runID, "chen", "cfo", nil)}
				}
			}, wantType: ErrTypeProofRefused, wantMsg: "approved twice"},
		{name: "the requester approving", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID,
			approvals: func(g *gateFixture, t *testing.T) func(string) []Approval {
				return func(runID string) []Approval {
					return []Approval{g.approval(t, ownID, runID, "ana", "finance-manager", nil)}
				}
			}, wantType: ErrTypeProofRefused, wantMsg: "requested this action"},
		{name: "no approval", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID,
			wantType: ErrTypeGateDenied, wantMsg: "autonomy.threshold"},
		{name: "approval without proof", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID,
			approvals: func(g *gateFixture, t *testing.T) func(string) []Approval {
				return func(runID string) []Approval {
					a := g.approval(t, ownID, runID, "maria", "finance-manager", nil)
					a.Proof = nil
					return []Approval{a}
				}
			}, wantType: ErrTypeProofRefused, wantMsg: "approvals[0].proof"},
		{name: "proof for another run", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID,
			approvals: maria(func(a *proof.Assertion) { a.RunID = "another-run" }), wantType: ErrTypeProofRefused, wantMsg: "proof.runId"},
		{name: "proof for another workflow", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID,
			approvals: maria(func(a *proof.Assertion) { a.WorkflowID = VendorPaymentID("INV-2") }), wantType: ErrTypeProofRefused, wantMsg: "proof.workflowId"},
		{name: "proof for another action", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID,
			approvals: maria(func(a *proof.Assertion) { a.ActionDigest = "sha256:0000" }), wantType: ErrTypeProofRefused, wantMsg: "proof.actionDigest"},
		{name: "proof of another person", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID,
			approvals: maria(func(a *proof.Assertion) { a.Subject = "omar" }), wantType: ErrTypeProofRefused, wantMsg: "proof.sub"},
		{name: "proof by an untrusted key", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID,
			approvals: func(g *gateFixture, t *testing.T) func(string) []Approval {
				return func(runID string) []Approval {
					a := g.approval(t, ownID, runID, "maria", "finance-manager", nil)
					g.web = newTestSigner() // the key that signed it is no longer trusted
					return []Approval{a}
				}
			}, wantType: ErrTypeProofRefused, wantMsg: "proof.kid"},
		{name: "approver without the role", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID,
			approvals: func(g *gateFixture, t *testing.T) func(string) []Approval {
				return func(runID string) []Approval {
					return []Approval{g.approval(t, ownID, runID, "sofia", "finance-manager", nil)}
				}
			}, wantType: ErrTypeGateDenied, wantMsg: "autonomy.threshold"},
		{name: "ERP changed since the approval", now: at9, wfType: VendorPaymentWorkflow, wfID: ownID, approvals: maria(nil),
			modify: func(g *gateFixture) { g.erp.invoice.AmountMinor++ }, wantType: ErrTypeMismatch, wantMsg: "not the requested"},
		{name: "treasury cut-off", now: time.Date(2026, 3, 10, 23, 55, 0, 0, time.UTC), wfType: VendorPaymentWorkflow, wfID: ownID, approvals: maria(nil),
			wantType: ErrTypeGateDenied, wantMsg: "payment.window"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateFixture(t, tc.now)
			if tc.modify != nil {
				tc.modify(g)
			}
			var aps func(string) []Approval
			if tc.approvals != nil {
				aps = tc.approvals(g, t)
			}
			err := g.releaseFrom(t, tc.wfType, tc.wfID, aps)
			if tc.wantType == "" {
				require.NoError(t, err)
				assert.Equal(t, []string{IdempotencyKey(g.digest)}, g.tr.keys)
				return
			}
			typ, nr := nonRetryable(err)
			require.True(t, nr, "want non-retryable, got %v", err)
			assert.Equal(t, tc.wantType, typ)
			assert.Contains(t, err.Error(), tc.wantMsg)
			assert.Empty(t, g.tr.keys, "nothing reaches treasury")
		})
	}
}

// A release without a gate fails closed unless a test asked for it.
func TestReleasePaymentWithoutGateFailsClosed(t *testing.T) {
	pay := testAction()
	digest, err := action.Digest(pay)
	require.NoError(t, err)
	tr := &fakeTreasury{}
	err = execute(t, (&Activities{Treasury: tr}).ReleasePayment, nil, ReleaseRequest{IdempotencyKey: IdempotencyKey(digest), Action: pay, ActionDigest: digest})
	typ, nr := nonRetryable(err)
	require.True(t, nr, "want non-retryable, got %v", err)
	assert.Equal(t, ErrTypeNotConfigured, typ)
	assert.Empty(t, tr.keys)
}

// Without a workflow (the test activity environment's default type), the
// gated release refuses before reading anything.
func TestReleasePaymentOutsideItsWorkflowIsRefused(t *testing.T) {
	g := newGateFixture(t, time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC))
	g.erp.err = errors.New("the ERP must not be read")
	err := execute(t, g.a.ReleasePayment, nil, ReleaseRequest{IdempotencyKey: IdempotencyKey(g.digest), Action: g.pay, ActionDigest: g.digest})
	typ, nr := nonRetryable(err)
	require.True(t, nr, "want non-retryable, got %v", err)
	assert.Equal(t, ErrTypeNotOurs, typ)
	assert.Empty(t, g.tr.keys)
	assert.Empty(t, g.tr.listed)
}

// EvaluateGate answers with the decision, a deny included; the daily cap
// counts what the vendor already got today under other actions.
func TestEvaluateGate(t *testing.T) {
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	small := func(g *gateFixture) {
		g.erp.invoice.AmountMinor = 120000
		g.pay.AmountMinor = 120000
		d, err := action.Digest(g.pay)
		if err != nil {
			panic(err)
		}
		g.digest = d
	}
	paidToday := func(amount int64, at time.Time, status string) treasury.Payment {
		return treasury.Payment{ID: "PAY-0", IdempotencyKey: "vp-other", InvoiceID: "INV-0", VendorID: "V-1", AmountMinor: amount, Currency: "EUR", Status: status, ReleasedAt: at}
	}
	tests := []struct {
		name       string
		modify     func(g *gateFixture)
		withMaria  bool
		wantPermit bool
		wantRoles  []string
		wantIDs    []string
	}{
		{name: "big payment needs a finance manager", wantRoles: []string{"finance-manager"}, wantIDs: []string{"autonomy.threshold", "vendor.daily-cap"}},
		{name: "big payment with a proven approval", withMaria: true, wantPermit: true},
		{name: "small payment", modify: small, wantPermit: true},
		{name: "small payment over the daily cap", modify: func(g *gateFixture) {
			small(g)
			g.tr.existing = []treasury.Payment{paidToday(450000, now.Add(-time.Hour), treasury.StatusSettled)}
		}, wantRoles: []string{"finance-manager"}, wantIDs: []string{"vendor.daily-cap"}},
		{name: "yesterday's and failed payments do not count", modify: func(g *gateFixture) {
			small(g)
			g.tr.existing = []treasury.Payment{
				paidToday(450000, now.Add(-24*time.Hour), treasury.StatusSettled),
				paidToday(450000, now.Add(-time.Hour), treasury.StatusFailed),
			}
		}, wantPermit: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateFixture(t, now)
			if tc.modify != nil {
				tc.modify(g)
			}
			req := GateRequest{Action: g.pay, ActionDigest: g.digest, RequestedBy: "ana"}
			if tc.withMaria {
				req.Approvals = []Approval{g.approval(t, "default-test-workflow-id", "default-test-run-id", "maria", "finance-manager", nil)}
			}
			var d gate.Decision
			require.NoError(t, execute(t, g.a.EvaluateGate, &d, req))
			assert.Equal(t, tc.wantPermit, d.Permit, d.String())
			assert.NotEmpty(t, d.PolicySetHash)
			if tc.wantPermit {
				return
			}
			assert.True(t, d.NeedsApprovalOnly(), d.String())
			assert.Equal(t, tc.wantRoles, d.ApprovalRoles())
			var ids []string
			for _, r := range d.Reasons {
				ids = append(ids, r.PolicyID)
			}
			assert.Equal(t, tc.wantIDs, ids)
		})
	}
}

// memAudit keeps what is appended to the ledger.
type memAudit struct {
	mu     sync.Mutex
	events []audit.Event
}

func (m *memAudit) Append(_ context.Context, ev audit.Event) (audit.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, ev)
	return audit.Entry{Seq: int64(len(m.events)), Event: ev}, nil
}

// EvaluateGate appends its decision to the ledger under the calling run.
// Anyone can schedule it from a workflow of their own (named like ours,
// even), so with a ledger it serves only this invoice's VendorPayment:
// otherwise strangers write gate decisions into an invoice's audit trail
// and its KPIs, as many as they like.
func TestEvaluateGateRecordsOnlyForOurWorkflow(t *testing.T) {
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	g := newGateFixture(t, now)
	led := &memAudit{}
	g.a.Audit = led
	req := GateRequest{Action: g.pay, ActionDigest: g.digest, RequestedBy: "ana"}

	// A stranger (the plain activity environment: not a VendorPayment).
	err := execute(t, g.a.EvaluateGate, nil, req)
	typ, nr := nonRetryable(err)
	assert.True(t, nr && typ == ErrTypeNotOurs, "a stranger's gate request: %v", err)
	assert.Empty(t, led.events, "nothing appended for a stranger")

	// This invoice's VendorPayment: decided and recorded.
	var d gate.Decision
	require.NoError(t, executeAsVendorPayment(t, VendorPaymentID("INV-1"), ActivityEvaluateGate, g.a.EvaluateGate, &d, req))
	require.Len(t, led.events, 1)
	assert.Equal(t, audit.KindGate, led.events[0].Kind)
	assert.Equal(t, VendorPaymentID("INV-1"), led.events[0].WorkflowID)
}
