// Package web is the approval web app: a server-rendered, JavaScript-free
// site where people see the payments waiting for them, exactly what each will
// execute, and approve or reject it. Decisions go to the workflow as the
// "approval" Update, so the workflow's validator has the last word and its
// refusals are shown to the person. Field workers of the workforce directory
// sign in too and work their human tasks from a phone (tasks.go): the only
// pages with a script, a small inline one for the check-in position and the
// signature pad.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/internal/baseurl"
	"github.com/execution-orchestrator/orchestrator/linktoken"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
)

//go:embed templates/*.html
var templateFS embed.FS

// Workflows is what the web app needs from Temporal.
type Workflows interface {
	PendingApprovals(ctx context.Context, personID string) ([]client.PendingApproval, error)
	Status(ctx context.Context, workflowID string) (approvals.Status, error)
	// Describe is Temporal's own record of the workflow's current run. The
	// app trusts it, not the Status answer, for which workflow it signs.
	Describe(ctx context.Context, workflowID string) (Execution, error)
	// Approve sends a decision; a non-empty updateID makes a retry the
	// same Update.
	Approve(ctx context.Context, workflowID, updateID string, req approvals.Request) error
}

// Execution is what the Temporal server records about a workflow's current
// run. Unlike a query answer, which whatever worker polls the workflow's
// task queue makes up, no workflow code can change it.
type Execution struct {
	RunID        string
	WorkflowType string
	TaskQueue    string
	Running      bool
}

// LinkTokens is what the web app needs from the link token store.
type LinkTokens interface {
	Peek(ctx context.Context, token string) (linktoken.Claims, error)
	Redeem(ctx context.Context, token, workflowID, actionDigest string) (linktoken.Claims, error)
}

// Config configures a Server. Temporal or Workflows is required; Directory is
// required; Links may be nil (emailed links are then refused). Exactly one
// of OIDC and DevIdentity says how people sign in.
type Config struct {
	Temporal  tclient.Client
	Workflows Workflows // overrides Temporal; tests pass a fake here
	Directory *policy.Directory
	Links     *linktoken.Store
	Logger    *slog.Logger
	Now       func() time.Time
	// BaseURL is the URL people open, scheme://host[:port]. Requests naming
	// another Host are refused (421), which stops DNS-rebinding pages from
	// talking to the app; an https BaseURL turns on Secure cookies. Empty
	// skips the Host check: only for tests on random ports.
	BaseURL string
	// OIDC turns on OpenID Connect sign-in.
	OIDC *OIDCConfig
	// DevIdentity serves the development person picker, where anyone can
	// act as anyone; every page then carries a warning banner.
	DevIdentity bool
	// ReadRoles are the roles whose holders may read any payment; nil means
	// DefaultReadRoles. Everyone else sees only payments they are involved
	// in (awaited, decided, or requested).
	ReadRoles []string
	// SecretKey signs session, login and CSRF cookies; empty means a random
	// key, so sessions end when the process restarts.
	SecretKey []byte
	// SecureCookies sets the Secure flag even when BaseURL is not https
	// (say, TLS ends at a proxy that forwards plain HTTP).
	SecureCookies bool
	// Signer is the web app's key: it signs the assertion of every decision
	// made here (method oidc, link or dev), which the workflow verifies.
	Signer *proof.Signer
	// WorkflowTypes are the workflow types the registered processes own
	// (process.Definition.WorkflowTypes of processes.All). The app shows
	// and signs decisions only for workflows of these types on
	// process.TaskQueue: any other workflow could answer the approvals query
	// with another payment's identity. Required.
	WorkflowTypes []string
	// Workforce is the directory of field workers (*workforce.Store). With
	// it, workers sign in too (the picker lists them; OpenID Connect
	// matches their verified email) and see their human tasks under
	// /tasks; a *workforce.Store also serves the workforce REST API at
	// /api/workforce to field coordinators. nil: no task pages.
	Workforce Workforce
	// Evidence stores what workers upload (*evidence.Store); required with
	// Workforce.
	Evidence Evidence
	// Tasks overrides Temporal for the task pages; tests pass a fake here.
	Tasks Tasks
	// Ops feeds the operations view at /ops (exceptions queue, KPI charts);
	// nil: no operations view. See ops.go.
	Ops OpsSource
	// Audit is the audit ledger (*audit.Ledger): the KPIs of /ops and the
	// audit view at /audit/{key}. With Ops or Audit set, both views are
	// served.
	Audit AuditReader
	// TemporalUIURL is the Temporal UI (http://127.0.0.1:8233); the
	// operations and audit views link each workflow there. "": no links.
	TemporalUIURL string
	// Namespace is the Temporal namespace the links name; "" is "default".
	Namespace string
	// OpsRoles are the roles whose holders see /ops and /audit; nil means
	// DefaultOpsRoles. Field workers never do.
	OpsRoles []string
	// Codec, when set, serves the codec server for the Temporal UI at
	// /codec/encode and /codec/decode. See codec.go.
	Codec *CodecConfig
	// Escalations overrides Temporal for the escalation pages and the chat
	// webhook; tests pass a fake here. With neither, no escalation pages.
	Escalations Escalations
	// ChatWebhookSecret is the chat service's webhook secret: with it, the
	// app receives chat commands at ChatHookPath (chathook.go). nil: no
	// chat webhook.
	ChatWebhookSecret []byte
}

