package audit

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
)

// HistoryStatus is the outcome of comparing one entry with its workflow's
// history.
type HistoryStatus string

const (
	// HistoryOK: the run's AuditAppend marker carries this entry's seq and hash.
	HistoryOK HistoryStatus = "ok"
	// HistoryMismatch: the marker for this event id records another seq or hash.
	HistoryMismatch HistoryStatus = "mismatch"
	// HistoryMissing: the run exists but no AuditAppend marker carries this
	// event id (the entry was not recorded by that run).
	HistoryMissing HistoryStatus = "missing"
	// HistorySkipped: nothing to compare with (history gone past its
	// retention, markers not decodable); not a failure.
	HistorySkipped HistoryStatus = "skipped"
)

// Failed reports whether s is evidence of tampering.
func (s HistoryStatus) Failed() bool { return s == HistoryMismatch || s == HistoryMissing }

// HistoryCheck is one entry compared with its workflow history.
type HistoryCheck struct {
	Seq        int64         `json:"seq"`
	EventID    string        `json:"eventId"`
	WorkflowID string        `json:"workflowId"`
	RunID      string        `json:"runId"`
	Status     HistoryStatus `json:"status"`
	Detail     string        `json:"detail,omitempty"`
}

// HistoryChecker compares an entry with what the workflow that recorded it
// kept. The error is for failing to ask (Temporal unreachable), not for a
// disagreement, which is a Status.
type HistoryChecker interface {
	CheckEntry(ctx context.Context, e Entry) (HistoryCheck, error)
}

// localActivityMarker is the marker name the Go SDK records local activity
// results under; its details hold "data" (localActivityMarkerData below)
// and, when the activity succeeded, "result" (its return value).
const (
	localActivityMarker       = "LocalActivity"
	localActivityMarkerData   = "data"
	localActivityMarkerResult = "result"
)

// markerData is the part of the SDK's localActivityMarkerData we need.
type markerData struct {
	ActivityID   string
	ActivityType string
}

// TemporalHistories checks entries against the histories in Temporal: the
// Recorder appends through the local activity AuditAppend, whose result
// (AppendResult: event id, seq, hash) is written into the run's history by
// Temporal, beyond the reach of whoever can write our database.
type TemporalHistories struct {
	Client tclient.Client
	// DataConverter decodes the markers; nil means the SDK's default. Give
	// the workers' converter when payloads are encrypted by a codec.
	DataConverter converter.DataConverter
}

// CheckEntry fetches the run's history and looks for the AuditAppend marker
// carrying e's event id.
func (h TemporalHistories) CheckEntry(ctx context.Context, e Entry) (HistoryCheck, error) {
	hc := HistoryCheck{Seq: e.Seq, EventID: e.Event.ID, WorkflowID: e.Event.WorkflowID, RunID: e.Event.RunID}
	if hc.WorkflowID == "" || hc.RunID == "" {
		hc.Status, hc.Detail = HistorySkipped, "not recorded by a workflow"
		return hc, nil
	}
	dc := h.DataConverter
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	var (
		markers     int
		undecodable int
	)
	it := h.Client.GetWorkflowHistory(ctx, hc.WorkflowID, hc.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				hc.Status, hc.Detail = HistorySkipped, "history not found"
				return hc, nil
			}
			return hc, fmt.Errorf("history of %s/%s: %w", hc.WorkflowID, hc.RunID, err)
		}
		m := ev.GetMarkerRecordedEventAttributes()
		if m == nil || m.GetMarkerName() != localActivityMarker || m.GetFailure() != nil {
			continue
		}
		var md markerData
		if err := dc.FromPayloads(m.GetDetails()[localActivityMarkerData], &md); err != nil {
			undecodable++
			continue
		}
		if md.ActivityType != AppendActivityName {
			continue
		}
		markers++
		result, ok := m.GetDetails()[localActivityMarkerResult]
		if !ok {
			continue
		}
		var res AppendResult
		if err := dc.FromPayloads(result, &res); err != nil {
			undecodable++
			continue
		}
		if res.EventID != e.Event.ID {
			continue
		}
		if res.Seq != e.Seq || res.Hash != e.Hash {
			hc.Status = HistoryMismatch
			hc.Detail = fmt.Sprintf("the history records event %s as entry %d with hash %s; the ledger has entry %d with hash %s",
				res.EventID, res.Seq, short(res.Hash), e.Seq, short(e.Hash))
			return hc, nil
		}
		hc.Status = HistoryOK
		return hc, nil
	}
	if undecodable > 0 {
		// Cannot tell "missing" from "encrypted": not evidence either way.
		hc.Status = HistorySkipped
		hc.Detail = fmt.Sprintf("%d local activity marker(s) could not be decoded (is the payload codec configured?)", undecodable)
		return hc, nil
	}
	hc.Status = HistoryMissing
	hc.Detail = fmt.Sprintf("none of its %d %s marker(s) carries event %s", markers, AppendActivityName, e.Event.ID)
	return hc, nil
}
