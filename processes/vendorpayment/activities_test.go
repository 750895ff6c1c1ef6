package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/workflows"
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
	issued []string // personID|workflowID|digest|ttl
}

func (f *fakeLinks) Issue(_ context.Context, person, wf, digest string, ttl time.Duration) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issued = append(f.issued, fmt.Sprintf("%s|%s|%s|%s", person, wf, digest, ttl))
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
		{"MarkInvoicePaid", a.MarkInvoicePaid, workflows.MarkPaidRequest{InvoiceID: "INV-1"}, "paymentReference"},
		{"RecordNote", a.RecordNote, workflows.NoteRequest{InvoiceID: "INV-1"}, "text"},
		{"NotifyVendor", a.NotifyVendor, workflows.NotifyVendorRequest{MessageID: "<x@y>"}, "vendor.apContact.email"},
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
	good := workflows.ReleaseRequest{IdempotencyKey: workflows.IdempotencyKey(digest), Action: pay, ActionDigest: digest}
	tampered := good
	tampered.Action.AmountMinor++
	wrongKey := good
	wrongKey.IdempotencyKey = "vp-something-else"

	tests := []struct {
		name      string
		req       workflows.ReleaseRequest
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
			a := &Activities{Treasury: tr}
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
	req := workflows.ReleaseRequest{IdempotencyKey: workflows.IdempotencyKey(digest), Action: pay, ActionDigest: digest}
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
			a := &Activities{Treasury: tr}
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
			var res workflows.ScheduleCheckResult
			require.NoError(t, execute(t, a.CheckPaymentSchedule, &res, workflows.ScheduleCheck{InvoiceID: "INV-1", AmountMinor: 100}))
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
			err := execute(t, a.MarkInvoicePaid, nil, workflows.MarkPaidRequest{InvoiceID: "INV-1", PaymentReference: "PAY-1"})
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
	req := workflows.NoteRequest{InvoiceID: "INV-1", Text: "hello"}
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
	req := workflows.NotifyApproversRequest{
		WorkflowID: "vendor-payment-INV-1", Kind: workflows.NotifyRequest, Slot: "finance-manager",
		Approvers: []string{"maria", "nobody"}, Action: pay, ActionDigest: "sha256:abc",
		ApprovalReason: "above the autonomous limit", Deadline: now.Add(72 * time.Hour),
	}
	var res workflows.NotifyApproversResult
	require.NoError(t, execute(t, a.NotifyApprovers, &res, req))
	assert.Equal(t, []string{"maria"}, res.Notified, "unknown people are skipped")
	require.Len(t, mail.sent, 1)
	msg := mail.sent[0]
	assert.Equal(t, []string{"maria@example.com"}, msg.To)
	assert.Contains(t, msg.Body, "http://127.0.0.1:8080/approvals/vendor-payment-INV-1?token=tok-maria-1")
	assert.Contains(t, msg.Body, "sha256:abc")
	assert.Equal(t, []string{"maria|vendor-payment-INV-1|sha256:abc|72h0m0s"}, links.issued)

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
	req := workflows.CheckApproversRequest{Approvals: []workflows.Approval{
		{Slot: "finance-manager", Approver: "maria"},                      // holds the role
		{Slot: "cfo", Approver: "maria"},                                  // does not
		{Slot: "finance-manager", Approver: "chen", OnBehalfOf: "omar"},   // omar's manager
		{Slot: "cfo", Approver: "sofia", OnBehalfOf: "chen"},              // chen's manager and delegate
		{Slot: "finance-manager", Approver: "sofia", OnBehalfOf: "maria"}, // not maria's stand-in
		{Slot: "finance-manager", Approver: "ghost"},                      // not in directory
	}}
	var res workflows.CheckApproversResult
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
			require.NoError(t, execute(t, a.NotifyRequester, nil, workflows.NotifyRequesterRequest{
				WorkflowID: "wf", RequestedBy: tc.requester, InvoiceID: "INV-1", Outcome: workflows.OutcomeRejected, Reason: "rejected by maria",
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
		req       workflows.PlanRequest
		wantTier  string
		wantSlots int
		wantErr   bool
	}{
		{"autonomous", workflows.PlanRequest{AmountMinor: 120000, Currency: "EUR"}, "autonomous", 0, false},
		{"finance manager", workflows.PlanRequest{AmountMinor: 1_000_000, Currency: "EUR"}, "finance-manager", 1, false},
		{"cfo", workflows.PlanRequest{AmountMinor: 4_800_000, Currency: "EUR"}, "cfo", 2, false},
		{"other currency refused", workflows.PlanRequest{AmountMinor: 100, Currency: "USD"}, "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var plan workflows.ApprovalPlan
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