// DefaultReadRoles are the finance roles that may read every payment.
func DefaultReadRoles() []string { return []string{"finance-manager", "cfo", "controller"} }

// Server serves the approval app.
type Server struct {
	wf        Workflows
	dir       *policy.Directory
	links     LinkTokens
	log       *slog.Logger
	now       func() time.Time
	auth      Authenticator
	oidc      *OIDC // nil with DevIdentity
	dev       bool
	readRoles []string
	signer    *proof.Signer
	wfTypes   []string
	workers   Workforce // nil: no field workers
	evidence  Evidence
	tasks     Tasks
	ops       *opsState
	esc       Escalations
	chat      *chatHook
	host      string // allowed Host header, normalized; "" allows any
	scheme    string
	csrf      csrf
	tmpl      map[string]*template.Template
	handle    http.Handler
}

// New builds a Server. It does not contact the OpenID provider; the first
// sign-in does.
func New(cfg Config) (*Server, error) {
	if cfg.Directory == nil {
		return nil, errors.New("web: Config.Directory is required")
	}
	// Without the types every decision would be refused: say so at start.
	if !slices.ContainsFunc(cfg.WorkflowTypes, func(t string) bool { return strings.TrimSpace(t) != "" }) {
		return nil, errors.New("web: Config.WorkflowTypes is required: the workflow types of the registered processes, the only ones whose approvals the app signs")
	}
	switch {
	case cfg.OIDC == nil && !cfg.DevIdentity:
		return nil, errors.New("web: no sign-in configured: set Config.OIDC (OpenID Connect) or Config.DevIdentity (development person picker)")
	case cfg.OIDC != nil && cfg.DevIdentity:
		return nil, errors.New("web: Config.OIDC and Config.DevIdentity are mutually exclusive: the person picker would bypass OpenID Connect")
	}
	s := &Server{dir: cfg.Directory, log: cfg.Logger, now: cfg.Now, wf: cfg.Workflows, dev: cfg.DevIdentity, readRoles: cfg.ReadRoles, signer: cfg.Signer,
		wfTypes: slices.Clone(cfg.WorkflowTypes)}
	if s.wf == nil {
		if cfg.Temporal == nil {
			return nil, errors.New("web: Config.Temporal is required")
		}
		s.wf = temporalWorkflows{c: cfg.Temporal}
	}
	if cfg.Links != nil {
		s.links = cfg.Links
	}
	if cfg.Workforce != nil {
		if cfg.Evidence == nil {
			return nil, errors.New("web: Config.Evidence is required with Config.Workforce: field workers upload their evidence there")
		}
		s.workers, s.evidence, s.tasks = cfg.Workforce, cfg.Evidence, cfg.Tasks
		if s.tasks == nil {
			if cfg.Temporal == nil {
				return nil, errors.New("web: Config.Temporal (or Config.Tasks) is required with Config.Workforce")
			}
			s.tasks = temporalTasks{c: cfg.Temporal}
		}
	}
	if s.esc = cfg.Escalations; s.esc == nil && cfg.Temporal != nil {
		s.esc = temporalEscalations{c: cfg.Temporal}
	}
	if len(cfg.ChatWebhookSecret) > 0 {
		if s.esc == nil {
			return nil, errors.New("web: Config.Temporal (or Config.Escalations) is required with Config.ChatWebhookSecret")
		}
		s.chat = &chatHook{secret: string(cfg.ChatWebhookSecret)}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.readRoles == nil {
		s.readRoles = DefaultReadRoles()
	}
	var base *url.URL
	if cfg.BaseURL != "" {
		var err error
		if base, err = parseBaseURL(cfg.BaseURL); err != nil {
			return nil, err
		}
		s.scheme, s.host = base.Scheme, normalHost(base.Host, base.Scheme)
	}
	secure := cfg.SecureCookies || s.scheme == "https"
	key := cfg.SecretKey
	if len(key) == 0 {
		key = []byte(randomString(32))
	}
	if cfg.DevIdentity {
		d := NewDevSessions(key, func(id string) bool { _, ok := cfg.Directory.Person(id); return ok }, secure, s.now)
		if s.workers != nil {
			d.WithWorkers(workerKnown(s.workers))
		}
		s.auth = d
	} else {
		o, err := newOIDC(*cfg.OIDC, base, cfg.Directory, key, secure, s.now, s.log)
		if err != nil {
			return nil, err
		}
		if s.workers != nil {
			o.withWorkers(s.workers)
		}
		s.oidc, s.auth = o, o
	}
	s.csrf = csrf{key: key, secure: secure}
	var err error
	if s.tmpl, err = parseTemplates(); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	if cfg.DevIdentity {
		mux.HandleFunc("GET /{$}", s.picker)
		mux.HandleFunc("POST /session", s.signIn)
		mux.HandleFunc("POST /session/end", s.signOut)
	} else {
		// No picker: "/" and POST /session fall through to sign-in or 404.
		mux.HandleFunc("GET /{$}", s.home)
		mux.HandleFunc("GET /login", s.oidcLogin)
		mux.HandleFunc("GET "+callbackPath, s.oidcCallback)
		mux.HandleFunc("POST /logout", s.oidcLogout)
	}
	mux.HandleFunc("GET /inbox", s.inbox)
	mux.HandleFunc("GET /approvals/{workflowId}", s.detail)
	mux.HandleFunc("POST /approvals/{workflowId}", s.decide)
	s.routeTasks(mux, cfg.Workforce)
	s.routeEscalations(mux)
	if err := s.routeOps(mux, cfg); err != nil {
		return nil, err
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "Not found", "There is no page at "+shorten(r.URL.Path, 200)+".")
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusForbidden, "Cross-site request refused", "This form was submitted from another site. Open the page here and try again.")
	}))
	app := cop.Handler(mux)
	// The codec server answers the Temporal UI, another origin: it does its
	// own CORS and authentication, so it sits outside the cross-origin
	// protection meant for our forms.
	if codec, err := s.codecHandler(cfg.Codec); err != nil {
		return nil, err
	} else if codec != nil {
		forms := app
		app = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, CodecPath+"/") {
				codec.ServeHTTP(w, r)
				return
			}
			forms.ServeHTTP(w, r)
		})
	}
	// The chat webhook is a server-to-server call, signed with the shared
	// secret: no cookies, so no cross-origin protection either.
	if s.chat != nil {
		forms := app
		app = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == ChatHookPath {
				if r.Method != http.MethodPost {
					w.Header().Set("Allow", http.MethodPost)
					http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
					return
				}
				s.chatWebhook(w, r)
				return
			}
			forms.ServeHTTP(w, r)
		})
	}
	s.handle = securityHeaders(s.checkHost(limitBody(app, bodyLimit)))
	return s, nil
}

