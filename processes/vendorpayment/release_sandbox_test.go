package vendorpayment

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/sandbox/sandboxtest"
)

// Two runs for one invoice on the real treasury (sandbox over HTTP): the
// first pays; the second, whose action changed because the ERP invoice was
// edited in between, is refused instead of paying a second time. Repeating
// the first run's release is idempotent and still allowed.
func TestReleasePaymentAcrossRunsOnSandboxTreasury(t *testing.T) {
	sb := sandboxtest.Start(t, nil)
	ctx := context.Background()
	erpc := erp.New(sb.HTTPURL())
	inv, err := erpc.GetInvoice(ctx, sandbox.InvoiceHappyPath)
	require.NoError(t, err)
	vendor, err := erpc.GetVendor(ctx, inv.VendorID)
	require.NoError(t, err)
	tc := treasury.New(sb.HTTPURL())
	// Ungated: this is about treasury's answers across runs; the gate's own
	// checks are TestReleasePaymentGatesItself's.
	a := &Activities{Treasury: tc, Ungated: true}

	release := func(inv erp.Invoice) (treasury.Payment, error) {
		pay := action.NewPayment(inv, vendor)
		digest, err := action.Digest(pay)
		require.NoError(t, err)
		var p treasury.Payment
		err = execute(t, a.ReleasePayment, &p, ReleaseRequest{IdempotencyKey: IdempotencyKey(digest), Action: pay, ActionDigest: digest})
		return p, err
	}

	first, err := release(inv)
	require.NoError(t, err)

	edited := inv
	edited.AmountMinor += 100 // the ERP amount changed before the next run
	_, err = release(edited)
	typ, nr := nonRetryable(err)
	require.True(t, nr, "want non-retryable refusal, got %v", err)
	assert.Equal(t, ErrTypeAlreadyPaid, typ)
	assert.Contains(t, err.Error(), "already has payment "+first.ID+" (released under another action")

	again, err := release(inv)
	require.NoError(t, err, "the same action releases idempotently")
	assert.Equal(t, first.ID, again.ID)

	payments, err := tc.ListPaymentsForInvoice(ctx, inv.ID)
	require.NoError(t, err)
	assert.Len(t, payments, 1, "the invoice is paid once")
}
