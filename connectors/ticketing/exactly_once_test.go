package ticketing_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/chat"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/internal/connectortest"
	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
	"github.com/execution-orchestrator/orchestrator/sandbox"
)

// retry calls fn until it succeeds, as a Temporal activity retry policy
// would, failing the test on a permanent error or after many attempts.
func retry[T any](t *testing.T, failures *int, fn func() (T, error)) T {
	t.Helper()
	for range 100 {
		v, err := fn()
		if err == nil {
			return v
		}
		require.False(t, httpx.IsPermanent(err), "permanent: %v", err)
		require.Equal(t, 503, httpx.StatusCode(err), "only injected faults: %v", err)
		*failures++
	}
	t.Fatal("no success in 100 attempts")
	var zero T
	return zero
}

// With 30% injected faults on ticketing create/transition and chat post —
// half of them losing the answer after the effect — retrying every call with
// its event's idempotency key makes exactly one issue, one transition and
// one post per event.
func TestExactlyOnceUnderFaults(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	dice := rand.New(rand.NewPCG(10, 30))
	faults := map[string]sandbox.Fault{
		sandbox.EndpointTicketingCreate:     {ErrorRate: 0.3, AfterEffect: true},
		sandbox.EndpointTicketingTransition: {ErrorRate: 0.3},
		sandbox.EndpointTicketingLink:       {ErrorRate: 0.3, AfterEffect: true},
		sandbox.EndpointChatPost:            {ErrorRate: 0.3, AfterEffect: true},
	}
	s := connectortest.Start(t, faults, func(c *sandbox.Config) {
		c.Rand = func() float64 { mu.Lock(); defer mu.Unlock(); return dice.Float64() }
	})
	// The activity retry policy backs off between attempts; this loop does
	// not, so keep the breaker from opening on a run of injected faults.
	breaker := httpx.WithBreaker(1000, time.Millisecond)
	tc := ticketing.New(s.HTTPURL(), quiet, breaker)
	cc := chat.New(s.HTTPURL(), quiet, breaker)
	ctx := context.Background()

	const events = 10
	failures := 0
	for i := range events {
		wf := fmt.Sprintf("customer-escalation-%d", i)
		req := ticketing.IssueRequest{Project: ticketing.ProjectEngineering, Title: fmt.Sprintf("Escalation %d", i),
			Priority: ticketing.P1, AccountID: sandbox.AccountGlobex}
		// Every step is retried a few extra times after success too, as a
		// replayed activity would be.
		for range 3 {
			iss := retry(t, &failures, func() (ticketing.Issue, error) { return tc.CreateIssue(ctx, wf+":eng-ticket", req) })
			retry(t, &failures, func() (ticketing.Issue, error) {
				return tc.AddLink(ctx, sandbox.IssueGlobexP1, wf+":link", ticketing.Link{Type: ticketing.LinkRelates, IssueID: iss.ID})
			})
			retry(t, &failures, func() (ticketing.Issue, error) {
				return tc.Transition(ctx, iss.ID, wf+":start", ticketing.StatusInProgress, "orchestrator")
			})
			retry(t, &failures, func() (chat.Message, error) {
				return cc.Post(ctx, sandbox.ChannelGlobex, wf+":notify", fmt.Sprintf("ESC-%d: %s opened. Reply ack ESC-%d", i, iss.ID, i), "")
			})
		}
	}
	assert.Greater(t, failures, 10, "faults were injected")

	require.NoError(t, s.SetFaults(nil))
	issues, err := tc.ListIssues(ctx, ticketing.Filter{Project: ticketing.ProjectEngineering, AccountID: sandbox.AccountGlobex})
	require.NoError(t, err)
	assert.Len(t, issues, events, "one ticket per event")
	for _, iss := range issues {
		assert.Equal(t, ticketing.StatusInProgress, iss.Status, iss.ID)
		assert.Len(t, iss.History, 1, "one transition: %s", iss.ID)
	}
	p1, err := tc.GetIssue(ctx, sandbox.IssueGlobexP1)
	require.NoError(t, err)
	assert.Len(t, p1.Links, events, "one link per event")

	msgs, err := cc.Messages(ctx, sandbox.ChannelGlobex, "")
	require.NoError(t, err)
	perKey := map[string]int{}
	for _, m := range msgs {
		if m.Bot {
			perKey[m.IdempotencyKey]++
		}
	}
	assert.Len(t, perKey, events, "one chat post per event")
	for k, n := range perKey {
		assert.Equal(t, 1, n, k)
	}
}
