package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/workflows"
)

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runStart(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	if len(args) == 0 || args[0] != "vendor-payment" {
		return errors.New(`start: expected a process: "orchestrator start vendor-payment --invoice INV-1042"`)
	}
	fs := flag.NewFlagSet("start vendor-payment", flag.ContinueOnError)
	invoice := fs.String("invoice", "", "invoice id in the ERP (required)")
	requestedBy := fs.String("requested-by", "cli:"+currentUser(), "who asks for the payment (a person id, or agent:<name>)")
	wait := fs.Bool("wait", true, "wait for the outcome and print it")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *invoice == "" {
		return errors.New("--invoice: required")
	}
	return withClient(ctx, log, func(c tclient.Client) error {
		return startVendorPayment(ctx, c, workflows.VendorPaymentInput{InvoiceID: *invoice, RequestedBy: *requestedBy}, *wait, out)
	})
}

func startVendorPayment(ctx context.Context, c tclient.Client, in workflows.VendorPaymentInput, wait bool, out io.Writer) error {
	run, err := client.StartVendorPayment(ctx, c, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		// The invoice's payment already finished: show its outcome rather
		// than start a second one.
		fmt.Fprintf(out, "vendor payment %s already finished; its result:\n", workflows.VendorPaymentID(in.InvoiceID))
		res, err := client.VendorPaymentResult(ctx, c, workflows.VendorPaymentID(in.InvoiceID))
		if err != nil {
			return err
		}
		return printJSON(out, res)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "started %s (run %s)\n", run.GetID(), run.GetRunID())
	if !wait {
		return nil
	}
	fmt.Fprintln(out, "waiting for the outcome (Ctrl-C stops waiting; the workflow goes on)...")
	res, err := client.VendorPaymentResult(ctx, c, run.GetID())
	if err != nil {
		return err
	}
	return printJSON(out, res)
}

func oneWorkflowID(name string, args []string) (string, []string, error) {
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		return "", nil, fmt.Errorf("%s: expected a workflow id, e.g. vendor-payment-INV-1042", name)
	}
	return args[0], args[1:], nil
}

// withClient dials Temporal from the environment configuration for fn.
func withClient(ctx context.Context, log *slog.Logger, fn func(tclient.Client) error) error {
	c, err := client.Dial(ctx, log)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// runShow prints what get reads for one workflow id (status, result).
func runShow[T any](ctx context.Context, name string, args []string, out io.Writer, log *slog.Logger,
	get func(context.Context, tclient.Client, string) (T, error)) error {
	id, _, err := oneWorkflowID(name, args)
	if err != nil {
		return err
	}
	return withClient(ctx, log, func(c tclient.Client) error {
		v, err := get(ctx, c, id)
		if err != nil {
			return err
		}
		return printJSON(out, v)
	})
}

// runDecision sends an approval or rejection as the "approval" Update, for
// the digest the workflow reports now: a person approves what they just saw.
func runDecision(ctx context.Context, decision string, args []string, out io.Writer, log *slog.Logger) error {
	id, rest, err := oneWorkflowID(decision, args)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet(decision, flag.ContinueOnError)
	as := fs.String("as", "", "person id of the approver (required)")
	comment := fs.String("comment", "", "comment recorded with the decision")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if *as == "" {
		return errors.New("--as: required (the approver's person id)")
	}
	return withClient(ctx, log, func(c tclient.Client) error { return decide(ctx, c, id, decision, *as, *comment, out) })
}

func decide(ctx context.Context, c tclient.Client, id, decision, as, comment string, out io.Writer) error {
	st, err := client.VendorPaymentStatus(ctx, c, id)
	if err != nil {
		return err
	}
	if st.ActionDigest == "" {
		return fmt.Errorf("%s has no action to approve yet (stage %s)", id, st.Stage)
	}
	d := workflows.DecisionApprove
	if decision == "reject" {
		d = workflows.DecisionReject
	}
	req := workflows.ApprovalRequest{Decision: d, Approver: as, Comment: comment, ActionDigest: st.ActionDigest}
	if err := client.Approve(ctx, c, id, req); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s recorded by %s for %s\n", id, d, as, st.ActionDigest)
	return nil
}

func runSetup(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	s, err := parseSettings("setup", args, nil)
	if err != nil {
		return err
	}
	return withClient(ctx, log, func(c tclient.Client) error {
		if err := client.EnsureDetectorSchedule(ctx, c, s.detectorInterval); err != nil {
			return err
		}
		fmt.Fprintf(out, "schedule %s runs every %s\n", workflows.OverdueDetectorScheduleID, s.detectorInterval.Round(time.Second))
		return nil
	})
}
