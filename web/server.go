// Package web is the approval web app: a server-rendered, JavaScript-free
// site where people see the payments waiting for them, exactly what each will
// execute, and approve or reject it. Decisions go to the workflow as the
// "approval" Update, so the workflow's validator has the last word and its
// refusals are shown to the person.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/linktoken"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/workflows"
)

//go:embed templates/*.html
var templateFS embed.FS

// Workflows is what the web app needs from Temporal.
type Workflows interface {
	PendingApprovals(ctx context.Context, personID string) ([]client.PendingApproval, error)
	Status(ctx context.Context, workflowID string) (workflows.VendorPaymentStatus, error)
	Approve(ctx context.Context, workflowID string, req workflows.ApprovalRequest) error
}

// LinkTokens is what the web app needs from the link token store.
type LinkTokens interface {
	Peek(ctx context.Context, token string) (linktoken.Claims, error)
	Redeem(ctx context.Context, token, workflowID, actionDigest string) (linktoken.Claims, error)
}

// Config configures a Server. Temporal or Workflows is required; Directory is
// required; Links may be nil (emailed links are then refused).
type Config struct {
	Temporal  tclient.Client
	Workflows Workflows // overrides Temporal; tests pass a fake here
	Directory *policy.Directory
	Links     *linktoken.Store
	Logger    *slog.Logger
	Now       func() time.Time
	// Auth says who is signed in; nil means DevSessions (the person picker).
	Auth Authenticator
	// SecretKey signs session and CSRF cookies; empty means a random key,
	// so sessions end when the process restarts.
	SecretKey []byte
	// SecureCookies sets the Secure flag; turn on behind HTTPS.
	SecureCookies bool
}

// Server serves the approval app.
type Server struct {
	wf     Workflows
	dir    *policy.Directory
	links  LinkTokens
	log    *slog.Logger
	now    func() time.Time
	auth   Authenticator
	csrf   csrf
	tmpl   map[string]*template.Template
	handle http.Handler
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Directory == nil {
		return nil, errors.New("web: Config.Directory is required")
	}
	s := &Server{dir: cfg.Directory, log: cfg.Logger, now: cfg.Now, auth: cfg.Auth, wf: cfg.Workflows}
	if s.wf == nil {
		if cfg.Temporal == nil {
			return nil, errors.New("web: Config.Temporal is required")
		}
		s.wf = temporalWorkflows{c: cfg.Temporal}
	}
	if cfg.Links != nil {
		s.links = cfg.Links
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	key := cfg.SecretKey
	if len(key) == 0 {
		key = []byte(randomString(32))
	}
	if s.auth == nil {
		s.auth = NewDevSessions(key, func(id string) bool { _, ok := cfg.Directory.Person(id); return ok }, cfg.SecureCookies)
	}
	s.csrf = csrf{key: key, secure: cfg.SecureCookies}
	var err error
	if s.tmpl, err = parseTemplates(); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /{$}", s.picker)
	mux.HandleFunc("POST /session", s.signIn)
	mux.HandleFunc("POST /session/end", s.signOut)
	mux.HandleFunc("GET /inbox", s.inbox)
	mux.HandleFunc("GET /approvals/{workflowId}", s.detail)
	mux.HandleFunc("POST /approvals/{workflowId}", s.decide)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "Not found", "There is no page at "+r.URL.Path+".")
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusForbidden, "Cross-site request refused", "This form was submitted from another site. Open the page here and try again.")
	}))
	s.handle = securityHeaders(cop.Handler(mux))
	return s, nil
}

// Handler returns the app's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handle }

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// No scripts at all; styles only inline from our own templates.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer") // link tokens must not leak via Referer
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// temporalWorkflows is the real Workflows, on the typed client helpers.
type temporalWorkflows struct{ c tclient.Client }

func (t temporalWorkflows) PendingApprovals(ctx context.Context, personID string) ([]client.PendingApproval, error) {
	return client.PendingApprovals(ctx, t.c, personID)
}

func (t temporalWorkflows) Status(ctx context.Context, workflowID string) (workflows.VendorPaymentStatus, error) {
	st, err := client.VendorPaymentStatus(ctx, t.c, workflowID)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return st, fmt.Errorf("%w: %w", errNotFound, err)
	}
	return st, err
}

func (t temporalWorkflows) Approve(ctx context.Context, workflowID string, req workflows.ApprovalRequest) error {
	return client.Approve(ctx, t.c, workflowID, req)
}

// Bounds on how long a person waits: queries and Updates wait for a worker,
// which may be down.
const (
	readTimeout   = 15 * time.Second
	decideTimeout = 20 * time.Second
)

