package web

// The operations view: the exceptions queue across every process (whatever
// waits on a person, oldest first, with why), the KPIs from the audit
// ledger as charts over time (Chart.js, vendored under static/ and served
// from here, never a CDN) and as tables for a browser without scripts, and
// the audit view of one business key (audit_view.go). Only people holding
// one of Config.OpsRoles see them; field workers never.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/execution-orchestrator/orchestrator/audit"
)

// OpsSource feeds the exceptions queue of the operations view
// (TemporalOps reads it from Temporal).
type OpsSource interface {
	// Waiting lists every running workflow waiting on a person.
	Waiting(ctx context.Context) ([]WaitingItem, error)
}

// AuditReader is what the operations and audit views read of the audit
// ledger (*audit.Ledger).
type AuditReader interface {
	// Entries are the entries a filter selects, in ledger order.
	Entries(ctx context.Context, f audit.Filter) ([]audit.Entry, error)
	// History is everything recorded for a business key (and the runs it
	// links to), in ledger order.
	History(ctx context.Context, key string) ([]audit.Entry, error)
}

// Kinds of waiting (WaitingItem.Kind).
const (
	WaitingApproval       = "approval"
	WaitingHumanTask      = "human task"
	WaitingEvidenceReview = "evidence review"
	WaitingUnknown        = "unknown"
)

// WaitingItem is one running workflow waiting on a person.
type WaitingItem struct {
	Process      string
	WorkflowID   string
	WorkflowType string
	BusinessKey  string
	Title        string
	// Kind: WaitingApproval, WaitingHumanTask, WaitingEvidenceReview, or
	// WaitingUnknown when its status could not be read.
	Kind string
	// WaitingOn are the people (directory or workforce ids) or roles the
	// workflow waits for.
	WaitingOn []string
	// Since is when the wait began; Due when it should end (zero: no
	// deadline known).
	Since time.Time
	Due   time.Time
	// Why says it in words: "awaiting finance-manager approval (...)",
	// "offered to w-ana, not accepted", "overdue since 10:42, escalated to
	// field-coordinator".
	Why string
	// Stuck: past its deadline, escalated, or nobody can act on it.
	Stuck bool
	// Unavailable: the workflow did not answer its status query (no
	// worker?); Why says so.
	Unavailable bool
}

// DefaultOpsRoles are the roles whose holders see the operations and
// audit views.
func DefaultOpsRoles() []string { return []string{"controller", "cfo", CoordinatorRole} }

// DefaultNamespace is the Temporal namespace the Temporal UI links name.
const DefaultNamespace = "default"

// opsState is the operations view's configuration.
type opsState struct {
	source    OpsSource   // nil: no exceptions queue
	audit     AuditReader // nil: no KPIs and no audit view
	uiURL     string      // Temporal UI, no trailing slash; "": no links
	namespace string
	roles     []string
	assets    *staticAssets
}

// Bounds on reading the ledger for the KPIs.
const (
	// maxKPIEntries bounds the entries one KPI page reads.
	maxKPIEntries = 50000
	// recentExceptions is how many exceptions the page lists.
	recentExceptions = 20
)

// opsCSP is the operations page's policy: its scripts from this server
// only (the vendored Chart.js and ops.js), no inline script.
const opsCSP = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (s *Server) routeOps(mux *http.ServeMux, cfg Config) error {
	assets, err := loadStaticAssets()
	if err != nil {
		return err
	}
	mux.Handle("GET /static/", assets)
	if cfg.Ops == nil && cfg.Audit == nil {
		return nil
	}
	o := &opsState{source: cfg.Ops, audit: cfg.Audit, namespace: cfg.Namespace, roles: cfg.OpsRoles, assets: assets}
	if o.namespace == "" {
		o.namespace = DefaultNamespace
	}
	if o.roles == nil {
		o.roles = DefaultOpsRoles()
	}
	if cfg.TemporalUIURL != "" {
		u, err := url.Parse(cfg.TemporalUIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("web: Config.TemporalUIURL %q is not an http(s) URL like http://127.0.0.1:8233", cfg.TemporalUIURL)
		}
		o.uiURL = strings.TrimRight(u.String(), "/")
	}
	s.ops = o
	mux.HandleFunc("GET /ops", s.opsPage)
	mux.HandleFunc("GET /audit/{key}", s.auditPage)
	return nil
}

