package audit_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
)

// fakeTemporal serves histories from memory; only GetWorkflowHistory is
// implemented (the embedded nil Client panics on anything else).
type fakeTemporal struct {
	tclient.Client
	histories map[string][]*historypb.HistoryEvent // by "wf/run"
	fail      error
}

func (f *fakeTemporal) GetWorkflowHistory(_ context.Context, wf, run string, _ bool, _ enumspb.HistoryEventFilterType) tclient.HistoryEventIterator {
	if f.fail != nil {
		return &fakeIter{err: f.fail}
	}
	events, ok := f.histories[wf+"/"+run]
	if !ok {
		return &fakeIter{err: serviceerror.NewNotFound("workflow execution not found")}
	}
	return &fakeIter{events: events}
}

type fakeIter struct {
	events []*historypb.HistoryEvent
	err    error
}

func (it *fakeIter) HasNext() bool { return it.err != nil || len(it.events) > 0 }

func (it *fakeIter) Next() (*historypb.HistoryEvent, error) {
	if it.err != nil {
		err := it.err
		it.err = nil
		return nil, err
	}
	e := it.events[0]
	it.events = it.events[1:]
	return e, nil
}

// sdkMarkerData mirrors the SDK's localActivityMarkerData.
type sdkMarkerData struct {
	ActivityID   string
	ActivityType string
	ReplayTime   time.Time
	Attempt      int32
	Backoff      time.Duration
}

func marker(t *testing.T, activityType string, result any) *historypb.HistoryEvent {
	t.Helper()
	dc := converter.GetDefaultDataConverter()
	data, err := dc.ToPayloads(sdkMarkerData{ActivityID: "1", ActivityType: activityType, ReplayTime: time.Now(), Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	details := map[string]*commonpb.Payloads{"data": data}
	if result != nil {
		if details["result"], err = dc.ToPayloads(result); err != nil {
			t.Fatal(err)
		}
	}
	return &historypb.HistoryEvent{
		EventType: enumspb.EVENT_TYPE_MARKER_RECORDED,
		Attributes: &historypb.HistoryEvent_MarkerRecordedEventAttributes{MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{
			MarkerName: "LocalActivity", Details: details,
		}},
	}
}

func TestVerifyAgainstTemporalHistories(t *testing.T) {
	ctx := context.Background()
	d := openLedger(t, testdb.Engines("audit_temporal")[0], 0)
	// Three runs, recorded the Recorder's way, plus a gate decision an
	// activity appended (no marker of its own: never compared).
	var entries []audit.Entry
	for i := 1; i <= 9; i++ {
		wf := fmt.Sprintf("wf-%d", i%3)
		ev := event(i)
		ev.WorkflowID, ev.RunID, ev.ID = wf, "run-1", fmt.Sprintf("%s/run-1/%d", wf, i)
		e, err := d.Append(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	gate := event(10)
	gate.ID, gate.WorkflowID, gate.RunID = "wf-0/run-1/activity-5#1/gate", "wf-0", "run-1"
	if _, err := d.Append(ctx, gate); err != nil {
		t.Fatal(err)
	}
	fake := &fakeTemporal{histories: map[string][]*historypb.HistoryEvent{}}
	for _, e := range entries {
		key := e.Event.WorkflowID + "/run-1"
		fake.histories[key] = append(fake.histories[key],
			marker(t, "SomethingElse", "ignored"),
			marker(t, audit.AppendActivityName, audit.AppendResult{EventID: e.Event.ID, Seq: e.Seq, Hash: e.Hash}))
	}
	keys := []ed25519.PublicKey{d.pub}
	opts := audit.VerifyOptions{PublicKeys: keys, Histories: audit.TemporalHistories{Client: fake}, Sample: -1}

	rep := verify(t, d.Ledger, opts)
	if !rep.OK || len(rep.HistoryChecks) != 9 {
		t.Fatalf("agreeing histories: %+v", rep)
	}
	for _, hc := range rep.HistoryChecks {
		if hc.Status != audit.HistoryOK {
			t.Errorf("check %+v", hc)
		}
	}

	// A sample is spread over the ledger and the same every time.
	opts.Sample = 3
	rep = verify(t, d.Ledger, opts)
	var seqs []int64
	for _, hc := range rep.HistoryChecks {
		seqs = append(seqs, hc.Seq)
	}
	if fmt.Sprint(seqs) != "[1 5 9]" {
		t.Errorf("sample of 3 = %v, want [1 5 9]", seqs)
	}

	// A marker that disagrees fails; a run whose history is gone is skipped.
	fake.histories["wf-1/run-1"][1] = marker(t, audit.AppendActivityName, audit.AppendResult{EventID: entries[0].Event.ID, Seq: 1, Hash: strings.Repeat("0", 64)})
	delete(fake.histories, "wf-2/run-1")
	opts.Sample = -1
	rep = verify(t, d.Ledger, opts)
	if rep.OK || rep.Problems[0].Seq != 1 || !strings.Contains(rep.Problems[0].Message, "entry 1: workflow history of wf-1/run-1 disagrees") {
		t.Fatalf("disagreeing marker: %+v", rep)
	}
	skipped := 0
	for _, hc := range rep.HistoryChecks {
		if hc.Status == audit.HistorySkipped {
			skipped++
			if hc.Detail != "history not found" {
				t.Errorf("skip detail %q", hc.Detail)
			}
		}
	}
	if skipped != 3 || len(rep.Problems) != 1 {
		t.Errorf("%d skipped, problems %+v; want 3 skipped and one problem", skipped, rep.Problems)
	}

	// An entry no marker carries (forged with a run's ids) is missing.
	fake.histories["wf-1/run-1"] = fake.histories["wf-1/run-1"][2:]
	rep = verify(t, d.Ledger, opts)
	if rep.OK || rep.HistoryChecks[0].Status != audit.HistoryMissing {
		t.Errorf("entry without a marker: %+v", rep)
	}

	// Temporal unreachable is an error, not a verdict.
	fake.fail = errors.New("connection refused")
	if _, err := audit.Verify(ctx, d.Ledger, opts); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Verify with Temporal down = %v", err)
	}
}
