package workflows

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
)

// fakeActivities stands in for activities.Activities in workflow tests. Its
// exported methods are registered as activities under their method names,
// which are the contract names. Activities run on other goroutines, hence
// the mutex.
type fakeActivities struct {
	mu sync.Mutex

	// invoices[i] is returned by the i-th LoadInvoice; the last repeats.
	invoices []erp.Invoice
	vendor   erp.Vendor
	schedule ScheduleCheckResult
	plan     ApprovalPlan
	// invalidApprovers is returned once by CheckApprovers.
	invalidApprovers []ApproverProblem
	// releaseErr, if set, is returned by ReleasePayment.
	releaseErr error
	// settleAfter is how many VerifySettlement calls see "released" before
	// "settled"; negative never settles.
	settleAfter int
	// delivered reports whether VerifyEmailDelivered finds the message.
	undelivered bool

	calls     []string
	notes     []NoteRequest
	notified  []NotifyApproversRequest
	requester []NotifyRequesterRequest
	releases  []ReleaseRequest
	vendorMsg []NotifyVendorRequest
	markPaid  []MarkPaidRequest
	escalated []EscalationRequest
	checked   []CheckApproversRequest
	settles   int
	loads     int
}

var _ VendorPaymentActivities = (*fakeActivities)(nil)

var (
	testStart    = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	testSettled  = time.Date(2026, 3, 10, 9, 5, 0, 0, time.UTC)
	testVendor   = erp.Vendor{ID: "V-7", Name: "Acme Supplies", BankAccount: erp.BankAccount{IBAN: "DE89370400440532013000", BIC: "COBADEFFXXX", AccountHolder: "Acme Supplies GmbH"}, APContact: erp.Contact{Name: "AP", Email: "ap@acme.example"}}
	testPlanAuto = ApprovalPlan{Tier: "autonomous", Autonomous: true, Reason: "within the autonomous limit"}
)

func testInvoice(amountMinor int64) erp.Invoice {
	return erp.Invoice{
		ID: "INV-1042", VendorID: "V-7", AmountMinor: amountMinor, Currency: "EUR",
		IssueDate: "2026-02-01", DueDate: "2026-03-01", BankAccount: testVendor.BankAccount, Status: erp.InvoiceOpen,
	}
}

func newFake() *fakeActivities {
	return &fakeActivities{
		invoices: []erp.Invoice{testInvoice(120000)},
		vendor:   testVendor,
		schedule: ScheduleCheckResult{OnSchedule: true},
		plan:     testPlanAuto,
	}
}

// enter locks the fake and records a call of activity name; defer the
// returned unlock.
func (f *fakeActivities) enter(name string) (unlock func()) {
	f.mu.Lock()
	f.calls = append(f.calls, name)
	return f.mu.Unlock
}

// keep records a call that only stores its request and succeeds.
func keep[T any](f *fakeActivities, name string, into *[]T, req T) error {
	defer f.enter(name)()
	*into = append(*into, req)
	return nil
}

func (f *fakeActivities) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == name {
			n++
		}
	}
	return n
}

func (f *fakeActivities) LoadInvoice(_ context.Context, id string) (erp.Invoice, error) {
	defer f.enter(ActivityLoadInvoice)()
	inv := f.invoices[min(f.loads, len(f.invoices)-1)]
	f.loads++
	if inv.ID != id {
		return erp.Invoice{}, temporal.NewNonRetryableApplicationError("invoice "+id+" not found", "NotFound", nil)
	}
	return inv, nil
}

func (f *fakeActivities) LoadVendor(_ context.Context, id string) (erp.Vendor, error) {
	defer f.enter(ActivityLoadVendor)()
	return f.vendor, nil
}

func (f *fakeActivities) CheckPaymentSchedule(_ context.Context, _ ScheduleCheck) (ScheduleCheckResult, error) {
	defer f.enter(ActivityCheckPaymentSchedule)()
	return f.schedule, nil
}