// errNotFound marks a workflow that does not exist.
var errNotFound = errors.New("workflow not found")

// ---- pages ----

type personView struct {
	ID, Name, Email string
	Roles           string
	Absent          bool
}

func (s *Server) personView(id string) personView {
	p, ok := s.dir.Person(id)
	if !ok {
		return personView{ID: id, Name: id}
	}
	return personView{ID: p.ID, Name: p.Name, Email: p.Email, Roles: strings.Join(p.Roles, ", "), Absent: p.Absent}
}

// page is what every template gets.
type page struct {
	Title   string
	Me      *personView
	CanSign bool // the authenticator lets the app sign people out
	CSRF    string
	Data    any
}

func (s *Server) newPage(w http.ResponseWriter, r *http.Request, title string, me string) page {
	p := page{Title: title, CSRF: s.csrf.token(w, r)}
	if me != "" {
		v := s.personView(me)
		p.Me = &v
	}
	_, p.CanSign = s.auth.(SessionStarter)
	return p
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := s.tmpl[name]
	if !ok {
		s.log.ErrorContext(r.Context(), "missing template", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

type failView struct {
	Status  int
	Heading string
	Message string
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	me, _ := s.auth.Person(r)
	p := s.newPage(w, r, heading, me)
	p.Data = failView{Status: status, Heading: heading, Message: msg}
	s.render(w, r, status, "error", p)
}

func (s *Server) picker(w http.ResponseWriter, r *http.Request) {
	me, _ := s.auth.Person(r)
	var people []personView
	for _, p := range s.dir.People() {
		people = append(people, s.personView(p.ID))
	}
	next := r.URL.Query().Get("next")
	if !localPath(next) {
		next = ""
	}
	pg := s.newPage(w, r, "Who are you?", me)
	pg.Data = struct {
		People []personView
		Next   string
	}{people, next}
	s.render(w, r, http.StatusOK, "picker", pg)
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	st, ok := s.auth.(SessionStarter)
	if !ok {
		s.fail(w, r, http.StatusNotFound, "Not available", "Sign-in is handled elsewhere.")
		return
	}
	if !s.csrf.valid(r) {
		s.fail(w, r, http.StatusForbidden, "Form expired", "The form's security token is missing or wrong. Reload the page and try again.")
		return
	}
	id := r.PostFormValue("person")
	if _, ok := s.dir.Person(id); !ok {
		s.fail(w, r, http.StatusBadRequest, "Unknown person", fmt.Sprintf("person: %q is not in the directory.", id))
		return
	}
	st.SignIn(w, id)
	next := r.PostFormValue("next")
	if !localPath(next) {
		next = "/inbox"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if !s.csrf.valid(r) {
		s.fail(w, r, http.StatusForbidden, "Form expired", "The form's security token is missing or wrong. Reload the page and try again.")
		return
	}
	if st, ok := s.auth.(SessionStarter); ok {
		st.SignOut(w)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

type inboxRow struct {
	WorkflowID string
	InvoiceID  string
	Vendor     string
	Amount     string
	Waiting    string
	Problem    string
}

func (s *Server) inbox(w http.ResponseWriter, r *http.Request) {
	me, ok := s.auth.Person(r)
	if !ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	items, err := s.wf.PendingApprovals(ctx, me)
	if err != nil {
		s.log.ErrorContext(r.Context(), "list pending approvals", "person", me, "err", err)
		s.fail(w, r, http.StatusBadGateway, "Inbox unavailable", "Could not list your pending approvals: "+err.Error())
		return
	}
	now := s.now()
	rows := make([]inboxRow, 0, len(items))
	for _, it := range items {
		row := inboxRow{WorkflowID: it.WorkflowID, InvoiceID: it.InvoiceID, Vendor: it.VendorName, Problem: it.StatusError}
		if it.Currency != "" {
			row.Amount = money(it.AmountMinor, it.Currency)
		}
		since := it.StartedAt
		if it.AwaitingSince != nil {
			since = *it.AwaitingSince
		}
		row.Waiting = ago(now.Sub(since))
		rows = append(rows, row)
	}
	pg := s.newPage(w, r, "Inbox", me)
	pg.Data = rows
	s.render(w, r, http.StatusOK, "inbox", pg)
}

type approvalView struct {
	Slot, Decision, Comment, At string
	Approver, OnBehalfOf        personView
}

type detailView struct {
	WorkflowID     string
	Status         workflows.VendorPaymentStatus
	Amount         string
	Pending        []personView
	Approvals      []approvalView
	Waiting        string
	CanDecide      bool
	WhyNot         string
	Token          string // emailed link token, carried into the form
	ViaLink        bool
	Recorded       string // decision just recorded, from the redirect
	Error          string // the workflow's refusal, shown on 422
	DecisionWanted string
	Comment        string
}

// identity resolves who acts on a detail page: an emailed link token (peeked,
// not consumed) wins over the session.
func (s *Server) identity(r *http.Request, workflowID, token string) (string, int, string) {
	if token == "" {
		if me, ok := s.auth.Person(r); ok {
			return me, 0, ""
		}
		return "", http.StatusUnauthorized, ""
	}
	if s.links == nil {
		return "", http.StatusForbidden, "Approval links are not enabled on this server."
	}
	c, err := s.links.Peek(r.Context(), token)
	if err != nil {
		return "", http.StatusForbidden, linkRefusal(err)
	}
	if c.WorkflowID != workflowID {
		return "", http.StatusForbidden, linkRefusal(linktoken.ErrMismatch)
	}
	return c.PersonID, 0, ""
}

func linkRefusal(err error) string {
	switch {
	case errors.Is(err, linktoken.ErrUsed):
		return "This approval link has already been used. Sign in to see the payment."
	case errors.Is(err, linktoken.ErrExpired):
		return "This approval link has expired. Sign in to decide, or ask for a new link."
	case errors.Is(err, linktoken.ErrMismatch):
		return "This approval link was issued for a different payment or for an earlier version of it."
	case errors.Is(err, linktoken.ErrUnknown):
		return "This approval link is not valid."
	default:
		return "The approval link could not be checked right now. Try again in a moment."
	}
}

func (s *Server) detail(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("workflowId")
	token := r.URL.Query().Get("token")
	me, code, why := s.identity(r, id, token)
	switch code {
	case 0:
	case http.StatusUnauthorized:
		http.Redirect(w, r, "/?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
		return
	default:
		s.fail(w, r, code, "Link refused", why)
		return
	}
	v, ok := s.loadDetail(w, r, id, me)
	if !ok {
		return
	}
	v.Token, v.ViaLink = token, token != ""
	switch d := r.URL.Query().Get("recorded"); d {
	case workflows.DecisionApprove, workflows.DecisionReject:
		v.Recorded = d
	}
	s.renderDetail(w, r, http.StatusOK, me, v)
}

func (s *Server) loadDetail(w http.ResponseWriter, r *http.Request, id, me string) (detailView, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	st, err := s.wf.Status(ctx, id)
	if errors.Is(err, errNotFound) {
		s.fail(w, r, http.StatusNotFound, "No such payment", fmt.Sprintf("There is no workflow %q.", id))
		return detailView{}, false
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "status query", "workflowId", id, "err", err)
		s.fail(w, r, http.StatusBadGateway, "Payment unavailable", "Could not read the payment's status: "+err.Error())
		return detailView{}, false
	}
	v := detailView{WorkflowID: id, Status: st}
	if st.Action != nil {
		v.Amount = money(st.Action.AmountMinor, st.Action.Currency)
	} else if st.Currency != "" {
		v.Amount = money(st.AmountMinor, st.Currency)
	}
	for _, p := range st.PendingApprovers {
		v.Pending = append(v.Pending, s.personView(p))
	}
	for _, a := range st.Approvals {
		av := approvalView{Slot: a.Slot, Decision: a.Decision, Comment: a.Comment, At: a.At.UTC().Format("2006-01-02 15:04 MST"), Approver: s.personView(a.Approver)}
		if a.OnBehalfOf != "" {
			av.OnBehalfOf = s.personView(a.OnBehalfOf)
		}
		v.Approvals = append(v.Approvals, av)
	}
	if st.AwaitingSince != nil {
		v.Waiting = ago(s.now().Sub(*st.AwaitingSince))
	}
	switch {
	case st.Stage != workflows.StageAwaitingApproval:
		v.WhyNot = "This payment is not waiting for approval."
	case st.ActionDigest == "":
		v.WhyNot = "The payment has no action digest yet; reload in a moment."
	case !slices.Contains(st.PendingApprovers, me):
		v.WhyNot = "You are not one of the pending approvers of this payment."
	default:
		v.CanDecide = true
	}
	return v, true
}

func (s *Server) renderDetail(w http.ResponseWriter, r *http.Request, status int, me string, v detailView) {
	pg := s.newPage(w, r, "Payment "+v.Status.InvoiceID, me)
	pg.Data = v
	s.render(w, r, status, "detail", pg)
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("workflowId")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "Bad form", "The form could not be read.")
		return
	}
	decision := r.PostFormValue("decision")
	digest := r.PostFormValue("actionDigest")
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	token := r.PostFormValue("token")
	switch {
	case decision != workflows.DecisionApprove && decision != workflows.DecisionReject:
		s.fail(w, r, http.StatusBadRequest, "Bad form", fmt.Sprintf("decision: %q is not approve or reject.", decision))
		return
	case digest == "":
		s.fail(w, r, http.StatusBadRequest, "Bad form", "actionDigest: missing; reload the payment page.")
		return
	case len(comment) > 2000:
		s.fail(w, r, http.StatusBadRequest, "Bad form", "comment: longer than 2000 characters.")
		return
	}

	var me string
	if token != "" {
		// The link token is a secret a cross-site page cannot know, so it
		// stands in for the CSRF field; it is consumed before anything else.
		if s.links == nil {
			s.fail(w, r, http.StatusForbidden, "Link refused", "Approval links are not enabled on this server.")
			return
		}
		c, err := s.links.Redeem(r.Context(), token, id, digest)
		if err != nil {
			s.log.WarnContext(r.Context(), "link token refused", "workflowId", id, "err", err)
			s.fail(w, r, http.StatusForbidden, "Link refused", linkRefusal(err))
			return
		}
		// The link admits this one decision only: it does not sign the
		// person in, so a forwarded or scanned link never opens their inbox.
		me = c.PersonID
	} else {
		var ok bool
		if me, ok = s.auth.Person(r); !ok {
			s.fail(w, r, http.StatusUnauthorized, "Not signed in", "Sign in to decide on payments.")
			return
		}
		if !s.csrf.valid(r) {
			s.fail(w, r, http.StatusForbidden, "Form expired", "The form's security token is missing or wrong. Reload the page and try again.")
			return
		}
	}

	req := workflows.ApprovalRequest{Decision: decision, Approver: me, Comment: comment, ActionDigest: digest}
	// Without a worker an Update waits forever; a person should not.
	ctx, cancel := context.WithTimeout(r.Context(), decideTimeout)
	defer cancel()
	err := s.wf.Approve(ctx, id, req)
	if err == nil {
		s.log.InfoContext(r.Context(), "decision recorded", "workflowId", id, "approver", me, "decision", decision, "actionDigest", digest, "viaLink", token != "")
		if token != "" {
			// No session to redirect into: show the outcome right here.
			v, ok := s.loadDetail(w, r, id, me)
			if !ok {
				return
			}
			v.Recorded = decision
			s.renderDetail(w, r, http.StatusOK, me, v)
			return
		}
		http.Redirect(w, r, "/approvals/"+url.PathEscape(id)+"?recorded="+decision, http.StatusSeeOther)
		return
	}
	var refused *client.ApprovalRefusedError
	switch {
	case errors.As(err, &refused):
		s.log.InfoContext(r.Context(), "decision refused by workflow", "workflowId", id, "approver", me, "reason", refused.Reason)
		v, ok := s.loadDetail(w, r, id, me)
		if !ok {
			return
		}
		v.Error, v.DecisionWanted, v.Comment = refused.Reason, decision, comment
		s.renderDetail(w, r, http.StatusUnprocessableEntity, me, v)
	case errors.Is(err, client.ErrNotRunning):
		s.fail(w, r, http.StatusConflict, "Payment no longer waiting", "This payment has finished or does not exist; your decision was not recorded.")
	case errors.Is(err, client.ErrInvalidInput):
		s.fail(w, r, http.StatusBadRequest, "Bad form", err.Error())
	default:
		s.log.ErrorContext(r.Context(), "send decision", "workflowId", id, "approver", me, "err", err)
		s.fail(w, r, http.StatusBadGateway, "Decision not confirmed", "The workflow did not confirm your decision in time, so it may not have been recorded. Open the payment again to check before retrying.")
	}
}

// localPath accepts only same-site paths, so "next" cannot redirect away.
// Browsers drop tabs and newlines from URLs, so "/\t/evil.example" would
// become "//evil.example": any control character or space is refused.
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.Contains(p, `\`) {
		return false
	}
	if strings.IndexFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && !strings.HasPrefix(u.Path, "//")
}

// ---- formatting ----

func money(minor int64, currency string) string {
	return policy.FormatAmount(minor) + " " + currency
}

// ago renders a waiting time coarsely: people want "3h 12m", not seconds.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
}

func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{"short": func(s string) string {
		if len(s) > 19 {
			return s[:19] + "…"
		}
		return s
	}}
	out := map[string]*template.Template{}
	for _, name := range []string{"picker", "inbox", "detail", "error"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}
