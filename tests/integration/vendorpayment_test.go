// Package integration runs VendorPayment end to end on a real Temporal dev
// server, a real worker and the sandbox systems over HTTP and SMTP (and
// PostgreSQL when DATABASE_URL is set).
package integration

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
	"github.com/execution-orchestrator/orchestrator/worker"
)

// paidChecks asserts what "paid" must mean in the systems themselves:
// exactly one treasury payment, settled; one email to the vendor's AP
// contact; the ERP invoice marked paid with the payment reference.
func paidChecks(t *testing.T, s *stack.Stack, invoiceID string, res vendorpayment.VendorPaymentResult) {
	t.Helper()
	ctx := context.Background()
	if res.Outcome != vendorpayment.OutcomePaid {
		t.Fatalf("outcome = %q (reason %q), want paid", res.Outcome, res.Reason)
	}
	if res.PaymentID == "" || res.VerifiedAt == nil || len(res.ActionDigest) != len("sha256:")+64 {
		t.Errorf("result lacks paymentId, verifiedAt or digest: %+v", res)
	}
	payments := paymentsFor(t, s, invoiceID)
	if len(payments) != 1 {
		t.Fatalf("treasury holds %d payments for %s, want exactly 1: %+v", len(payments), invoiceID, payments)
	}
	p := payments[0]
	if p.ID != res.PaymentID || p.Status != treasury.StatusSettled || p.ActionDigest != res.ActionDigest {
		t.Errorf("payment %+v does not match result %+v", p, res)
	}
	inv, err := erp.New(s.Sandbox.HTTPURL()).GetInvoice(ctx, invoiceID)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Status != erp.InvoicePaid || inv.PaymentReference != res.PaymentID {
		t.Errorf("ERP invoice = status %q ref %q, want paid with %q", inv.Status, inv.PaymentReference, res.PaymentID)
	}
	vendor, err := erp.New(s.Sandbox.HTTPURL()).GetVendor(ctx, inv.VendorID)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := email.New(s.Sandbox.SMTPAddr(), s.Sandbox.HTTPURL()).List(ctx, vendor.APContact.Email)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d emails to %s, want 1", len(msgs), vendor.APContact.Email)
	}
}

// history returns the workflow's events.
func history(t *testing.T, c tclient.Client, id string) []*historypb.HistoryEvent {
	t.Helper()
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	return events
}

// activityOrder lists completed activities' types in history order.
func activityOrder(events []*historypb.HistoryEvent) (completed []string, workflowDone int) {
	scheduled := map[int64]string{}
	workflowDone = -1
	for i, e := range events {
		switch e.EventType {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			scheduled[e.EventId] = e.GetActivityTaskScheduledEventAttributes().ActivityType.GetName()
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			completed = append(completed, scheduled[e.GetActivityTaskCompletedEventAttributes().ScheduledEventId])
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			workflowDone = i
		}
	}
	return completed, workflowDone
}

func start(t *testing.T, s *stack.Stack, invoiceID string) tclient.WorkflowRun {
	t.Helper()
	run, err := vendorpayment.Start(context.Background(), s.Temporal,
		vendorpayment.VendorPaymentInput{InvoiceID: invoiceID, RequestedBy: "agent:payables-bot"})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func result(t *testing.T, s *stack.Stack, run tclient.WorkflowRun) vendorpayment.VendorPaymentResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var res vendorpayment.VendorPaymentResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("workflow %s: %v", run.GetID(), err)
	}
	return res
}

func TestVendorPaymentAutonomousPaid(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	run := start(t, s, sandbox.InvoiceHappyPath)
	// A second start for the same invoice joins the running workflow.
	again := start(t, s, sandbox.InvoiceHappyPath)
	if again.GetRunID() != run.GetRunID() {
		t.Errorf("second start made run %s, want to join %s", again.GetRunID(), run.GetRunID())
	}
	res := result(t, s, run)
	paidChecks(t, s, sandbox.InvoiceHappyPath, res)
	// Once paid, a new start is refused rather than paying again.
	_, err := vendorpayment.Start(context.Background(), s.Temporal,
		vendorpayment.VendorPaymentInput{InvoiceID: sandbox.InvoiceHappyPath, RequestedBy: "agent:payables-bot"})
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if !errors.As(err, &already) {
		t.Errorf("start after payment: err = %v, want WorkflowExecutionAlreadyStarted", err)
	}

	events := history(t, s.Temporal, run.GetID())
	completed, done := activityOrder(events)
	verify := slices.Index(completed, vendorpayment.ActivityVerifySettlement)
	if verify < 0 || done < 0 {
		t.Fatalf("history lacks a completed %s (%v) or the workflow completion", vendorpayment.ActivityVerifySettlement, completed)
	}
	for _, later := range []string{vendorpayment.ActivityNotifyVendor, vendorpayment.ActivityMarkInvoicePaid} {
		if i := slices.Index(completed, later); i < verify {
			t.Errorf("%s completed at %d, before verification at %d: %v", later, i, verify, completed)
		}
	}
	if i := slices.Index(completed, vendorpayment.ActivityReleasePayment); i < 0 || i > verify {
		t.Errorf("ReleasePayment at %d, verification at %d: %v", i, verify, completed)
	}

	// The Temporal UI reads these: outcome and stage as search attributes.
	desc, err := s.Temporal.DescribeWorkflowExecution(context.Background(), run.GetID(), "")
	if err != nil {
		t.Fatal(err)
	}
	sa := desc.WorkflowExecutionInfo.SearchAttributes.GetIndexedFields()
	for key, want := range map[string]string{"EOOutcome": `"paid"`, "EOProcess": `"vendor-payment"`, "EOBusinessKey": `"INV-1042"`} {
		if got := string(sa[key].GetData()); got != want {
			t.Errorf("search attribute %s = %s, want %s", key, got, want)
		}
	}
	st, err := vendorpayment.QueryStatus(context.Background(), s.Temporal, run.GetID())
	if err != nil {
		t.Fatal(err)
	}
	if st.Stage != vendorpayment.StageDone || st.ActionDigest != res.ActionDigest {
		t.Errorf("status after completion = %+v", st)
	}
}