// mayOps says whether me may see the operations and audit views.
func (s *Server) mayOps(me string) bool {
	if s.ops == nil || me == "" {
		return false
	}
	return slices.ContainsFunc(s.ops.roles, func(role string) bool { return s.dir.HasRole(me, role) })
}

// requireOps is the signed-in person allowed the operations views, or it
// answers: a field worker or a person without an ops role (403), nobody
// (sign in).
func (s *Server) requireOps(w http.ResponseWriter, r *http.Request) (string, bool) {
	me, ok := s.auth.Person(r)
	if !ok {
		if _, worker := s.workerOf(r); worker {
			s.fail(w, r, http.StatusForbidden, "Not for field workers",
				"The operations view is for the organisation's operators. You are signed in as a field worker: your tasks are under My tasks.")
			return "", false
		}
		http.Redirect(w, r, s.signInURL(r.URL.RequestURI()), http.StatusSeeOther)
		return "", false
	}
	if !s.mayOps(me) {
		s.log.WarnContext(r.Context(), "operations view refused", "person", me, "path", r.URL.Path)
		s.fail(w, r, http.StatusForbidden, "Not allowed",
			"The operations and audit views are for people holding one of the roles "+strings.Join(s.ops.roles, ", ")+". Ask an administrator if you need them.")
		return "", false
	}
	return me, true
}

// temporalLink is the Temporal UI page of a workflow, or "".
func (o *opsState) temporalLink(workflowID string) string {
	if o.uiURL == "" || workflowID == "" {
		return ""
	}
	return o.uiURL + "/namespaces/" + url.PathEscape(o.namespace) + "/workflows/" + url.PathEscape(workflowID)
}

// auditLink is the audit view of a business key (or a workflow id: the
// ledger's history answers both), or "".
func auditLink(key string) string {
	if key == "" || validAuditKey(key) != "" {
		return ""
	}
	return "/audit/" + url.PathEscape(key)
}

// ---- the page ----

type waitingRow struct {
	WaitingItem
	On           []personView
	SinceText    string
	Age          string
	DueText      string
	TemporalURL  string
	ApprovalURL  string
	AuditURL     string
	ProcessLabel string
}

type windowLink struct {
	Name, Label string
	Current     bool
}

type recentRow struct {
	At, Process, Reason, Summary, To string
	BusinessKey, WorkflowID          string
	AuditURL, TemporalURL            string
}

type opsView struct {
	Now        string
	Queue      bool // an exceptions queue is configured
	Waiting    []waitingRow
	Stuck      int
	WaitingErr string
	Ledger     bool // a ledger is configured
	KPI        *kpiView
	KPIErr     string
	Window     string
	Windows    []windowLink
	Recent     []recentRow
	Charts     chartData
	ChartJS    string
	OpsJS      string
}

type kpiWindow struct {
	name, label string
	span, step  time.Duration
}

// kpiWindows are the windows the page offers: name, span, bucket.
var kpiWindows = []kpiWindow{
	{"24h", "last 24 hours", 24 * time.Hour, time.Hour},
	{"7d", "last 7 days", 7 * 24 * time.Hour, 24 * time.Hour},
	{"30d", "last 30 days", 30 * 24 * time.Hour, 24 * time.Hour},
}

const defaultKPIWindow = "7d"

