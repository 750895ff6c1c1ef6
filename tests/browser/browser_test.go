package browser

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/linktoken"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/web"
	"github.com/execution-orchestrator/orchestrator/workflows"
)

// payment is a stand-in for one VendorPayment waiting for approval: it
// answers like the status query and checks decisions like the workflow's
// validator. The real Temporal path is the integration tests' job; this test
// proves the pages work in a real browser without JavaScript.
type payment struct {
	mu sync.Mutex
	id string
	st workflows.VendorPaymentStatus
}

func (p *payment) PendingApprovals(_ context.Context, person string) ([]client.PendingApproval, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.st.PendingApprovers, person) {
		return nil, nil
	}
	return []client.PendingApproval{{WorkflowID: p.id, InvoiceID: p.st.InvoiceID, VendorName: p.st.Action.VendorName,
		AmountMinor: p.st.AmountMinor, Currency: p.st.Currency, AwaitingSince: p.st.AwaitingSince, ActionDigest: p.st.ActionDigest}}, nil
}

func (p *payment) Status(_ context.Context, id string) (workflows.VendorPaymentStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id != p.id {
		return workflows.VendorPaymentStatus{}, client.ErrNotRunning
	}
	return p.st, nil
}

func (p *payment) Approve(_ context.Context, id string, req workflows.ApprovalRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case id != p.id:
		return client.ErrNotRunning
	case req.ActionDigest != p.st.ActionDigest:
		return &client.ApprovalRefusedError{WorkflowID: id, Reason: "actionDigest does not match"}
	case !slices.Contains(p.st.PendingApprovers, req.Approver):
		return &client.ApprovalRefusedError{WorkflowID: id, Reason: req.Approver + " is not a pending approver"}
	}
	p.st.Approvals = append(p.st.Approvals, workflows.Approval{Slot: "finance-manager", Approver: req.Approver,
		Decision: req.Decision, Comment: req.Comment, ActionDigest: req.ActionDigest, At: time.Now()})
	p.st.PendingApprovers = []string{"chen"}
	return nil
}

func TestApprovalInBrowser(t *testing.T) {
	if why := Unavailable(); why != "" {
		t.Skip("browser test skipped: " + why)
	}
	ctx := context.Background()
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	links, err := linktoken.Open(ctx, "", filepath.Join(t.TempDir(), "links.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { links.Close() })

	pay := action.Payment{Kind: action.KindVendorPayment, InvoiceID: "INV-2042", VendorID: "V-1", VendorName: "Nordwind Logistik GmbH",
		AmountMinor: 4800000, Currency: "EUR", Reference: "Invoice INV-2042",
		Beneficiary: erp.BankAccount{IBAN: "DE89370400440532013000", BIC: "COBADEFFXXX", AccountHolder: "Nordwind Logistik GmbH"}}
	digest, err := action.Digest(pay)
	require.NoError(t, err)
	since := time.Now().Add(-2 * time.Hour)
	p := &payment{id: workflows.VendorPaymentID("INV-2042"), st: workflows.VendorPaymentStatus{
		Stage: workflows.StageAwaitingApproval, InvoiceID: "INV-2042", ActionDigest: digest, Action: &pay,
		ApprovalReason: "48 000.00 EUR is above the finance-manager limit of 25 000.00 EUR: finance-manager then cfo",
		AmountMinor:    pay.AmountMinor, Currency: "EUR", PendingApprovers: []string{"maria", "omar"}, AwaitingSince: &since,
	}}
	srv, err := web.New(web.Config{Workflows: p, Directory: dir, Links: links})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := RunApproval(ctx, ts.URL, p.id, "maria")
	t.Logf("node output:\n%s", out)
	require.NoError(t, err)

	st, _ := p.Status(ctx, p.id)
	require.Len(t, st.Approvals, 1)
	require.Equal(t, "maria", st.Approvals[0].Approver)
	require.Equal(t, digest, st.Approvals[0].ActionDigest, "the browser sent the digest shown on the page")
}
