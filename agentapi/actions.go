package agentapi

import (
	"context"
	"time"

	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
)

// Actions is what the gateway does with an agent's requests. Every call
// names the agent the gateway authenticated from the bearer key; the
// implementation answers only with that agent's actions. There is no
// Approve: agents never approve (see Gateway).
type Actions interface {
	Propose(ctx context.Context, agent string, p agentaction.Proposal) (agentaction.Status, error)
	Get(ctx context.Context, agent, id string) (agentaction.Status, error)
	Wait(ctx context.Context, agent, id string, timeout time.Duration) (agentaction.Status, error)
	List(ctx context.Context, agent string, limit int) ([]agentaction.Status, error)
	Cancel(ctx context.Context, agent, id string) (agentaction.Status, error)
}

// The Temporal-backed client is the production Actions.
var _ Actions = (*agentaction.Client)(nil)

// KeyVerifier turns a bearer key into the agent it belongs to; *Store is
// the production one. An unknown, malformed or revoked key is
// ErrUnauthorized; any other error is the store failing.
type KeyVerifier interface {
	Verify(ctx context.Context, key string) (Agent, error)
}

var _ KeyVerifier = (*Store)(nil)

// ActionList is what list_actions and GET /v1/actions answer.
type ActionList struct {
	Actions []agentaction.Status `json:"actions"`
}
