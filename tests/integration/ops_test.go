package integration

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
)

// waitingRowRE finds one row of the exceptions queue: its workflow id and
// the row's text up to the next row.
var waitingRowRE = regexp.MustCompile(`(?s)<tr class="waiting-item( stuck-row)?" data-workflow-id="([^"]+)">(.*?)</tr>`)

// The operations page lists, across processes, a payment waiting for a
// finance manager and a human task whose assignee let it run overdue (so
// it was escalated): the task is marked stuck, the approval is not, and
// each says why. People without an operations role are refused.
func TestOperationsPageListsWaitingApprovalAndStuckTask(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	pay := start(t, s, sandbox.InvoiceMedium)
	awaiting(t, s, pay.GetID(), "maria")

	task := startTask(t, s, idTask("ops-stuck", lisbon, 30*time.Second, 2*time.Second))
	st := taskStatus(t, s, task.GetID(), openFor("ana-field"))
	if err := step(t, s, task, st, humantask.ActionAccept, nil); err != nil {
		t.Fatalf("ana-field accepts: %v", err)
	}
	// ana-field submits nothing: overdue, escalated to the coordinators,
	// offered to the next person (who does not answer either).
	taskStatus(t, s, task.GetID(), func(st humantask.Status) bool { return len(st.Escalations) > 0 && st.OpenFor != "" })

	b := newBrowser(t, s.WebURL)
	b.signIn("ana") // controller
	var rows map[string]string
	stuck := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, page := b.do(http.MethodGet, "/ops", nil)
		if code != http.StatusOK {
			t.Fatalf("/ops: %d\n%s", code, page)
		}
		rows = map[string]string{}
		for _, m := range waitingRowRE.FindAllStringSubmatch(page, -1) {
			rows[m[2]], stuck[m[2]] = m[3], m[1] != ""
		}
		if rows[pay.GetID()] != "" && rows[task.GetID()] != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ops never listed %s and %s:\n%s", pay.GetID(), task.GetID(), page)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if row := rows[pay.GetID()]; stuck[pay.GetID()] || !strings.Contains(row, "finance-manager") || !strings.Contains(row, "/approvals/"+pay.GetID()) {
		t.Errorf("approval row (stuck=%v) lacks why or its link:\n%s", stuck[pay.GetID()], row)
	}
	if row := rows[task.GetID()]; !stuck[task.GetID()] || !strings.Contains(row, "escalated") {
		t.Errorf("task row (stuck=%v) is not marked stuck with why:\n%s", stuck[task.GetID()], row)
	}
	// The audit link of the task shows its story so far, from the ledger.
	code, page := b.do(http.MethodGet, "/audit/ops-stuck", nil)
	if code != http.StatusOK || !strings.Contains(page, "accepted the task") || !strings.Contains(page, "task_escalated") {
		t.Errorf("/audit/ops-stuck: %d\n%s", code, page)
	}
	entries, err := s.Ledger.Entries(ctx, audit.Filter{Kinds: []audit.Kind{audit.KindException}})
	if err != nil || len(entries) == 0 {
		t.Errorf("no exception in the ledger (%v)", err)
	}

	// maria (finance-manager) has no operations role.
	other := newBrowser(t, s.WebURL)
	other.signIn("maria")
	if code, _ := other.do(http.MethodGet, "/ops", nil); code != http.StatusForbidden {
		t.Errorf("maria on /ops: %d, want 403", code)
	}
	if err := s.Temporal.CancelWorkflow(ctx, task.GetID(), ""); err != nil {
		t.Fatal(err)
	}
}