func (f *fakeActivities) PlanApprovals(_ context.Context, _ PlanRequest) (ApprovalPlan, error) {
	defer f.enter(ActivityPlanApprovals)()
	return f.plan, nil
}

func (f *fakeActivities) NotifyApprovers(_ context.Context, req NotifyApproversRequest) (NotifyApproversResult, error) {
	defer f.enter(ActivityNotifyApprovers)()
	f.notified = append(f.notified, req)
	return NotifyApproversResult{Notified: req.Approvers}, nil
}

func (f *fakeActivities) CheckApprovers(_ context.Context, req CheckApproversRequest) (CheckApproversResult, error) {
	defer f.enter(ActivityCheckApprovers)()
	f.checked = append(f.checked, req)
	res := CheckApproversResult{Invalid: f.invalidApprovers}
	f.invalidApprovers = nil
	return res, nil
}

func (f *fakeActivities) NotifyRequester(_ context.Context, req NotifyRequesterRequest) error {
	return keep(f, ActivityNotifyRequester, &f.requester, req)
}

func (f *fakeActivities) ReleasePayment(_ context.Context, req ReleaseRequest) (treasury.Payment, error) {
	defer f.enter(ActivityReleasePayment)()
	f.releases = append(f.releases, req)
	if f.releaseErr != nil {
		return treasury.Payment{}, f.releaseErr
	}
	return treasury.Payment{
		ID: "PAY-1", IdempotencyKey: req.IdempotencyKey, InvoiceID: req.Action.InvoiceID, VendorID: req.Action.VendorID,
		AmountMinor: req.Action.AmountMinor, Currency: req.Action.Currency, Beneficiary: req.Action.Beneficiary,
		Reference: req.Action.Reference, ActionDigest: req.ActionDigest, Status: treasury.StatusReleased, ReleasedAt: testStart,
	}, nil
}

func (f *fakeActivities) VerifySettlement(_ context.Context, id string) (treasury.Payment, error) {
	defer f.enter(ActivityVerifySettlement)()
	f.settles++
	if f.settleAfter < 0 || f.settles <= f.settleAfter {
		return treasury.Payment{}, temporal.NewApplicationError("payment "+id+" is still released", "NotSettled")
	}
	at := testSettled
	return treasury.Payment{ID: id, Status: treasury.StatusSettled, SettledAt: &at}, nil
}

func (f *fakeActivities) NotifyVendor(_ context.Context, req NotifyVendorRequest) error {
	return keep(f, ActivityNotifyVendor, &f.vendorMsg, req)
}

func (f *fakeActivities) VerifyEmailDelivered(_ context.Context, id string) (email.StoredMessage, error) {
	defer f.enter(ActivityVerifyEmailDelivered)()
	if f.undelivered {
		return email.StoredMessage{}, temporal.NewApplicationError("message "+id+" not found", "NotDelivered")
	}
	return email.StoredMessage{MessageID: id}, nil
}

func (f *fakeActivities) MarkInvoicePaid(_ context.Context, req MarkPaidRequest) (erp.Invoice, error) {
	defer f.enter(ActivityMarkInvoicePaid)()
	f.markPaid = append(f.markPaid, req)
	inv := testInvoice(0)
	inv.Status, inv.PaymentReference = erp.InvoicePaid, req.PaymentReference
	return inv, nil
}

func (f *fakeActivities) RecordNote(_ context.Context, req NoteRequest) error {
	return keep(f, ActivityRecordNote, &f.notes, req)
}

func (f *fakeActivities) EscalateToFinanceOps(_ context.Context, req EscalationRequest) error {
	return keep(f, ActivityEscalate, &f.escalated, req)
}

func (f *fakeActivities) snapshotNotified() []NotifyApproversRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.notified)
}

func digestOf(t testing.TB, inv erp.Invoice, v erp.Vendor) string {
	t.Helper()
	d, err := action.Digest(action.NewPayment(inv, v))
	if err != nil {
		t.Fatalf("digest: %v", err)
	}
	return d
}
