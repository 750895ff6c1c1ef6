package erp_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/internal/connectortest"
	"github.com/execution-orchestrator/orchestrator/sandbox"
)

var quiet = httpx.WithLogger(connectortest.Quiet())

func start(t *testing.T, faults map[string]sandbox.Fault) *sandbox.Server {
	return connectortest.Start(t, faults, nil)
}

func TestReads(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	c := erp.New(s.HTTPURL(), quiet)
	ctx := context.Background()

	inv, err := c.GetInvoice(ctx, sandbox.InvoiceHappyPath)
	require.NoError(t, err)
	assert.Equal(t, int64(125000), inv.AmountMinor)
	assert.Equal(t, erp.InvoiceOpen, inv.Status)

	v, err := c.GetVendor(ctx, inv.VendorID)
	require.NoError(t, err)
	assert.Equal(t, v.BankAccount, inv.BankAccount)

	e, err := c.GetScheduleEntry(ctx, sandbox.InvoiceHappyPath)
	require.NoError(t, err)
	assert.True(t, e.Approved)

	_, err = c.GetScheduleEntry(ctx, sandbox.InvoiceUnscheduled)
	require.Error(t, err)
	assert.True(t, erp.IsNotFound(err))
	assert.True(t, httpx.IsPermanent(err))

	_, err = c.GetInvoice(ctx, "INV-0000")
	assert.True(t, erp.IsNotFound(err))

	list, err := c.ListOverdueInvoices(ctx, connectortest.Day0())
	require.NoError(t, err)
	assert.Len(t, list, 5)
	for _, inv := range list {
		assert.NotEqual(t, sandbox.InvoiceNotDue, inv.ID)
	}
}

func TestInputValidation(t *testing.T) {
	t.Parallel()
	c := erp.New("http://127.0.0.1:1", quiet) // never reached
	ctx := context.Background()
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"get invoice", func() error { _, err := c.GetInvoice(ctx, ""); return err }, "invoiceId"},
		{"get vendor", func() error { _, err := c.GetVendor(ctx, " "); return err }, "vendorId"},
		{"schedule", func() error { _, err := c.GetScheduleEntry(ctx, ""); return err }, "invoiceId"},
		{"list", func() error { _, err := c.ListOverdueInvoices(ctx, time.Time{}); return err }, "asOf"},
		{"mark paid", func() error { _, err := c.MarkPaid(ctx, "INV-1", ""); return err }, "paymentReference"},
		{"note key", func() error { return c.AddNote(ctx, "INV-1", "", "x") }, "idempotencyKey"},
		{"note text", func() error { return c.AddNote(ctx, "INV-1", "k", "") }, "text"},
	}
	for _, tc := range tests {
		err := tc.call()
		require.Error(t, err, tc.name)
		assert.True(t, httpx.IsPermanent(err), tc.name)
		var he *httpx.Error
		require.ErrorAs(t, err, &he)
		assert.Equal(t, tc.field, he.Field, tc.name)
	}
}

func TestMarkPaidAndNotes(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	c := erp.New(s.HTTPURL(), quiet)
	ctx := context.Background()

	inv, err := c.MarkPaid(ctx, sandbox.InvoiceHappyPath, "PAY-1")
	require.NoError(t, err)
	assert.Equal(t, erp.InvoicePaid, inv.Status)
	again, err := c.MarkPaid(ctx, sandbox.InvoiceHappyPath, "PAY-1")
	require.NoError(t, err)
	assert.Equal(t, inv, again)
	_, err = c.MarkPaid(ctx, sandbox.InvoiceHappyPath, "PAY-2")
	require.Error(t, err)
	assert.True(t, httpx.IsPermanent(err))
	assert.Equal(t, 409, httpx.StatusCode(err))

	require.NoError(t, c.AddNote(ctx, sandbox.InvoiceLarge, "run-1/activity-5", "Approval requested"))
	require.NoError(t, c.AddNote(ctx, sandbox.InvoiceLarge, "run-1/activity-5", "Approval requested"))
	got, err := c.GetInvoice(ctx, sandbox.InvoiceLarge)
	require.NoError(t, err)
	assert.Equal(t, []string{"Approval requested"}, got.Notes)
}

func TestInjected5xxIsTransientAndNotRetried(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]sandbox.Fault{sandbox.EndpointERPMarkPaid: {ErrorRate: 1}})
	c := erp.New(s.HTTPURL(), quiet)
	_, err := c.MarkPaid(context.Background(), sandbox.InvoiceHappyPath, "PAY-1")
	require.Error(t, err)
	assert.False(t, httpx.IsPermanent(err))
	assert.Equal(t, 503, httpx.StatusCode(err))
	// Before-effect fault: nothing changed.
	require.NoError(t, s.SetFaults(nil))
	inv, err := c.GetInvoice(context.Background(), sandbox.InvoiceHappyPath)
	require.NoError(t, err)
	assert.Equal(t, erp.InvoiceOpen, inv.Status)
}

func TestLatencyBeyondTimeout(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]sandbox.Fault{sandbox.EndpointERPGetInvoice: {Latency: 5 * time.Second}})
	c := erp.New(s.HTTPURL(), quiet, httpx.WithTimeout(100*time.Millisecond))
	began := time.Now()
	_, err := c.GetInvoice(context.Background(), sandbox.InvoiceHappyPath)
	require.Error(t, err)
	assert.True(t, httpx.IsTimeout(err), "%v", err)
	assert.False(t, httpx.IsPermanent(err))
	// Loose bound: the call gave up long before the injected latency ended.
	assert.Less(t, time.Since(began), 4*time.Second)
}

func TestBreakerOpens(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]sandbox.Fault{sandbox.EndpointERPGetVendor: {ErrorRate: 1}})
	c := erp.New(s.HTTPURL(), quiet, httpx.WithBreaker(2, time.Hour))
	ctx := context.Background()
	for range 2 {
		_, err := c.GetVendor(ctx, sandbox.VendorAcme)
		require.Error(t, err)
		assert.False(t, httpx.IsBreakerOpen(err))
	}
	require.NoError(t, s.SetFaults(nil))
	_, err := c.GetVendor(ctx, sandbox.VendorAcme)
	require.Error(t, err)
	assert.True(t, httpx.IsBreakerOpen(err), "%v", err)
	assert.False(t, httpx.IsPermanent(err))
}
