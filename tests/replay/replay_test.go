// Package replay replays recorded histories of every process against the
// current workflow code: a change that would make running workflows diverge
// fails here before it reaches a worker.
package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tclient "go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
)

func histories(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("histories", "*.json"))
	if err != nil {
		t.Fatalf("list histories: %v", err)
	}
	if len(files) == 0 {
		t.Fatal("no workflow histories in tests/replay/histories: save some with " +
			"`bin/temporal workflow show -w <id> -o json > tests/replay/histories/<name>.json` " +
			"or EO_CAPTURE_HISTORIES=1 go test ./tests/replay -run TestCaptureHistories")
	}
	return files
}

func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// replayKeys is the test-only payload keyring histories are captured with
// (capture_test.go): histories recorded since payloads are encrypted replay
// with it, older plaintext ones pass through the codec unchanged.
var replayKeys = filepath.Join("histories", "codec.keys")

// newReplayer replays with the worker's converters: the payload codec of
// the test keyring, failures encoded too.
func newReplayer(t *testing.T) worker.WorkflowReplayer {
	t.Helper()
	ring, err := codec.Load(replayKeys)
	if err != nil {
		t.Fatal(err)
	}
	dc := codec.DataConverter(ring)
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: dc, FailureConverter: codec.FailureConverter(dc)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReplayHistories(t *testing.T) {
	for _, f := range histories(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := newReplayer(t)
			for _, p := range processes.All(process.Deps{}) {
				p.RegisterWorkflows(r)
			}
			if err := replay(r, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}

// replay replays one history file. Runs whose code depends on their own
// workflow and run id (approval proofs are bound to them) replay under the
// ids they ran with: <name>.id beside the history holds the workflow id, the
// run id is the history's own. Others replay under the replayer's defaults.
func replay(r worker.WorkflowReplayer, file string) error {
	id, err := os.ReadFile(strings.TrimSuffix(file, ".json") + ".id")
	if errors.Is(err, fs.ErrNotExist) {
		return r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), file)
	}
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := tclient.HistoryFromJSON(f, tclient.HistoryJSONOptions{})
	if err != nil {
		return fmt.Errorf("read history: %w", err)
	}
	runID := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetOriginalExecutionRunId()
	return r.ReplayWorkflowHistoryWithOptions(quietLogger(), h, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: strings.TrimSpace(string(id)), RunID: runID},
	})
}

// TestReplayDetectsDivergence proves the replay above can fail: a workflow
// that issues different commands must be rejected on every history.
func TestReplayDetectsDivergence(t *testing.T) {
	for _, f := range histories(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := newReplayer(t)
			diverging := func(ctx workflow.Context, in vendorpayment.VendorPaymentInput) (vendorpayment.VendorPaymentResult, error) {
				ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 1})
				_ = workflow.ExecuteActivity(ctx, "SomethingElse", in).Get(ctx, nil)
				return vendorpayment.VendorPaymentResult{}, context.Canceled
			}
			r.RegisterWorkflowWithOptions(diverging, workflow.RegisterOptions{Name: vendorpayment.VendorPaymentWorkflow})
			if err := replay(r, f); err == nil {
				t.Fatalf("replaying %s with different workflow code succeeded; the replay test could not catch a change", f)
			}
		})
	}
}

// TestReplayCoversEncryptedHistories: the corpus holds histories of both
// kinds, so the replay above proves both still replay: plaintext ones
// (recorded before payload encryption) and encrypted ones, whose payloads
// hold neither the invoice id nor the beneficiary's IBAN in clear.
func TestReplayCoversEncryptedHistories(t *testing.T) {
	var plain, encrypted []string
	for _, f := range histories(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h, err := tclient.HistoryFromJSON(bytes.NewReader(data), tclient.HistoryJSONOptions{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		input := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
		if len(input) == 0 {
			continue
		}
		if string(input[0].GetMetadata()["encoding"]) != codec.Encoding {
			plain = append(plain, filepath.Base(f))
			continue
		}
		encrypted = append(encrypted, filepath.Base(f))
		for _, e := range h.GetEvents() {
			raw, err := proto.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{"DE89370400440532013000", "Acme Office Supplies", "ap@acme"} {
				if bytes.Contains(raw, []byte(secret)) {
					t.Errorf("%s: event %d (%s) holds %q in clear", f, e.GetEventId(), e.GetEventType(), secret)
				}
			}
		}
	}
	if len(plain) == 0 || len(encrypted) == 0 {
		t.Fatalf("histories: %d plaintext, %d encrypted; want both kinds (capture an encrypted one with EO_CAPTURE_HISTORIES=1)", len(plain), len(encrypted))
	}
	t.Logf("encrypted: %v", encrypted)
}
