package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
)

// A person approves from the command line with a key of their own: `keys
// new` makes it, its public half goes into the org directory, and
// `approve --key` signs the decision. `approve --as` without a proof is
// refused before anything is sent.
func TestApproveWithPersonalKeyPays(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "maria.key")
	var out bytes.Buffer
	quiet := slog.New(slog.DiscardHandler)
	if err := run(context.Background(), []string{"keys", "new", "--out", keyFile}, &out, quiet); err != nil {
		t.Fatal(err)
	}
	pub := regexp.MustCompile(`ed25519:[A-Za-z0-9+/=]+`).FindString(out.String())
	if pub == "" {
		t.Fatalf("keys new printed no public key:\n%s", out.String())
	}
	if err := run(context.Background(), []string{"keys", "new", "--out", keyFile}, io.Discard, quiet); err == nil {
		t.Fatal("keys new overwrote an existing key")
	}
	org, err := os.ReadFile("../../policy/org.yaml")
	if err != nil {
		t.Fatal(err)
	}
	withKey := strings.Replace(string(org), "    email: maria@example.com\n", "    email: maria@example.com\n    keys: [\""+pub+"\"]\n", 1)
	dir, err := policy.ParseDirectory([]byte(withKey))
	if err != nil {
		t.Fatal(err)
	}
	s := stack.Start(t, stack.Options{Directory: dir})
	t.Setenv("TEMPORAL_ADDRESS", s.Address)
	t.Setenv("TEMPORAL_NAMESPACE", "default")
	t.Setenv("ORCH_CODEC_KEYS", s.CodecKeys) // the worker's payload keyring
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run1, err := vendorpayment.Start(ctx, s.Temporal, vendorpayment.VendorPaymentInput{InvoiceID: sandbox.InvoiceMedium, RequestedBy: "agent:payables-bot"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		st, err := client.ApprovalStatus(ctx, s.Temporal, run1.GetID())
		if err == nil && st.AwaitingSlot != "" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("never awaited approval")
		case <-time.After(100 * time.Millisecond):
		}
	}

	err = run(ctx, []string{"approve", run1.GetID(), "--as", "maria"}, io.Discard, quiet)
	if err == nil || !strings.Contains(err.Error(), "--key, --proof or --code") {
		t.Fatalf("approve without proof: %v, want refused naming the proof flags", err)
	}
	// Someone else's key file claiming to be maria: the workflow refuses.
	other := filepath.Join(t.TempDir(), "mallory.key")
	if err := run(ctx, []string{"keys", "new", "--out", other}, io.Discard, quiet); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, []string{"approve", run1.GetID(), "--as", "maria", "--key", other}, io.Discard, quiet)
	if err == nil || !strings.Contains(err.Error(), "proof.kid") {
		t.Fatalf("approve with a key not maria's: %v, want refused naming proof.kid", err)
	}

	out.Reset()
	if err := run(ctx, []string{"approve", run1.GetID(), "--as", "maria", "--key", keyFile, "--comment", "checked"}, &out, quiet); err != nil {
		t.Fatal(err)
	}
	var res vendorpayment.VendorPaymentResult
	if err := run1.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != vendorpayment.OutcomePaid || len(res.Approvals) != 1 || res.Approvals[0].Proof == nil || res.Approvals[0].Proof.Method != "key" {
		t.Fatalf("result %+v, want paid on maria's key-signed approval", res)
	}
}
