package agentapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/internal/testdb"
	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
)

// call is one call the fake Actions received: the agent is what the gateway
// passed, which must be the key's.
type call struct {
	Method  string
	Agent   string
	ID      string
	Limit   int
	Timeout time.Duration
	Prop    agentaction.Proposal
}

// fakeActions is an in-memory Actions with agentaction.Client's ownership
// rule: another agent's action is ErrNotFound.
type fakeActions struct {
	mu      sync.Mutex
	calls   []call
	actions map[string]agentaction.Status
	// proposeErr, when set, is what Propose returns after validation.
	proposeErr error
}

func newFakeActions() *fakeActions { return &fakeActions{actions: map[string]agentaction.Status{}} }

func (f *fakeActions) record(c call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeActions) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeActions) Propose(_ context.Context, agent string, p agentaction.Proposal) (agentaction.Status, error) {
	f.record(call{Method: "Propose", Agent: agent, Prop: p})
	if err := agentaction.ValidateProposal(p); err != nil {
		return agentaction.Status{}, err
	}
	if f.proposeErr != nil {
		return agentaction.Status{}, f.proposeErr
	}
	st := agentaction.Status{ID: agentaction.WorkflowID(agent, p.IdempotencyKey), Kind: p.Kind, Target: p.Target, Params: p.Params,
		RequestedBy: "agent:" + agent, RequesterVerified: true, Justification: p.Justification, Confidence: p.Confidence,
		Stage: agentaction.StageAwaitingApproval, AwaitingSlot: "finance-manager", PendingApprovers: []string{"maria"}}
	f.mu.Lock()
	f.actions[st.ID] = st
	f.mu.Unlock()
	return st, nil
}

func (f *fakeActions) lookup(agent, id string) (agentaction.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.actions[id]
	if !ok || st.RequestedBy != "agent:"+agent {
		return agentaction.Status{}, agentaction.ErrNotFound
	}
	return st, nil
}

func (f *fakeActions) Get(_ context.Context, agent, id string) (agentaction.Status, error) {
	f.record(call{Method: "Get", Agent: agent, ID: id})
	return f.lookup(agent, id)
}

func (f *fakeActions) Wait(_ context.Context, agent, id string, timeout time.Duration) (agentaction.Status, error) {
	f.record(call{Method: "Wait", Agent: agent, ID: id, Timeout: timeout})
	return f.lookup(agent, id)
}

func (f *fakeActions) List(_ context.Context, agent string, limit int) ([]agentaction.Status, error) {
	f.record(call{Method: "List", Agent: agent, Limit: limit})
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []agentaction.Status
	for _, st := range f.actions {
		if st.RequestedBy == "agent:"+agent {
			out = append(out, agentaction.Status{ID: st.ID, Kind: st.Kind, Target: st.Target, RequestedBy: st.RequestedBy, Stage: st.Stage})
		}
	}
	return out, nil
}

func (f *fakeActions) Cancel(_ context.Context, agent, id string) (agentaction.Status, error) {
	f.record(call{Method: "Cancel", Agent: agent, ID: id})
	st, err := f.lookup(agent, id)
	if err != nil {
		return st, err
	}
	st.Stage, st.Outcome = agentaction.StageDone, agentaction.OutcomeCancelled
	f.mu.Lock()
	f.actions[id] = st
	f.mu.Unlock()
	return st, nil
}

// fixedClock stands still, so a rate limiter never refills during a test.
func fixedClock() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }

// harness is a gateway on a real HTTP server with a real key store.
type harness struct {
	srv   *httptest.Server
	gw    *Gateway
	keys  *Store
	acts  *fakeActions
	agent map[string]string // agent name -> key
}

// openStore opens a key store on engine e.
func openStore(t *testing.T, e testdb.Engine) *Store {
	t.Helper()
	dbURL, path := e.Locate(t, "agents.db")
	s, err := Open(context.Background(), dbURL, path, fixedClock)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// newHarness starts a gateway; tweak adjusts its Config. Agents: "alpha"
// (propose, read, cancel), "bravo" (propose, read), "reader" (read only).
func newHarness(t *testing.T, e testdb.Engine, tweak func(*Config)) *harness {
	t.Helper()
	h := &harness{keys: openStore(t, e), acts: newFakeActions(), agent: map[string]string{}}
	for name, scopes := range map[string][]string{
		"alpha":  AllScopes(),
		"bravo":  {ScopePropose, ScopeRead},
		"reader": {ScopeRead},
	} {
		key, err := h.keys.Create(context.Background(), name, scopes)
		require.NoError(t, err)
		h.agent[name] = key
	}
	// Unstarted, so the gateway's BaseURL (and with it the Host check) is
	// the server's real address.
	h.srv = httptest.NewUnstartedServer(nil)
	cfg := Config{Keys: h.keys, Actions: h.acts, BaseURL: "http://" + h.srv.Listener.Addr().String(),
		Logger: slog.New(slog.DiscardHandler), RateLimit: 1000, RateBurst: 1000}
	if tweak != nil {
		tweak(&cfg)
	}
	var err error
	h.gw, err = New(cfg)
	require.NoError(t, err)
	h.srv.Config = NewHTTPServer(h.gw.Handler())
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

// bearerClient sends key with every request.
func bearerClient(key string) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+key)
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// each runs fn on every engine.
func each(t *testing.T, prefix string, fn func(t *testing.T, e testdb.Engine)) {
	for _, e := range testdb.Engines(prefix) {
		t.Run(e.Name, func(t *testing.T) { fn(t, e) })
	}
}

var errBoom = errors.New("temporal frontend unreachable: secret-internal-detail")
