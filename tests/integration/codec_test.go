package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/devserver"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
	"github.com/execution-orchestrator/orchestrator/web"
)

// What INV-1042 pays and to whom: none of it may be in the history at rest.
var happyPathSecrets = []string{"DE89370400440532013000", "COBADEFFXXX", "Acme Office Supplies", "ap@acme.example"}

// foundPayload is a payload of a history event and the fields that lead to it.
type foundPayload struct {
	path string
	p    *commonpb.Payload
}

// payloadsOf walks every message of m and returns its payloads.
func payloadsOf(m proto.Message) []foundPayload {
	var out []foundPayload
	var walk func(m protoreflect.Message, path string)
	walk = func(m protoreflect.Message, path string) {
		if p, ok := m.Interface().(*commonpb.Payload); ok {
			out = append(out, foundPayload{path, p})
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			name := path + "." + string(fd.Name())
			switch {
			case fd.IsMap() && fd.MapValue().Message() != nil:
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					walk(mv.Message(), name+"["+k.String()+"]")
					return true
				})
			case fd.IsList() && fd.Message() != nil:
				for i := 0; i < v.List().Len(); i++ {
					walk(v.List().Get(i).Message(), name)
				}
			case fd.Message() != nil && !fd.IsMap() && !fd.IsList():
				walk(v.Message(), name)
			}
			return true
		})
	}
	walk(m.ProtoReflect(), "")
	return out
}

// encodedByDesign: search attributes are indexed in clear (never personal
// data, see docs/codec.md); headers carry the trace context.
func encodedByDesign(path string) bool {
	return !strings.Contains(path, ".search_attributes") && !strings.Contains(path, ".header")
}

// rawHistory reads id's history with a client that has no codec.
func rawHistory(t *testing.T, c tclient.Client, id string) []*historypb.HistoryEvent {
	return history(t, c, id)
}

// TestCodecPayloadsEncryptedAtRest: a vendor payment runs on the stack, whose
// clients and worker encrypt. Read without the keys, every payload of its
// history (inputs, results, summaries, memos) is ciphertext naming its key,
// and none of the vendor's bank details appear anywhere; a failure's message
// and stack trace are encoded too. With the keys (the codec client, the
// codec server with a bearer token, the temporal CLI pointed at it) the
// same history reads in clear.
func TestCodecPayloadsEncryptedAtRest(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := start(t, s, sandbox.InvoiceHappyPath)
	paidChecks(t, s, sandbox.InvoiceHappyPath, result(t, s, run))

	raw := s.RawClient(t)
	events := rawHistory(t, raw, run.GetID())
	var sealed []*commonpb.Payload
	for _, e := range events {
		b, err := proto.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range happyPathSecrets {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("event %d (%s) holds %q in clear", e.GetEventId(), e.GetEventType(), secret)
			}
		}
		for _, fp := range payloadsOf(e) {
			if !encodedByDesign(fp.path) {
				continue
			}
			md := fp.p.GetMetadata()
			if string(md["encoding"]) != codec.Encoding || string(md[codec.MetadataKeyID]) != s.Keyring.ActiveID() {
				t.Errorf("event %d (%s) %s: payload %q not encrypted with %s", e.GetEventId(), e.GetEventType(), fp.path, md["encoding"], s.Keyring.ActiveID())
			}
			if bytes.Contains(fp.p.GetData(), []byte(sandbox.InvoiceHappyPath)) {
				t.Errorf("event %d %s: payload holds the invoice id", e.GetEventId(), fp.path)
			}
			sealed = append(sealed, fp.p)
		}
	}
	// Inputs, results and the start's summary are among them.
	started := events[0].GetWorkflowExecutionStartedEventAttributes()
	if started.GetInput() == nil || events[0].GetUserMetadata().GetSummary() == nil || len(sealed) < 10 {
		t.Fatalf("history has %d encrypted payloads, input %v, summary %v: not the run expected", len(sealed), started.GetInput(), events[0].GetUserMetadata())
	}
	// Without the keys the result cannot be read...
	var res vendorpayment.VendorPaymentResult
	if err := raw.GetWorkflow(ctx, run.GetID(), "").Get(ctx, &res); err == nil {
		t.Fatalf("a client without the keys read the result: %+v", res)
	}
	// ...with them, the very same history reads in clear.
	var in vendorpayment.VendorPaymentInput
	if err := codec.DataConverter(s.Keyring).FromPayloads(started.GetInput(), &in); err != nil || in.InvoiceID != sandbox.InvoiceHappyPath {
		t.Fatalf("decoded input %+v, %v", in, err)
	}

	// The codec server, as the temporal CLI calls it: a bearer token.
	token := s.CodecToken(t, "integration")
	decoded := codecServerDecode(t, s.WebURL+web.CodecPath+"/decode", "Bearer "+token, sealed)
	if !strings.Contains(decoded, sandbox.InvoiceHappyPath) || !strings.Contains(decoded, "DE89370400440532013000") {
		t.Errorf("codec server's decode lacks the invoice and IBAN:\n%.2000s", decoded)
	}
	if got := codecServerStatus(t, s.WebURL+web.CodecPath+"/decode", "Bearer eoc_forged", sealed[:1]); got != http.StatusUnauthorized {
		t.Errorf("forged token: status %d, want 401", got)
	}

	// The temporal CLI with the codec server shows the history decoded.
	if cli, err := devserver.FindCLI(); err == nil {
		// show returns the started event's input as `temporal workflow show -o json` prints it.
		show := func(extra ...string) *commonpb.Payload {
			args := append([]string{"workflow", "show", "--address", s.Address, "--namespace", "default", "-w", run.GetID(), "-o", "json"}, extra...)
			out, err := exec.CommandContext(ctx, cli, args...).Output()
			if err != nil {
				t.Fatalf("temporal %v: %v\n%s", args, err, out)
			}
			h, err := tclient.HistoryFromJSON(bytes.NewReader(out), tclient.HistoryJSONOptions{})
			if err != nil || len(h.GetEvents()) == 0 {
				t.Fatalf("temporal %v: %v\n%.2000s", args, err, out)
			}
			return h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0]
		}
		p := show("--codec-endpoint", s.WebURL+web.CodecPath, "--codec-auth", "Bearer "+token)
		if string(p.GetMetadata()["encoding"]) != "json/plain" || !bytes.Contains(p.GetData(), []byte(`"invoiceId":"INV-1042"`)) {
			t.Errorf("temporal workflow show with the codec server: input %v, want it decoded", p)
		}
		if p := show(); string(p.GetMetadata()["encoding"]) != codec.Encoding {
			t.Errorf("temporal workflow show without the codec server: input %v, want it encrypted", p)
		}
	}
}

