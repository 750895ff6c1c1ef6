package treasury_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/internal/connectortest"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/sandbox"
)

var quiet = httpx.WithLogger(connectortest.Quiet())

func request(amount int64) treasury.PaymentRequest {
	return treasury.PaymentRequest{
		InvoiceID: sandbox.InvoiceHappyPath, VendorID: sandbox.VendorAcme, AmountMinor: amount, Currency: "EUR",
		Beneficiary: erp.BankAccount{IBAN: "DE89370400440532013000", BIC: "COBADEFFXXX", AccountHolder: "Acme Office Supplies GmbH"},
		Reference:   "Invoice INV-1042", ActionDigest: "sha256:feed",
	}
}

// sandboxURL starts a sandbox whose payments never settle and
// returns its base URL.
func sandboxURL(t testing.TB) string { return start(t, nil).HTTPURL() }

func start(t testing.TB, faults map[string]sandbox.Fault) *sandbox.Server {
	return connectortest.Start(t, faults, func(c *sandbox.Config) {
		c.SettleAfter = -1 // stays released: these tests are not about settlement
	})
}

func TestReleaseIdempotent(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	c := treasury.New(s.HTTPURL(), quiet)
	ctx := context.Background()

	p, err := c.ReleasePayment(ctx, "sha256:feed", request(125000))
	require.NoError(t, err)
	assert.Equal(t, treasury.StatusReleased, p.Status)
	assert.Equal(t, int64(125000), p.AmountMinor)

	again, err := c.ReleasePayment(ctx, "sha256:feed", request(125000))
	require.NoError(t, err)
	assert.Equal(t, p, again)

	_, err = c.ReleasePayment(ctx, "sha256:feed", request(999))
	require.Error(t, err)
	assert.True(t, httpx.IsPermanent(err))
	assert.True(t, treasury.IsIdempotencyConflict(err))

	got, err := c.GetPayment(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, p, got)

	list, err := c.ListPayments(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 1)
	list, err = c.ListPaymentsForInvoice(ctx, sandbox.InvoiceHappyPath)
	require.NoError(t, err)
	assert.Len(t, list, 1)

	_, err = c.GetPayment(ctx, "PAY-NONE")
	assert.True(t, treasury.IsNotFound(err))
}

func TestValidationIsPermanent(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	c := treasury.New(s.HTTPURL(), quiet)
	tests := []struct {
		name  string
		key   string
		mut   func(*treasury.PaymentRequest)
		field string
	}{
		{"no key", "", func(*treasury.PaymentRequest) {}, "Idempotency-Key"},
		{"zero amount", "k1", func(r *treasury.PaymentRequest) { r.AmountMinor = 0 }, "amountMinor"},
		{"bad currency", "k2", func(r *treasury.PaymentRequest) { r.Currency = "EURO" }, "currency"},
		{"no iban", "k3", func(r *treasury.PaymentRequest) { r.Beneficiary.IBAN = "" }, "beneficiary.iban"},
	}
	for _, tc := range tests {
		req := request(125000)
		tc.mut(&req)
		_, err := c.ReleasePayment(context.Background(), tc.key, req)
		require.Error(t, err, tc.name)
		assert.True(t, httpx.IsPermanent(err), tc.name)
		var he *httpx.Error
		require.ErrorAs(t, err, &he)
		assert.Equal(t, tc.field, he.Field, tc.name)
	}
	list, err := c.ListPayments(context.Background())
	require.NoError(t, err)
	assert.Empty(t, list)
}

// A lost response (fault after the effect) is retried by the caller with the
// same key and finds the one payment: no double release.
func TestLostResponseThenRetry(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]sandbox.Fault{sandbox.EndpointTreasuryRelease: {ErrorRate: 1, AfterEffect: true}})
	c := treasury.New(s.HTTPURL(), quiet)
	ctx := context.Background()

	_, err := c.ReleasePayment(ctx, "sha256:feed", request(125000))
	require.Error(t, err)
	assert.False(t, httpx.IsPermanent(err))
	assert.Equal(t, 503, httpx.StatusCode(err))

	require.NoError(t, s.SetFaults(nil))
	p, err := c.ReleasePayment(ctx, "sha256:feed", request(125000))
	require.NoError(t, err)
	list, err := c.ListPayments(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, p.ID, list[0].ID)
}

func TestInjected5xxBeforeEffect(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]sandbox.Fault{sandbox.EndpointTreasuryRelease: {ErrorRate: 1}})
	c := treasury.New(s.HTTPURL(), quiet)
	_, err := c.ReleasePayment(context.Background(), "k", request(125000))
	require.Error(t, err)
	assert.False(t, httpx.IsPermanent(err))
	list, err := c.ListPayments(context.Background())
	require.NoError(t, err)
	assert.Empty(t, list, "no half-done release and no hidden retry")
}