// parseBaseURL parses Config.BaseURL (internal/baseurl).
func parseBaseURL(v string) (*url.URL, error) { return baseurl.Parse("web: Config.BaseURL", v) }

func normalHost(host, scheme string) string { return baseurl.NormalHost(host, scheme) }

// checkHost refuses requests for any host but BaseURL's. /healthz is exempt:
// probes address the pod or container directly and it reveals nothing.
func (s *Server) checkHost(next http.Handler) http.Handler {
	if s.host == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && normalHost(r.Host, s.scheme) != s.host {
			// Plain text: the page template would set cookies for a host we
			// do not serve.
			http.Error(w, "misdirected request: this server answers only for "+s.host, http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// maxFormBytes bounds every request body; forms here are a few kilobytes.
const maxFormBytes = 64 << 10

func limitBody(next http.Handler, limit func(*http.Request) int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, limit(r))
		}
		next.ServeHTTP(w, r)
	})
}

// bodyLimit is maxFormBytes for every request but an evidence upload,
// which may carry maxEvidenceRequestBytes, and a codec server request
// (maxCodecRequestBytes).
func bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost && isEvidencePath(r.URL.Path) {
		return maxEvidenceRequestBytes
	}
	if r.Method == http.MethodPost && isCodecPath(r.URL.Path) {
		return maxCodecRequestBytes // the codec server caps it itself
	}
	return maxFormBytes
}