// TestCodecFailuresEncryptedAtRest: a workflow refusing its input fails; the
// failure's message is in encrypted attributes ("Encoded failure" at rest),
// and the codec client gets the message back.
func TestCodecFailuresEncryptedAtRest(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const requester = "agent:payables bot" // a space: refused by the workflow
	run, err := s.Temporal.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{ID: "codec-failure-" + time.Now().Format("150405.000000"), TaskQueue: process.TaskQueue},
		vendorpayment.VendorPaymentWorkflow, vendorpayment.VendorPaymentInput{InvoiceID: "INV-9999", RequestedBy: requester})
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	if !temporal.IsApplicationError(err) || !strings.Contains(err.Error(), "must be an identity") {
		t.Fatalf("run: %v, want the workflow's refusal of requestedBy", err)
	}
	events := rawHistory(t, s.RawClient(t), run.GetID())
	last := events[len(events)-1]
	if last.GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED {
		t.Fatalf("last event %s, want workflow failed", last.GetEventType())
	}
	f := last.GetWorkflowExecutionFailedEventAttributes().GetFailure()
	if f.GetMessage() != "Encoded failure" || f.GetStackTrace() != "" {
		t.Errorf("failure at rest: message %q, stack %q; want both encoded", f.GetMessage(), f.GetStackTrace())
	}
	if enc := string(f.GetEncodedAttributes().GetMetadata()["encoding"]); enc != codec.Encoding {
		t.Errorf("failure attributes encoding %q, want %q", enc, codec.Encoding)
	}
	b, _ := proto.Marshal(last)
	for _, secret := range []string{"must be an identity", requester} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("failure at rest holds %q in clear", secret)
		}
	}
}

func codecServerDo(t *testing.T, url, auth string, ps []*commonpb.Payload) (int, string) {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func codecServerStatus(t *testing.T, url, auth string, ps []*commonpb.Payload) int {
	code, _ := codecServerDo(t, url, auth, ps)
	return code
}

// codecServerDecode returns the decoded payloads' data, concatenated.
func codecServerDecode(t *testing.T, url, auth string, ps []*commonpb.Payload) string {
	t.Helper()
	code, body := codecServerDo(t, url, auth, ps)
	if code != http.StatusOK {
		t.Fatalf("codec server: %d %s", code, body)
	}
	var got struct {
		Payloads []struct {
			Metadata map[string][]byte `json:"metadata"`
			Data     []byte            `json:"data"`
		} `json:"payloads"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Payloads) != len(ps) {
		t.Fatalf("codec server answered %d payloads for %d", len(got.Payloads), len(ps))
	}
	var all strings.Builder
	for _, p := range got.Payloads {
		if string(p.Metadata["encoding"]) == codec.Encoding {
			t.Fatalf("codec server left a payload encrypted")
		}
		all.Write(p.Data)
		all.WriteByte('\n')
	}
	return all.String()
}
