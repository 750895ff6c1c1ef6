// Package agentapi is the agent gateway: where AI agents propose actions,
// follow them and cancel them, over MCP (streamable HTTP at /mcp, or stdio
// through "orchestrator mcp", which proxies to /mcp) and over a small REST
// API under /v1/.
//
// Every request carries an agent key (Authorization: Bearer eoa_...), issued
// by "orchestrator agents create" and kept in Store as a hash. The gateway
// verifies the key on every request, so a revoked key stops working at once,
// and takes the agent's identity from the key alone: never from a tool
// argument, a body field or a header the agent chooses. Each key carries
// scopes (actions:propose, actions:read, actions:cancel, tasks:create,
// tasks:read), and each agent is rate limited.
//
// When Config.Tasks is set, agents also create human tasks (work for a
// person in the field, closed with checked evidence), follow them and read
// their evidence (tasks.go).
//
// There is no approve endpoint and no approve tool, by design: agents never
// approve. The layer's point is that an agent proposes and people decide,
// in the approval web app or from the Temporal UI, each decision carrying a
// proof of who made it that the workflow verifies. An agent that could
// approve would approve its own proposals.
package agentapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/time/rate"

	"github.com/execution-orchestrator/orchestrator/internal/baseurl"
	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
)

// Paths outside the REST API.
const (
	MCPPath = "/mcp"
	// ResourceMetadataPath serves RFC 9728 protected-resource metadata; the
	// same document is also served at ResourceMetadataPath+MCPPath, where
	// MCP clients look for the metadata of <base>/mcp.
	ResourceMetadataPath = "/.well-known/oauth-protected-resource"
)

// Defaults of Config.
const (
	DefaultRateLimit    rate.Limit = 5
	DefaultRateBurst               = 20
	DefaultMaxBodyBytes int64      = agentaction.MaxProposalBytes + 4<<10
	// DefaultMaxBodyBytesWithTasks is the default with Config.Tasks: a
	// task (its instructions, context and evidence spec) is larger than a
	// proposal.
	DefaultMaxBodyBytesWithTasks int64 = max(agentaction.MaxProposalBytes, humantask.MaxCreateBytes) + 4<<10
)

// keyInfoExpiry is the Expiration of every TokenInfo. Agent keys do not
// expire (they are revoked), and the SDK's bearer middleware refuses a
// TokenInfo without one; as the key is verified against the store on every
// request, the info lives for one request whatever this says.
var keyInfoExpiry = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// Config configures a Gateway. Keys, Actions and BaseURL are required.
type Config struct {
	// Keys verifies bearer keys; a *Store in production.
	Keys KeyVerifier
	// Actions does what agents ask; an *agentaction.Client in production.
	Actions Actions
	// Tasks creates and reads agents' human tasks; a
	// *humantask.AgentClient in production. Optional: nil serves no task
	// tools or routes.
	Tasks Tasks
	// Escalations starts customer escalations; an *EscalationClient in
	// production. Optional: nil serves no escalation tool or route.
	Escalations Escalations
	// BaseURL is where agents reach the gateway, scheme://host[:port], e.g.
	// http://127.0.0.1:8070. The MCP resource is BaseURL+"/mcp"; requests
	// naming another Host are refused (421), which stops DNS-rebinding
	// pages from reaching a gateway on loopback.
	BaseURL string
	// RateLimit is each agent's sustained requests per second (0 =>
	// DefaultRateLimit; rate.Inf turns limiting off) and RateBurst how many
	// it may make at once (0 => DefaultRateBurst).
	RateLimit rate.Limit
	RateBurst int
	// MaxBodyBytes bounds every request body (0 => DefaultMaxBodyBytes, or
	// DefaultMaxBodyBytesWithTasks with Tasks).
	MaxBodyBytes int64
	Logger       *slog.Logger
	// Now is the clock of the rate limiter (nil => time.Now).
	Now func() time.Time
}

// Gateway serves agents over MCP and REST.
type Gateway struct {
	keys    KeyVerifier
	actions Actions
	tasks   Tasks // nil: no task tools or routes
	// escalations: nil serves no escalation tool or route.
	escalations Escalations
	log         *slog.Logger
	now         func() time.Time
	baseURL     string
	scheme      string
	host        string // allowed Host header, normalized
	maxBody     int64
	limit       rate.Limit
	burst       int

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // per agent; agents are the store's few names
	waits    map[string]int           // long-polls in flight per agent

	handler http.Handler
}

