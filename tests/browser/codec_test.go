package browser

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
)

// TestTemporalUIDecodesThroughCodecServer: a vendor payment runs on the
// real stack, whose history holds only ciphertext; in Debian's Chromium,
// maria signs in to the web app, opens the workflow in the Temporal Web UI
// (codec endpoint = the web app's /codec, "include cross-origin
// credentials" on) and reads its input and result decoded; a browser
// without her session gets 401 from the codec server and sees no plaintext.
func TestTemporalUIDecodesThroughCodecServer(t *testing.T) {
	if why := Unavailable(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatal("browser test cannot run in CI: " + why)
		}
		t.Skip("browser test skipped: " + why + " (make test installs it)")
	}
	s := stack.Start(t, stack.Options{UI: true})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run, err := vendorpayment.Start(ctx, s.Temporal,
		vendorpayment.VendorPaymentInput{InvoiceID: sandbox.InvoiceHappyPath, RequestedBy: "agent:payables-bot"})
	if err != nil {
		t.Fatal(err)
	}
	var res vendorpayment.VendorPaymentResult
	if err := run.Get(ctx, &res); err != nil || res.Outcome != vendorpayment.OutcomePaid {
		t.Fatalf("result %+v, %v", res, err)
	}
	// What the UI reads from the server is ciphertext.
	it := s.RawClient(t).GetWorkflowHistory(ctx, run.GetID(), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	first, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	in := first.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0]
	if string(in.GetMetadata()["encoding"]) != codec.Encoding || bytes.Contains(in.GetData(), []byte("payables-bot")) {
		t.Fatalf("the input at rest is not encrypted: %v", in)
	}

	out, err := RunCodecUI(ctx, CodecUIRun{UIURL: s.UIURL, WebURL: s.WebURL, WorkflowID: run.GetID(), Person: "maria",
		InputText: "payables-bot", ResultText: vendorpayment.OutcomePaid})
	t.Logf("node output:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
}