func (s *Server) opsPage(w http.ResponseWriter, r *http.Request) {
	me, ok := s.requireOps(w, r)
	if !ok {
		return
	}
	name := r.URL.Query().Get("window")
	if name == "" {
		name = defaultKPIWindow
	}
	i := slices.IndexFunc(kpiWindows, func(k kpiWindow) bool { return k.name == name })
	if i < 0 {
		s.fail(w, r, http.StatusBadRequest, "Bad request", fmt.Sprintf("window: %q is not one of 24h, 7d, 30d.", shorten(name, 32)))
		return
	}
	win := kpiWindows[i]
	now := s.now().UTC()
	v := opsView{Now: now.Format(auditTimeLayout), Queue: s.ops.source != nil, Ledger: s.ops.audit != nil, Window: win.name,
		ChartJS: s.ops.assets.url("vendor/chartjs/chart.umd.min.js"), OpsJS: s.ops.assets.url("ops.js")}
	for _, k := range kpiWindows {
		v.Windows = append(v.Windows, windowLink{Name: k.name, Label: k.label, Current: k.name == win.name})
	}

	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	var (
		wg      sync.WaitGroup
		items   []WaitingItem
		itemErr error
		entries []audit.Entry
		entErr  error
	)
	from, to := kpiRange(now, win.span, win.step)
	if s.ops.source != nil {
		wg.Go(func() { items, itemErr = s.ops.source.Waiting(ctx) })
	}
	if s.ops.audit != nil {
		wg.Go(func() {
			entries, entErr = s.ops.audit.Entries(ctx, audit.Filter{Since: from, Until: to, Limit: maxKPIEntries,
				Kinds: []audit.Kind{audit.KindOutcome, audit.KindApproval, audit.KindException, audit.KindGate, audit.KindVerification, audit.KindSideEffect}})
		})
	}
	wg.Wait()

	if itemErr != nil {
		s.log.ErrorContext(r.Context(), "list waiting workflows", "err", itemErr)
		v.WaitingErr = "Could not list the workflows waiting on people: " + itemErr.Error()
	}
	v.Waiting = s.waitingRows(items, now)
	for _, row := range v.Waiting {
		if row.Stuck {
			v.Stuck++
		}
	}
	if entErr != nil {
		s.log.ErrorContext(r.Context(), "read audit ledger for KPIs", "err", entErr)
		v.KPIErr = "Could not read the audit ledger: " + entErr.Error()
	} else if s.ops.audit != nil {
		rep := ComputeKPIs(entries, from, to, win.step)
		kv := kpiViewOf(rep, win.step)
		kv.Truncated = len(entries) >= maxKPIEntries
		v.KPI = &kv
		v.Charts = chartDataOf(rep, win.step)
		for _, e := range rep.Recent {
			v.Recent = append(v.Recent, s.recentRow(e))
		}
	}
	pg := s.newPage(w, r, "Operations", me)
	pg.Data = v
	w.Header().Set("Content-Security-Policy", opsCSP)
	s.render(w, r, http.StatusOK, "ops", pg)
}

// waitingRows sorts the queue oldest first and dresses it for the page.
func (s *Server) waitingRows(items []WaitingItem, now time.Time) []waitingRow {
	items = slices.Clone(items)
	slices.SortStableFunc(items, func(a, b WaitingItem) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.WorkflowID, b.WorkflowID)
	})
	rows := make([]waitingRow, 0, len(items))
	for _, it := range items {
		row := waitingRow{WaitingItem: it, TemporalURL: s.ops.temporalLink(it.WorkflowID), AuditURL: auditLink(orDefault(it.BusinessKey, it.WorkflowID)),
			ProcessLabel: orDefault(it.Process, it.WorkflowType)}
		for _, id := range it.WaitingOn {
			row.On = append(row.On, s.personView(id))
		}
		if !it.Since.IsZero() {
			row.SinceText = it.Since.UTC().Format(auditTimeLayout)
			row.Age = ago(now.Sub(it.Since))
		}
		if !it.Due.IsZero() {
			row.DueText = it.Due.UTC().Format(auditTimeLayout) + " (" + until(it.Due.Sub(now)) + ")"
		}
		if it.Kind == WaitingApproval || it.Kind == WaitingEvidenceReview {
			row.ApprovalURL = "/approvals/" + url.PathEscape(it.WorkflowID)
		}
		if row.Title == "" {
			row.Title = it.WorkflowID
		}
		rows = append(rows, row)
	}
	return rows
}

func (s *Server) recentRow(e audit.Entry) recentRow {
	ev := e.Event
	row := recentRow{At: ev.At.UTC().Format(auditTimeLayout), Process: ev.Process, Summary: ev.Summary,
		BusinessKey: ev.BusinessKey, WorkflowID: ev.WorkflowID, AuditURL: auditLink(orDefault(ev.BusinessKey, ev.WorkflowID)),
		TemporalURL: s.ops.temporalLink(ev.WorkflowID)}
	var d audit.ExceptionData
	if decodeData(ev, &d) == nil {
		row.Reason, row.To = d.Reason, strings.Join(d.To, ", ")
	}
	return row
}

// kpiRange is the window ending now, in whole buckets: from the start of
// the bucket span-step before now's bucket to the end of now's bucket.
func kpiRange(now time.Time, span, step time.Duration) (time.Time, time.Time) {
	end := now.Truncate(step).Add(step)
	return end.Add(-span), end
}