// New builds a Gateway.
func New(cfg Config) (*Gateway, error) {
	switch {
	case cfg.Keys == nil:
		return nil, errors.New("agentapi: Config.Keys is required")
	case cfg.Actions == nil:
		return nil, errors.New("agentapi: Config.Actions is required")
	}
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	g := &Gateway{keys: cfg.Keys, actions: cfg.Actions, tasks: cfg.Tasks, escalations: cfg.Escalations, log: cfg.Logger, now: cfg.Now,
		baseURL: strings.TrimSuffix(base.String(), "/"), scheme: base.Scheme, host: normalHost(base.Host, base.Scheme),
		maxBody: cfg.MaxBodyBytes, limit: cfg.RateLimit, burst: cfg.RateBurst, limiters: map[string]*rate.Limiter{}}
	if c, ok := g.tasks.(*humantask.AgentClient); ok && c == nil {
		g.tasks = nil // a typed nil is "not configured" too
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.maxBody <= 0 {
		g.maxBody = DefaultMaxBodyBytes
		if g.tasks != nil {
			g.maxBody = DefaultMaxBodyBytesWithTasks
		}
	}
	if g.limit == 0 {
		g.limit = DefaultRateLimit
	}
	if g.limit < 0 {
		return nil, fmt.Errorf("agentapi: Config.RateLimit %v must not be negative", cfg.RateLimit)
	}
	if g.burst <= 0 {
		g.burst = DefaultRateBurst
	}

	mcpServer, err := g.newMCPServer()
	if err != nil {
		return nil, err
	}
	// Stateless: every POST is a session of its own, so each tool call is
	// served with the identity verified from that very request's key; no
	// session outlives a revocation, and none needs sticky routing.
	streamable := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpServer },
		&mcp.StreamableHTTPOptions{Stateless: true, Logger: g.log.With("part", "mcp"), MaxRequestBodyBytes: g.maxBody})
	// No Scopes here: an agent with only actions:read must still reach the
	// read tools; each tool checks its own scope.
	bearer := auth.RequireBearerToken(g.verifyToken, &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: g.baseURL + ResourceMetadataPath + MCPPath,
	})

	// RFC 9728 metadata. It lists no authorization_servers because there is
	// none: agent keys are issued by an operator with "orchestrator agents
	// create", never through an OAuth flow, so a client cannot obtain a
	// token here by itself.
	meta := auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               g.baseURL + MCPPath,
		ScopesSupported:        AllScopes(),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "ExecutionOrchestrator agent gateway",
		ResourceDocumentation:  g.baseURL + "/v1/openapi.yaml",
	})

	mux := http.NewServeMux()
	for _, rt := range g.routeTable() {
		mux.Handle(rt.method+" "+rt.path, g.restHandler(rt))
	}
	mux.Handle(MCPPath, bearer(g.limitMCP(streamable)))
	mux.Handle(ResourceMetadataPath, meta)
	mux.Handle(ResourceMetadataPath+MCPPath, meta)
	// Anything else, POST /v1/actions/{id}/approve included, does not exist.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no such endpoint: " + clip(r.Method+" "+r.URL.Path) + " (see /v1/openapi.yaml; agents cannot approve)"})
	})
	g.handler = securityHeaders(g.checkHost(g.limitBody(mux)))
	return g, nil
}

// Handler returns the gateway's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// MCPURL is where MCP clients connect.
func (g *Gateway) MCPURL() string { return g.baseURL + MCPPath }

// NewHTTPServer wraps the gateway's handler in an http.Server with timeouts
// that cut off slow or idle clients. web.NewHTTPServer does not suit: its
// 60s write timeout would cut a wait that uses all of agentaction.MaxWait.
// The caller sets Addr or serves on its own listener.
func NewHTTPServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      agentaction.MaxWait + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// verifyToken is the one bearer check of MCP and REST: the key's agent and
// scopes, from the store, on every request.
func (g *Gateway) verifyToken(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	a, err := g.keys.Verify(ctx, token)
	if errors.Is(err, ErrUnauthorized) {
		return nil, fmt.Errorf("%w: the agent key is unknown or revoked", auth.ErrInvalidToken)
	}
	if err != nil {
		// The detail (never the key) is logged; the agent learns only that
		// the gateway failed.
		g.log.Error("verify agent key", "error", err)
		return nil, errors.New("the gateway could not check the agent key; try again later")
	}
	if !agentaction.ValidAgentName(a.Name) {
		g.log.Error("verify agent key: store returned an invalid agent name", "agent", clip(a.Name))
		return nil, errors.New("the gateway could not check the agent key; try again later")
	}
	return &auth.TokenInfo{Scopes: slices.Clone(a.Scopes), Expiration: keyInfoExpiry, UserID: a.Name,
		Extra: map[string]any{"agent": a.Name}}, nil
}

// authenticate is the REST side of the bearer check: verifyToken, with the
// errors as JSON and a WWW-Authenticate header pointing at the metadata.
// (The SDK's middleware answers in plain text, which REST clients expecting
// {"error": ...} would not parse.)
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request) (*auth.TokenInfo, bool) {
	fields := strings.Fields(r.Header.Get("Authorization"))
	if len(fields) != 2 || !strings.EqualFold(fields[0], "bearer") {
		g.challenge(w, http.StatusUnauthorized, "", "", "an agent key is required: Authorization: Bearer eoa_...")
		return nil, false
	}
	info, err := g.verifyToken(r.Context(), fields[1], r)
	switch {
	case errors.Is(err, auth.ErrInvalidToken):
		g.challenge(w, http.StatusUnauthorized, "invalid_token", "", "the agent key is unknown or revoked")
		return nil, false
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: err.Error()})
		return nil, false
	}
	return info, true
}