// NewHTTPServer wraps the app's handler in an http.Server whose timeouts and
// header limit suit it: slow or idle clients are cut off, while the longest
// handler (a decision waiting up to 20s for the workflow) still finishes.
// The caller sets Addr or serves on its own listener.
func NewHTTPServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
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

func (t temporalWorkflows) Status(ctx context.Context, workflowID string) (approvals.Status, error) {
	st, err := client.ApprovalStatus(ctx, t.c, workflowID)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return st, fmt.Errorf("%w: %w", errNotFound, err)
	}
	return st, err
}

func (t temporalWorkflows) Describe(ctx context.Context, workflowID string) (Execution, error) {
	resp, err := t.c.DescribeWorkflowExecution(ctx, workflowID, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return Execution{}, fmt.Errorf("%w: %w", errNotFound, err)
	}
	if err != nil {
		return Execution{}, fmt.Errorf("describe %s: %w", workflowID, err)
	}
	info := resp.GetWorkflowExecutionInfo()
	return Execution{
		RunID:        info.GetExecution().GetRunId(),
		WorkflowType: info.GetType().GetName(),
		TaskQueue:    info.GetTaskQueue(),
		Running:      info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
	}, nil
}

func (t temporalWorkflows) Approve(ctx context.Context, workflowID, updateID string, req approvals.Request) error {
	return client.ApproveOnce(ctx, t.c, workflowID, updateID, req)
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
	Title       string
	Me          *personView
	SignOutPath string // where the sign-out form posts
	SignInPath  string
	DevIdentity bool // show the development sign-in warning
	CSRF        string
	// Home is the signed-in person's start page: the approval inbox, or a
	// field worker's tasks.
	Home, HomeLabel string
	// Nonce allows the page's own inline script (task pages only).
	Nonce string
	// OpsLink shows the link to the operations view.
	OpsLink bool
	// Refresh reloads the page after this many seconds (0: never), while
	// the workflow has not caught up yet.
	Refresh int
	Data    any
}

func (s *Server) newPage(w http.ResponseWriter, r *http.Request, title string, me string) page {
	p := page{Title: title, CSRF: s.csrf.token(w, r), DevIdentity: s.dev, SignInPath: s.signInURL(""), SignOutPath: "/logout",
		Home: "/inbox", HomeLabel: "Inbox"}
	if me != "" {
		v := s.personView(me)
		p.Me = &v
		p.OpsLink = s.mayOps(me)
	}
	if s.dev {
		p.SignOutPath = "/session/end"
	}
	return p
}