// At 30% injected 5xx on every sandbox endpoint, and responses lost after
// the effect on the release, durable retries still end in exactly one payment.
func TestVendorPaymentUnderFaultsPaysOnce(t *testing.T) {
	s := stack.Start(t, stack.Options{Faults: map[string]sandbox.Fault{
		"*":                       {ErrorRate: 0.3},
		"treasury.releasePayment": {ErrorRate: 0.5, AfterEffect: true},
	}, Worker: fastRetries})
	res := result(t, s, start(t, s, sandbox.InvoiceHappyPath))
	// Faults off before reading the systems back.
	if err := s.Sandbox.SetFaults(nil); err != nil {
		t.Fatal(err)
	}
	paidChecks(t, s, sandbox.InvoiceHappyPath, res)
}

// fastRetries keeps the production retry policies (durable retries are the
// point of the fault test) but with short intervals, so that a long unlucky
// run of injected failures costs seconds, not minutes.
func fastRetries(c *worker.Config) {
	cfg := vendorpayment.DefaultVendorPaymentConfig()
	for _, o := range []*workflow.ActivityOptions{&cfg.Read, &cfg.Release, &cfg.Settlement, &cfg.Notify, &cfg.Delivery} {
		rp := *o.RetryPolicy
		rp.InitialInterval, rp.MaximumInterval = 50*time.Millisecond, time.Second
		// Attempts are bounded by ScheduleToClose alone: with intervals this
		// short, 30 attempts can all fall in an unlucky minute of faults
		// and open breakers (about one run in five), which says nothing
		// about paying once.
		rp.MaximumAttempts = 0
		o.RetryPolicy = &rp
	}
	c.Tuning = map[string]any{vendorpayment.ProcessName: cfg}
	// The breaker's pause shrinks with the retry intervals: at its 30 s
	// default an unlucky run of faults keeps it open through every
	// (shortened) retry of a gated release, which reads the ERP and
	// treasury several times per attempt.
	c.HTTPOptions = []httpx.Option{httpx.WithBreaker(httpx.DefaultBreakerFailures, time.Second)}
}

func TestVendorPaymentBusinessOutcomes(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	tests := []struct {
		invoice, outcome string
	}{
		{sandbox.InvoiceBankMismatch, vendorpayment.OutcomeBankDetailsMismatch},
		{sandbox.InvoiceNotDue, vendorpayment.OutcomeNotDue},
		{sandbox.InvoiceUnscheduled, vendorpayment.OutcomeFailed},
	}
	for _, tt := range tests {
		t.Run(tt.invoice, func(t *testing.T) {
			res := result(t, s, start(t, s, tt.invoice))
			if res.Outcome != tt.outcome || res.Reason == "" {
				t.Errorf("outcome = %q reason %q, want %q with a reason", res.Outcome, res.Reason, tt.outcome)
			}
			if payments := paymentsFor(t, s, tt.invoice); len(payments) != 0 {
				t.Errorf("%d payments released for %s", len(payments), tt.invoice)
			}
		})
	}
}

// Invalid input fails the workflow at once with a non-retryable error that
// names the field.
func TestVendorPaymentInvalidInput(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	run, err := s.Temporal.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{
		ID: "vendor-payment-invalid", TaskQueue: process.TaskQueue,
		WorkflowExecutionTimeout: time.Minute,
	}, vendorpayment.VendorPaymentWorkflow, vendorpayment.VendorPaymentInput{InvoiceID: "", RequestedBy: "agent:x"})
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "invoiceId") {
		t.Fatalf("err = %v, want a failure naming invoiceId", err)
	}
}

// The same OpenTelemetry interceptor the binaries install traces the start,
// the workflow run and each activity as spans of one trace.
func TestVendorPaymentIsTraced(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s := stack.Start(t, stack.Options{Tracer: tp.Tracer("integration")})
	res := result(t, s, start(t, s, sandbox.InvoiceHappyPath))
	if res.Outcome != vendorpayment.OutcomePaid {
		t.Fatalf("outcome %s", res.Outcome)
	}
	names := map[string]bool{}
	traces := map[string]bool{}
	for _, sp := range rec.Ended() {
		names[sp.Name()] = true
		traces[sp.SpanContext().TraceID().String()] = true
	}
	for _, want := range []string{"StartWorkflow:VendorPayment", "RunWorkflow:VendorPayment",
		"RunActivity:ReleasePayment", "RunActivity:VerifySettlement", "RunActivity:MarkInvoicePaid"} {
		if !names[want] {
			t.Errorf("no span %q among %v", want, names)
		}
	}
	if len(traces) != 1 {
		t.Errorf("spans belong to %d traces, want 1", len(traces))
	}
}