// challenge answers 401 or 403 with an RFC 6750 WWW-Authenticate header.
func (g *Gateway) challenge(w http.ResponseWriter, status int, code, scope, msg string) {
	params := []string{fmt.Sprintf("resource_metadata=%q", g.baseURL+ResourceMetadataPath)}
	if code != "" {
		params = append(params, fmt.Sprintf("error=%q", code))
	}
	if scope != "" {
		params = append(params, fmt.Sprintf("scope=%q", scope))
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	writeJSON(w, status, errorBody{Error: msg, Scope: scope})
}

// allow takes one request from agent's budget; when it is spent, it says
// how long until the next request would be allowed.
func (g *Gateway) allow(agent string) (bool, time.Duration) {
	if g.limit == rate.Inf {
		return true, 0
	}
	g.mu.Lock()
	l := g.limiters[agent]
	if l == nil {
		l = rate.NewLimiter(g.limit, g.burst)
		g.limiters[agent] = l
	}
	g.mu.Unlock()
	now := g.now()
	res := l.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	d := res.DelayFrom(now)
	if d <= 0 {
		return true, 0
	}
	// Refused requests do not use up the budget.
	res.CancelAt(now)
	return false, d
}

func (g *Gateway) tooManyRequests(w http.ResponseWriter, agent string, retry time.Duration) {
	secs := int(math.Ceil(retry.Seconds()))
	if secs < 1 {
		secs = 1
	}
	g.log.Warn("agent rate limited", "agent", agent, "retryAfterSeconds", secs)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeJSON(w, http.StatusTooManyRequests, errorBody{Error: fmt.Sprintf("rate limit exceeded for agent %s; retry after %d s", agent, secs)})
}

// MaxConcurrentWaits bounds an agent's long-polls in flight: each one reads
// the action's status every poll interval for up to a minute.
const MaxConcurrentWaits = 4

// startWait takes one of agent's long-poll places; done gives it back.
func (g *Gateway) startWait(agent string) (done func(), ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.waits == nil {
		g.waits = map[string]int{}
	}
	if g.waits[agent] >= MaxConcurrentWaits {
		return nil, false
	}
	g.waits[agent]++
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.waits[agent]--; g.waits[agent] <= 0 {
			delete(g.waits, agent)
		}
	}, true
}

// errTooManyWaits refuses a long-poll beyond MaxConcurrentWaits.
var errTooManyWaits = fmt.Errorf("refused: at most %d waits in flight per agent; wait for one to return", MaxConcurrentWaits)

// refuseBatch refuses a JSON-RPC batch: one HTTP request, one rate-limit
// token, must not carry a hundred tool calls (the SDK accepts batches from
// clients of protocol versions up to 2025-03-26).
func refuseBatch(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost || r.Body == nil {
		return false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: "request body too large or unreadable"})
		return true
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "JSON-RPC batches are not accepted: send one message per request"})
		return true
	}
	return false
}

// limitMCP rate-limits MCP requests by the agent the bearer middleware
// verified, and refuses batches.
func (g *Gateway) limitMCP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := auth.TokenInfoFromContext(r.Context())
		if info == nil || info.UserID == "" {
			// Only reachable if the middleware order is broken: refuse.
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: "an agent key is required"})
			return
		}
		if ok, retry := g.allow(info.UserID); !ok {
			g.tooManyRequests(w, info.UserID, retry)
			return
		}
		if refuseBatch(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody bounds every body before anything reads it; a proposal is at
// most agentaction.MaxProposalBytes, a task humantask.MaxCreateBytes.
func (g *Gateway) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, g.maxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// checkHost refuses requests for any host but BaseURL's. /v1/healthz is
// exempt: probes address the container directly and it reveals nothing.
func (g *Gateway) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/healthz" && normalHost(r.Host, g.scheme) != g.host {
			writeJSON(w, http.StatusMisdirectedRequest, errorBody{Error: "misdirected request: this gateway answers only for " + g.host})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// securityHeaders: answers are JSON or SSE for programs, never pages, and
// may carry an agent's actions, so nothing caches or frames them. No CORS
// headers are sent: browsers then keep other sites' pages from sending the
// Authorization header here.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// parseBaseURL parses Config.BaseURL (internal/baseurl).
func parseBaseURL(v string) (*url.URL, error) { return baseurl.Parse("agentapi: Config.BaseURL", v) }

func normalHost(host, scheme string) string { return baseurl.NormalHost(host, scheme) }

// errorBody is every error answer of the REST API.
type errorBody struct {
	Error string `json:"error"`
	// Field names the request field that is wrong (JSON path), if one is.
	Field string `json:"field,omitempty"`
	// Scope names the scope a 403 lacked.
	Scope string `json:"scope,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// clip keeps echoed request text short.
func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
