package vendorpayment

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// fakeActivities stands in for Activities in workflow tests. Its
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
	// undelivered makes VerifyEmailDelivered not find the message.
	undelivered bool

	// rolesPlan, when it has slots, is what PlanApprovals returns for a
	// request naming roles (the gate asked for people the tier does not).
	rolesPlan ApprovalPlan
	// releasedToday is what treasury already paid the vendor today, for the
	// gate's daily cap.
	releasedToday int64
	// gateDeny are reasons the gate always adds (e.g. a forbid no approval
	// lifts); gateErr makes EvaluateGate fail.
	gateDeny []gate.Reason
	gateErr  error
	// web signs approvals as the web app does after sign-in; worker signs
	// the assertions of checked one-time codes. LoadTrust returns both.
	web, worker *proof.Signer
	// now is the clock of the assertions the fake signs: the test
	// environment's, which the workflow verifies against.
	now func() time.Time

	calls     []string
	notes     []NoteRequest
	notified  []NotifyApproversRequest
	requester []NotifyRequesterRequest
	releases  []ReleaseRequest
	vendorMsg []NotifyVendorRequest
	markPaid  []MarkPaidRequest
	escalated []EscalationRequest
	checked   []CheckApproversRequest
	planReqs  []PlanRequest
	gateReqs  []GateRequest
	codeReqs  []approvals.CodeCheck
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

// testCode is the one-time code the fake accepts for any known person.
const testCode = "123456"

// codePeople are the people the fake's authenticator store knows.
var codePeople = []string{"maria", "omar", "lena", "chen", "sofia"}

func newFake() *fakeActivities {
	return &fakeActivities{
		invoices: []erp.Invoice{testInvoice(120000)},
		vendor:   testVendor,
		schedule: ScheduleCheckResult{OnSchedule: true},
		plan:     testPlanAuto,
		web:      newTestSigner(),
		worker:   newTestSigner(),
		now:      func() time.Time { return testStart },
	}
}

func newTestSigner() *proof.Signer {
	_, priv, err := proof.GenerateKey()
	if err != nil {
		panic(err)
	}
	return proof.NewSigner(priv)
}

// trustedKey lists s as a key of issuer with its default methods.
func trustedKey(s *proof.Signer, issuer string) proof.TrustedKey {
	return proof.TrustedKey{KeyID: s.KeyID(), Public: proof.EncodePublicKey(s.Public()), Issuer: issuer}
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

func (f *fakeActivities) PlanApprovals(_ context.Context, req PlanRequest) (ApprovalPlan, error) {
	defer f.enter(ActivityPlanApprovals)()
	f.planReqs = append(f.planReqs, req)
	if len(req.Roles) > 0 && len(f.rolesPlan.Slots) > 0 {
		return f.rolesPlan, nil
	}
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

// EvaluateGate emulates policy/vendorpayment.cedar for what the workflow
// tests exercise: only approvals that carry a proof count (the real gate
// verifies them); above 5 000.00 EUR a finance-manager approval is needed,
// above 25 000.00 EUR a CFO's too; without approvals a vendor gets at most
// 5 000.00 EUR a day. gateDeny adds reasons no approval lifts.
func (f *fakeActivities) EvaluateGate(_ context.Context, req GateRequest) (gate.Decision, error) {
	defer f.enter(ActivityEvaluateGate)()
	f.gateReqs = append(f.gateReqs, req)
	if f.gateErr != nil {
		return gate.Decision{}, f.gateErr
	}
	roles, count := map[string]bool{}, 0
	for _, a := range req.Approvals {
		if a.Decision == DecisionApprove && a.Proof != nil && a.ActionDigest == req.ActionDigest {
			roles[a.Slot] = true
			count++
		}
	}
	amount := req.Action.AmountMinor
	var reasons []gate.Reason
	if amount > 500000 && !roles["finance-manager"] {
		reasons = append(reasons, gate.Reason{PolicyID: "autonomy.threshold", Approval: "finance-manager", Message: "above 5 000.00 EUR"})
	}
	if amount > 2500000 && !roles["cfo"] {
		reasons = append(reasons, gate.Reason{PolicyID: "tier.cfo", Approval: "cfo", Message: "above 25 000.00 EUR"})
	}
	if count == 0 && f.releasedToday+amount > 500000 {
		reasons = append(reasons, gate.Reason{PolicyID: "vendor.daily-cap", Approval: "finance-manager", Message: "more than 5 000.00 EUR today"})
	}
	reasons = append(reasons, f.gateDeny...)
	slices.SortFunc(reasons, func(a, b gate.Reason) int { return strings.Compare(a.PolicyID, b.PolicyID) })
	return gate.Decision{Permit: len(reasons) == 0, Reasons: reasons, PolicySetHash: "sha256:fake", At: f.now()}, nil
}

func (f *fakeActivities) LoadTrust(context.Context, struct{}) (proof.Trust, error) {
	defer f.enter(ActivityLoadTrust)()
	return proof.Trust{Keys: []proof.TrustedKey{trustedKey(f.web, proof.IssuerWeb), trustedKey(f.worker, proof.IssuerWorker)}}, nil
}

// CheckApprovalCode accepts testCode for a known person and signs the
// decision with the worker key, as the real activity does; anything else is
// refused non-retryably.
func (f *fakeActivities) CheckApprovalCode(_ context.Context, req approvals.CodeCheck) (string, error) {
	defer f.enter(ActivityCheckApprovalCode)()
	f.codeReqs = append(f.codeReqs, req)
	if req.Code != testCode || !slices.Contains(codePeople, req.Approver) {
		return "", temporal.NewNonRetryableApplicationError("proof.totp: invalid code", ErrTypeProofRefused, nil)
	}
	now := f.now()
	return f.worker.Sign(proof.Assertion{
		Kind: proof.KindApproval, WorkflowID: req.WorkflowID, RunID: req.RunID, Slot: req.Slot,
		ActionDigest: req.ActionDigest, Decision: req.Decision, Subject: req.Approver, Method: proof.MethodTOTP,
		IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute),
	})
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
