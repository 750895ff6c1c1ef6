package vendorpayment

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// Definition is the vendor-payment process for the worker, the replayer and
// the CLI, with its activities bound to d. d.Tuning[ProcessName] may hold a
// VendorPaymentConfig (tests shorten timeouts with it).
func Definition(d process.Deps) process.Definition {
	cfg := DefaultVendorPaymentConfig()
	if c, ok := d.Tuning[ProcessName].(VendorPaymentConfig); ok {
		cfg = c
	}
	return process.Definition{
		Name:              ProcessName,
		WorkflowTypes:     []string{VendorPaymentWorkflow, OverdueDetectorWorkflow},
		RegisterWorkflows: func(r process.WorkflowRegistry) { RegisterWorkflows(r, cfg) },
		RegisterActivities: func(r process.Registry) {
			RegisterActivities(r, NewActivities(d), &Detector{ERP: d.ERP, Temporal: d.Temporal, Signer: d.Signer, Now: d.Now})
		},
		Start: startFromCLI,
		Setup: func(ctx context.Context, c tclient.Client, s process.Settings) error {
			return EnsureDetectorSchedule(ctx, c, s.DetectorInterval)
		},
	}
}

// NewActivities builds the activities from the shared dependencies.
func NewActivities(d process.Deps) *Activities {
	a := &Activities{
		Directory: d.Directory, Links: d.Links, Trust: d.Trust, Signer: d.Signer,
		WebBaseURL: d.WebBaseURL, FinanceOpsEmail: d.FinanceOpsEmail, Logger: d.Logger, Now: d.Now,
		Audit: d.Audit,
	}
	// Typed nils must stay untyped nils, so "not configured" is detected.
	if d.ERP != nil {
		a.ERP = d.ERP
	}
	if d.Treasury != nil {
		a.Treasury = d.Treasury
	}
	if d.Mail != nil {
		a.Mail = d.Mail
	}
	if d.Gate != nil {
		a.Gate = d.Gate
	}
	if d.Codes != nil {
		a.Codes = d.Codes
	}
	if d.Temporal != nil {
		a.Temporal = d.Temporal
	}
	return a
}

// RegisterWorkflows registers the process's workflows under their contract
// names.
func RegisterWorkflows(r process.WorkflowRegistry, cfg VendorPaymentConfig) {
	r.RegisterWorkflowWithOptions(NewVendorPayment(cfg).Run, workflow.RegisterOptions{Name: VendorPaymentWorkflow})
	r.RegisterWorkflowWithOptions(OverdueInvoiceDetector, workflow.RegisterOptions{Name: OverdueDetectorWorkflow})
}

// RegisterActivities registers every activity under its contract name.
func RegisterActivities(r process.Registry, a *Activities, det *Detector) {
	for _, act := range []struct {
		name string
		fn   any
	}{
		{ActivityLoadInvoice, a.LoadInvoice},
		{ActivityLoadVendor, a.LoadVendor},
		{ActivityCheckPaymentSchedule, a.CheckPaymentSchedule},
		{ActivityPlanApprovals, a.PlanApprovals},
		{ActivityNotifyApprovers, a.NotifyApprovers},
		{ActivityCheckApprovers, a.CheckApprovers},
		{ActivityNotifyRequester, a.NotifyRequester},
		{ActivityReleasePayment, a.ReleasePayment},
		{ActivityVerifySettlement, a.VerifySettlement},
		{ActivityNotifyVendor, a.NotifyVendor},
		{ActivityVerifyEmailDelivered, a.VerifyEmailDelivered},
		{ActivityMarkInvoicePaid, a.MarkInvoicePaid},
		{ActivityRecordNote, a.RecordNote},
		{ActivityEscalate, a.EscalateToFinanceOps},
		{ActivityEvaluateGate, a.EvaluateGate},
		{ActivityLoadTrust, a.LoadTrust},
		{ActivityCheckApprovalCode, a.CheckApprovalCode},
		{ListOverdueInvoicesActivity, det.ListOverdueInvoices},
		{StartVendorPaymentActivity, det.StartVendorPayment},
	} {
		r.RegisterActivityWithOptions(act.fn, activity.RegisterOptions{Name: act.name})
	}
}

// startFromCLI is `orchestrator start vendor-payment --invoice INV-1042`.
func startFromCLI(args []string) (process.StartFunc, error) {
	fs := flag.NewFlagSet("start "+ProcessName, flag.ContinueOnError)
	invoice := fs.String("invoice", "", "invoice id in the ERP (required)")
	requestedBy := fs.String("requested-by", "cli:"+currentUser(), "who asks for the payment (a person id, or agent:<name>)")
	wait := fs.Bool("wait", true, "wait for the outcome and print it")
	key := fs.String("key", os.Getenv("ORCH_REQUESTER_KEY"), "your private key file: the start carries a proof that you (--requested-by) requested it (env ORCH_REQUESTER_KEY)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *invoice == "" {
		return nil, errors.New("--invoice: required")
	}
	in := VendorPaymentInput{InvoiceID: *invoice, RequestedBy: *requestedBy}
	if *key != "" {
		signer, err := proof.LoadSigner(*key)
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		if in.RequesterProof, err = SignStart(signer, in, proof.MethodKey, time.Now()); err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
	}
	return func(ctx context.Context, c tclient.Client, out io.Writer) error {
		return startAndWait(ctx, c, in, *wait, out)
	}, nil
}

func startAndWait(ctx context.Context, c tclient.Client, in VendorPaymentInput, wait bool, out io.Writer) error {
	run, err := Start(ctx, c, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		// The invoice's payment already finished: show its outcome rather
		// than start a second one.
		fmt.Fprintf(out, "vendor payment %s already finished; its result:\n", VendorPaymentID(in.InvoiceID))
		res, err := GetResult(ctx, c, VendorPaymentID(in.InvoiceID))
		if err != nil {
			return err
		}
		return process.PrintJSON(out, res)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "started %s (run %s)\n", run.GetID(), run.GetRunID())
	if !wait {
		return nil
	}
	fmt.Fprintln(out, "waiting for the outcome (Ctrl-C stops waiting; the workflow goes on)...")
	res, err := GetResult(ctx, c, run.GetID())
	if err != nil {
		return err
	}
	return process.PrintJSON(out, res)
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}