// signInURL is where a person who is not signed in goes, coming back to
// next (a local path) afterwards.
func (s *Server) signInURL(next string) string {
	u := "/login"
	if s.dev {
		u = "/"
	}
	if next != "" {
		u += "?next=" + url.QueryEscape(next)
	}
	return u
}

// Caps on form and query fields; a longer value is refused naming the
// field, before anything else looks at it.
const (
	maxComment  = 2000
	maxDigest   = 80
	maxDecision = 16
	maxToken    = 128
	maxNext     = 512
	maxCSRF     = 128
	maxPersonID = 64
)

// parseForm reads a POSTed form and refuses it (400, naming the field) when
// it cannot be read or a field is longer than its cap. It reports whether
// the handler may go on.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request, caps map[string]int) bool {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "Bad form", "The form could not be read (too large or malformed).")
		return false
	}
	if msg := tooLong(r.PostForm, caps); msg != "" {
		s.fail(w, r, http.StatusBadRequest, "Bad form", msg)
		return false
	}
	return true
}

// tooLong names the first (alphabetically, so the message is stable) field
// with a value over its cap, counting characters as a browser's maxlength
// does (a submitted CRLF is one line break), or "".
func tooLong(form url.Values, caps map[string]int) string {
	names := slices.Sorted(maps.Keys(caps))
	for _, name := range names {
		for _, v := range form[name] {
			if n := utf8.RuneCountInString(v) - strings.Count(v, "\r\n"); n > caps[name] {
				return fmt.Sprintf("%s: longer than %d characters.", name, caps[name])
			}
		}
	}
	return ""
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
	if me == "" {
		if wk, ok := s.workerOf(r); ok {
			p = s.workerPage(w, r, heading, wk)
		}
	}
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
	if len(next) > maxNext {
		s.fail(w, r, http.StatusBadRequest, "Bad request", fmt.Sprintf("next: longer than %d characters.", maxNext))
		return
	}
	if !localPath(next) {
		next = ""
	}
	workers, workersErr := s.pickerWorkers(r)
	pg := s.newPage(w, r, "Who are you?", me)
	if me == "" {
		if wk, ok := s.workerOf(r); ok {
			pg = s.workerPage(w, r, "Who are you?", wk)
		}
	}
	pg.Data = struct {
		People     []personView
		Workers    []workerView
		WorkersErr string
		Next       string
	}{people, workers, workersErr, next}
	s.render(w, r, http.StatusOK, "picker", pg)
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	st, ok := s.auth.(SessionStarter)
	if !ok {
		s.fail(w, r, http.StatusNotFound, "Not available", "Sign-in is handled elsewhere.")
		return
	}
	if !s.parseForm(w, r, map[string]int{"person": maxPersonID, "worker": maxPersonID, "next": maxNext, csrfField: maxCSRF}) {
		return
	}
	if !s.csrf.valid(r) {
		s.fail(w, r, http.StatusForbidden, "Form expired", "The form's security token is missing or wrong. Reload the page and try again.")
		return
	}
	if wid := r.PostFormValue("worker"); wid != "" {
		s.signInWorker(w, r, wid)
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
	if !s.parseForm(w, r, map[string]int{csrfField: maxCSRF}) {
		return
	}
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
	WorkflowID  string
	BusinessKey string
	Title       string
	Amount      string
	Waiting     string
	Problem     string
}

func (s *Server) inbox(w http.ResponseWriter, r *http.Request) {
	me, ok := s.auth.Person(r)
	if !ok && s.refuseWorker(w, r) {
		return
	}
	if !ok {
		http.Redirect(w, r, s.signInURL(""), http.StatusSeeOther)
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
		row := inboxRow{WorkflowID: it.WorkflowID, BusinessKey: it.BusinessKey, Title: it.Title, Problem: it.StatusError}
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
	Status         approvals.Status
	Fields         []actionField // the action, field by field
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
	if len(token) > maxToken {
		s.fail(w, r, http.StatusBadRequest, "Bad link", fmt.Sprintf("token: longer than %d characters.", maxToken))
		return
	}
	me, code, why := s.identity(r, id, token)
	switch code {
	case 0:
	case http.StatusUnauthorized:
		if s.refuseWorker(w, r) {
			return
		}
		http.Redirect(w, r, s.signInURL(r.URL.Path), http.StatusSeeOther)
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
	case approvals.DecisionApprove, approvals.DecisionReject:
		v.Recorded = d
	}
	s.renderDetail(w, r, http.StatusOK, me, v)
}

// refusal is a page the app shows instead of acting.
type refusal struct {
	status           int
	heading, message string
}

// lookup reads the payment id names: Temporal's record of its current run,
// then its approvals query. The query is answered by workflow code, so it
// is believed only for a workflow Temporal says is one of ours (a known
// type on our task queue), and only when it names the same workflow and
// run Temporal does.
func (s *Server) lookup(ctx context.Context, id string) (Execution, approvals.Status, *refusal) {
	ex, err := s.wf.Describe(ctx, id)
	if errors.Is(err, errNotFound) {
		return ex, approvals.Status{}, &refusal{http.StatusNotFound, "No such payment", fmt.Sprintf("There is no workflow %q.", id)}
	}
	if err != nil {
		s.log.ErrorContext(ctx, "describe workflow", "workflowId", id, "err", err)
		return ex, approvals.Status{}, &refusal{http.StatusBadGateway, "Payment unavailable", "Could not read the payment from Temporal: " + err.Error()}
	}
	if ex.TaskQueue != process.TaskQueue || !slices.Contains(s.wfTypes, ex.WorkflowType) {
		s.log.WarnContext(ctx, "foreign workflow refused", "workflowId", id, "workflowType", ex.WorkflowType, "taskQueue", ex.TaskQueue)
		return ex, approvals.Status{}, &refusal{http.StatusForbidden, "Not a payment of this app",
			fmt.Sprintf("Workflow %q is not run by ExecutionOrchestrator (Temporal runs it as type %q on task queue %q), so nothing it says is shown and no decision can be made on it here.",
				id, shorten(ex.WorkflowType, 100), shorten(ex.TaskQueue, 100))}
	}
	st, err := s.wf.Status(ctx, id)
	if errors.Is(err, errNotFound) {
		return ex, st, &refusal{http.StatusNotFound, "No such payment", fmt.Sprintf("There is no workflow %q.", id)}
	}
	if err != nil {
		s.log.ErrorContext(ctx, "status query", "workflowId", id, "err", err)
		return ex, st, &refusal{http.StatusBadGateway, "Payment unavailable", "Could not read the payment's status: " + err.Error()}
	}
	if st.WorkflowID != id || st.RunID != ex.RunID {
		// A new run may have started between the two reads; anything else
		// is a worker answering for another payment.
		s.log.WarnContext(ctx, "status names another workflow or run", "workflowId", id, "runId", ex.RunID,
			"claimedWorkflowId", st.WorkflowID, "claimedRunId", st.RunID)
		return ex, st, &refusal{http.StatusConflict, "Payment changed",
			"The payment's answer does not match Temporal's record of its current run, so it is not shown and no decision can be made. Reload in a moment; if this persists, tell an administrator."}
	}
	return ex, st, nil
}

func (s *Server) loadDetail(w http.ResponseWriter, r *http.Request, id, me string) (detailView, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	ex, st, ref := s.lookup(ctx, id)
	if ref != nil {
		s.fail(w, r, ref.status, ref.heading, ref.message)
		return detailView{}, false
	}
	if !s.mayRead(me, st) {
		s.log.WarnContext(r.Context(), "payment details refused", "workflowId", id, "person", me)
		// Nothing of the payment goes on this page: not even its invoice.
		s.fail(w, r, http.StatusForbidden, "Not allowed", "You are not involved in this payment, so its details are not shown to you. Ask finance if you need them.")
		return detailView{}, false
	}
	return s.detailOf(id, me, ex, st), true
}

// detailOf builds the detail page of a payment lookup accepted.
func (s *Server) detailOf(id, me string, ex Execution, st approvals.Status) detailView {
	v := detailView{WorkflowID: id, Status: st}
	if st.Currency != "" {
		v.Amount = money(st.AmountMinor, st.Currency)
	}
	v.Fields = actionFields("", st.Action)
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
	case !ex.Running || st.Stage != approvals.StageAwaitingApproval:
		v.WhyNot = "This payment is not waiting for approval."
	case st.ActionDigest == "":
		v.WhyNot = "The payment has no action digest yet; reload in a moment."
	case !slices.Contains(st.PendingApprovers, me):
		v.WhyNot = "You are not one of the pending approvers of this payment."
	default:
		v.CanDecide = true
	}
	return v
}

// mayRead says whether me may see a payment's details: who is awaited, who
// decided (or was decided for), who requested it, and finance readers. The
// page shows beneficiaries and bank details, so it is not for everyone who
// can sign in.
func (s *Server) mayRead(me string, st approvals.Status) bool {
	if me == "" {
		return false
	}
	if slices.Contains(st.PendingApprovers, me) {
		return true
	}
	for _, a := range st.Approvals {
		if a.Approver == me || a.OnBehalfOf == me {
			return true
		}
	}
	if strings.EqualFold(requesterID(st.RequestedBy), me) {
		return true
	}
	for _, role := range s.readRoles {
		if s.dir.HasRole(me, role) {
			return true
		}
	}
	return false
}

// requesterID strips the channel a request came through ("cli:ana" is ana);
// a prefix counts as a channel when it looks like a URI scheme.
func requesterID(by string) string {
	i := strings.IndexByte(by, ':')
	if i <= 0 {
		return by
	}
	for j, c := range by[:i] {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (j == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return by
		}
	}
	return by[i+1:]
}

func (s *Server) renderDetail(w http.ResponseWriter, r *http.Request, status int, me string, v detailView) {
	pg := s.newPage(w, r, v.Status.Title, me)
	pg.Data = v
	s.render(w, r, status, "detail", pg)
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("workflowId")
	if !s.parseForm(w, r, map[string]int{"decision": maxDecision, "actionDigest": maxDigest, "comment": maxComment, "token": maxToken, csrfField: maxCSRF}) {
		return
	}
	decision := r.PostFormValue("decision")
	digest := r.PostFormValue("actionDigest")
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	token := r.PostFormValue("token")
	switch {
	case decision != approvals.DecisionApprove && decision != approvals.DecisionReject:
		s.fail(w, r, http.StatusBadRequest, "Bad form", fmt.Sprintf("decision: %q is not approve or reject.", decision))
		return
	case digest == "":
		s.fail(w, r, http.StatusBadRequest, "Bad form", "actionDigest: missing; reload the payment page.")
		return
	}

	var (
		me     string
		claims linktoken.Claims
	)
	method := s.proofMethod()
	if token != "" {
		// The link token is a secret a cross-site page cannot know, so it
		// stands in for the CSRF field. It is checked now and redeemed only
		// once the workflow accepted the decision, so a refusal (or a lost
		// answer) does not burn it.
		if s.links == nil {
			s.fail(w, r, http.StatusForbidden, "Link refused", "Approval links are not enabled on this server.")
			return
		}
		var err error
		if claims, err = s.links.Peek(r.Context(), token); err != nil {
			s.log.WarnContext(r.Context(), "link token refused", "workflowId", id, "err", err)
			s.fail(w, r, http.StatusForbidden, "Link refused", linkRefusal(err))
			return
		}
		// The link admits this one decision only: it does not sign the
		// person in, so a forwarded or scanned link never opens their inbox.
		me, method = claims.PersonID, proof.MethodLink
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

	// Without a worker an Update waits forever; a person should not.
	ctx, cancel := context.WithTimeout(r.Context(), decideTimeout)
	defer cancel()
	ex, st, ref := s.lookup(ctx, id)
	if ref != nil {
		s.fail(w, r, ref.status, ref.heading, ref.message)
		return
	}
	if token != "" {
		if err := claims.Check(id, ex.RunID, digest); err != nil {
			s.fail(w, r, http.StatusForbidden, "Link refused", linkRefusal(err))
			return
		}
	}
	// The workflow's validator checks all this again; checking here too
	// means the app never signs an assertion for a decision it can see is
	// wrong, for a payment the person cannot decide.
	switch {
	case !ex.Running || st.Stage != approvals.StageAwaitingApproval:
		s.fail(w, r, http.StatusConflict, "Payment no longer waiting", "This payment is not waiting for approval; your decision was not sent.")
		return
	case !slices.Contains(st.PendingApprovers, me):
		s.log.WarnContext(r.Context(), "decision from someone not pending refused", "workflowId", id, "person", me)
		s.fail(w, r, http.StatusForbidden, "Not your decision", "You are not one of the pending approvers of this payment; your decision was not sent.")
		return
	case digest != st.ActionDigest:
		// Shown with the payment as it is now, so the person reviews what
		// changed and decides again.
		v := s.detailOf(id, me, ex, st)
		v.Token, v.ViaLink = token, token != ""
		v.Error = "The payment changed since you opened it: review what it will execute now and decide again. Your decision was not sent."
		v.DecisionWanted, v.Comment = decision, comment
		s.renderDetail(w, r, http.StatusConflict, me, v)
		return
	}
	req := approvals.Request{Decision: decision, Approver: me, Comment: comment, ActionDigest: digest}
	// The web app vouches for who is signed in: it signs an assertion of
	// this decision, bound to the workflow in the URL, the run Temporal
	// reports and the slot awaited, which the workflow verifies. The typed
	// identity alone would be a claim.
	var err error
	if req.Proof, err = s.sign(me, method, id, ex.RunID, st.AwaitingSlot, req); err != nil {
		s.log.ErrorContext(r.Context(), "sign decision", "workflowId", id, "err", err)
		s.fail(w, r, http.StatusInternalServerError, "Decision not sent", "The web app could not sign your decision.")
		return
	}
	updateID := ""
	if token != "" {
		updateID = linktoken.UpdateID(token)
	}
	err = s.wf.Approve(ctx, id, updateID, req)
	if err == nil && token != "" {
		if _, rerr := s.links.Redeem(r.Context(), token, id, digest); rerr != nil && !errors.Is(rerr, linktoken.ErrUsed) {
			s.log.WarnContext(r.Context(), "redeem link token after accepted decision", "workflowId", id, "err", rerr)
		}
	}
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

// proofLifetime bounds an assertion the web app signs: long enough to reach
// the workflow, too short to be worth stealing.
const proofLifetime = 5 * time.Minute

// proofMethod says how the app knows who is signed in, for the assertions
// it signs: the authenticator names it (OIDC: "oidc"); the development
// picker is "dev", which only a dev stack's trust accepts.
func (s *Server) proofMethod() string {
	if m, ok := s.auth.(interface{ ProofMethod() string }); ok {
		return m.ProofMethod()
	}
	return proof.MethodDev
}

// sign makes the assertion that me decided req on slot of the given run.
func (s *Server) sign(me, method, workflowID, runID, slot string, req approvals.Request) (string, error) {
	if s.signer == nil {
		return "", errors.New("web: no signing key configured")
	}
	now := s.now().UTC()
	return s.signer.Sign(proof.Assertion{
		Kind: proof.KindApproval, WorkflowID: workflowID, RunID: runID, Slot: slot,
		ActionDigest: req.ActionDigest, Decision: req.Decision, Subject: me, Method: method,
		IssuedAt: now, ExpiresAt: now.Add(proofLifetime),
	})
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

// actionField is one field of an action as approvers read it.
type actionField struct{ Name, Value string }

// actionFields flattens an action (decoded JSON) into sorted name/value
// pairs, nested objects as "beneficiary.iban": the page shows every field
// of what will execute, for any process, without knowing its type.
func actionFields(prefix string, v any) []actionField {
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var out []actionField
		for _, k := range keys {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			out = append(out, actionFields(name, x[k])...)
		}
		return out
	default:
		return []actionField{{Name: prefix, Value: fmt.Sprint(x)}}
	}
}

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
	for _, name := range []string{"picker", "inbox", "detail", "error", "tasks", "task", "ops", "audit", "escalation", "customer"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}
