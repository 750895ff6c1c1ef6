package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// AppendActivityName is the local activity every workflow records through.
const AppendActivityName = "AuditAppend"

// ChangeLedger versions recording: executions started before the ledger
// existed record nothing, so their histories replay unchanged.
const ChangeLedger = "audit-ledger"

// ErrTypeInvalidEvent is the ApplicationError type of an event the ledger
// refuses; it is not retried.
const ErrTypeInvalidEvent = "InvalidAuditEvent"

// Appender is what the append activity writes to (*Ledger).
type Appender interface {
	Append(ctx context.Context, ev Event) (Entry, error)
}

// Activities holds the append activity, registered once by the worker for
// every process.
type Activities struct {
	Ledger Appender
}

// ErrTypeNotOurs is the ApplicationError type of an append refused because
// it does not come from the run the event names (process.ErrTypeNotOurs).
const ErrTypeNotOurs = "NotOurs"

// AuditAppend appends ev. The ledger is idempotent by event id, so a retry
// after a lost result adds nothing; the result (in the history's marker)
// is what `audit verify --temporal` compares the ledger with.
//
// It serves only the Recorder: a local activity of the run the event
// names, with that run's ids. Registered like any activity, it could
// otherwise be scheduled as a regular activity on our task queue by a
// workflow anyone starts on a queue of their own, and write entries in
// anyone's name, or claim the ids our runs record under (an id already
// stored returns its entry). A local activity runs only inside our worker,
// for a workflow type we registered.
func (a *Activities) AuditAppend(ctx context.Context, ev Event) (AppendResult, error) {
	info := activity.GetInfo(ctx)
	run := info.WorkflowExecution
	if !info.IsLocalActivity {
		return AppendResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("audit: %s serves only as the local activity of a recording workflow; refused for %s", AppendActivityName, run.ID), ErrTypeNotOurs, nil)
	}
	if ev.WorkflowID != run.ID || ev.RunID != run.RunID || !strings.HasPrefix(ev.ID, run.ID+"/"+run.RunID+"/") {
		return AppendResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("audit: event %q of %s/%s refused for run %s/%s: a run records only its own events", ev.ID, ev.WorkflowID, ev.RunID, run.ID, run.RunID),
			ErrTypeNotOurs, nil)
	}
	if a.Ledger == nil {
		return AppendResult{}, temporal.NewNonRetryableApplicationError("audit: this worker has no ledger", ErrTypeInvalidEvent, nil)
	}
	e, err := a.Ledger.Append(ctx, ev)
	if errors.Is(err, ErrInvalidEvent) {
		return AppendResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidEvent, err)
	}
	if err != nil {
		return AppendResult{}, fmt.Errorf("append audit event %s: %w", ev.ID, err)
	}
	return AppendResult{EventID: e.Event.ID, Seq: e.Seq, Hash: e.Hash}, nil
}

// Recorder records a workflow's events to the ledger, each through the
// append activity, with ids "<workflowId>/<runId>/<n>" that replay
// identically. Its zero value and nil record nothing.
type Recorder struct {
	on          bool
	process     string
	businessKey string
	wfID, runID string
	n           int
	logger      log.Logger
}

// NewRecorder asks (once, so every later call agrees) whether this
// execution records, and returns its recorder.
func NewRecorder(ctx workflow.Context, process, businessKey string) *Recorder {
	info := workflow.GetInfo(ctx)
	return &Recorder{
		on:          workflow.GetVersion(ctx, ChangeLedger, workflow.DefaultVersion, 1) >= 1,
		process:     process,
		businessKey: businessKey,
		wfID:        info.WorkflowExecution.ID,
		runID:       info.WorkflowExecution.RunID,
		logger:      workflow.GetLogger(ctx),
	}
}

// SetBusinessKey changes the key later events carry (a process that
// learns it after the start).
func (r *Recorder) SetBusinessKey(key string) {
	if r != nil {
		r.businessKey = key
	}
}

// Enabled reports whether this execution records.
func (r *Recorder) Enabled() bool { return r != nil && r.on }

// appendOptions: the ledger is our own database, so a short call; retried
// for minutes, because an event must not be lost to a database restart.
var appendOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout:    10 * time.Second,
	ScheduleToCloseTimeout: 10 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		NonRetryableErrorTypes: []string{ErrTypeInvalidEvent, ErrTypeNotOurs},
	},
}

// Record appends one event and waits for it, so the ledger's order is the
// workflow's. It runs on a disconnected context: what happens while a run
// is cancelled is recorded too. A failure after the retries is logged, not
// returned: the business step already happened and must not be undone by
// its record; the history's failed marker shows the gap and `audit verify
// --temporal` finds it.
func (r *Recorder) Record(ctx workflow.Context, kind Kind, actor, summary string, data any, links ...string) {
	if !r.Enabled() {
		return
	}
	r.n++
	ev := Event{
		ID: fmt.Sprintf("%s/%s/%d", r.wfID, r.runID, r.n), Process: r.process, BusinessKey: r.businessKey,
		WorkflowID: r.wfID, RunID: r.runID, Kind: kind, Actor: actor, Summary: clip(summary, maxSummary),
		At: workflow.Now(ctx).UTC(), Links: links,
	}
	if data != nil {
		// encoding/json sorts map keys and follows struct order: the same
		// bytes on every replay.
		raw, err := json.Marshal(data)
		if err != nil {
			r.logger.Error("Audit event data not encodable", "kind", kind, "error", err)
		} else {
			ev.Data = raw
		}
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	lctx := workflow.WithLocalActivityOptions(dctx, appendOptions)
	var res AppendResult
	if err := workflow.ExecuteLocalActivity(lctx, AppendActivityName, ev).Get(lctx, &res); err != nil {
		r.logger.Error("Audit event not recorded", "eventId", ev.ID, "kind", kind, "error", err)
	}
}

// maxSummary is the ledger's cap on a summary; longer ones are cut rather
// than refused, so a long reason never loses the event.
const maxSummary = 500

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}
