package ticketing_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/internal/connectortest"
	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
	"github.com/execution-orchestrator/orchestrator/sandbox"
)

var quiet = httpx.WithLogger(connectortest.Quiet())

func engRequest() ticketing.IssueRequest {
	return ticketing.IssueRequest{Project: ticketing.ProjectEngineering, Title: "Checkout 500s for EU customers",
		Priority: ticketing.P1, AccountID: sandbox.AccountGlobex}
}

func TestIssueLifecycle(t *testing.T) {
	t.Parallel()
	s := connectortest.Start(t, nil, nil)
	c := ticketing.New(s.HTTPURL(), quiet)
	ctx := context.Background()

	open, err := c.ListIssues(ctx, ticketing.Filter{Statuses: []string{ticketing.StatusOpen}, Priority: ticketing.P1})
	require.NoError(t, err)
	require.Len(t, open, 1)
	assert.Equal(t, sandbox.IssueGlobexP1, open[0].ID)

	eng, err := c.CreateIssue(ctx, "esc-1:eng", engRequest())
	require.NoError(t, err)
	assert.Equal(t, "TCK-ENG-2", eng.ID)
	again, err := c.CreateIssue(ctx, "esc-1:eng", engRequest())
	require.NoError(t, err)
	assert.Equal(t, eng, again)
	other := engRequest()
	other.Title = "something else"
	_, err = c.CreateIssue(ctx, "esc-1:eng", other)
	assert.True(t, ticketing.IsKeyReuse(err))
	assert.True(t, httpx.IsPermanent(err))

	linked, err := c.AddLink(ctx, sandbox.IssueGlobexP1, "esc-1:link", ticketing.Link{Type: ticketing.LinkRelates, IssueID: eng.ID})
	require.NoError(t, err)
	assert.Equal(t, []ticketing.Link{{Type: ticketing.LinkRelates, IssueID: eng.ID}}, linked.Links)
	_, err = c.Assign(ctx, eng.ID, "esc-1:assign", "eli")
	require.NoError(t, err)
	_, err = c.AddComment(ctx, eng.ID, "esc-1:comment", "orchestrator", "Escalated from "+sandbox.IssueGlobexP1)
	require.NoError(t, err)
	_, err = c.Transition(ctx, eng.ID, "esc-1:start", ticketing.StatusInProgress, "eli")
	require.NoError(t, err)

	_, err = c.Transition(ctx, eng.ID, "esc-1:close", ticketing.StatusClosed, "eli")
	require.Error(t, err)
	assert.True(t, ticketing.IsInvalidTransition(err))
	assert.True(t, httpx.IsPermanent(err))
	assert.Contains(t, err.Error(), "from in_progress to closed")

	done, err := c.Transition(ctx, eng.ID, "esc-1:resolve", ticketing.StatusResolved, "eli")
	require.NoError(t, err)
	assert.Equal(t, ticketing.StatusResolved, done.Status)
	assert.NotNil(t, done.ResolvedAt)
	got, err := c.GetIssue(ctx, eng.ID)
	require.NoError(t, err)
	assert.Equal(t, done, got)
	assert.Equal(t, "eli", got.Assignee)
	require.Len(t, got.Comments, 1)
	assert.Len(t, got.History, 2)

	byAccount, err := c.ListIssues(ctx, ticketing.Filter{AccountID: sandbox.AccountGlobex, Project: ticketing.ProjectEngineering})
	require.NoError(t, err)
	assert.Equal(t, []ticketing.Issue{got}, byAccount)

	_, err = c.GetIssue(ctx, "TCK-NONE-1")
	assert.True(t, ticketing.IsNotFound(err))
	assert.True(t, httpx.IsPermanent(err))
}

func TestValidationIsPermanent(t *testing.T) {
	t.Parallel()
	s := connectortest.Start(t, nil, nil)
	c := ticketing.New(s.HTTPURL(), quiet)
	ctx := context.Background()
	bad := engRequest()
	bad.Priority = "urgent"
	tests := []struct {
		name  string
		err   error
		field string
	}{
		{"no key", func() error { _, err := c.CreateIssue(ctx, "", engRequest()); return err }(), "Idempotency-Key"},
		{"bad priority", func() error { _, err := c.CreateIssue(ctx, "k", bad); return err }(), "priority"},
		{"no id", func() error { _, err := c.GetIssue(ctx, ""); return err }(), "issueId"},
		{"no to", func() error { _, err := c.Transition(ctx, sandbox.IssueGlobexP1, "k", "", "eli"); return err }(), "to"},
		{"bad to", func() error { _, err := c.Transition(ctx, sandbox.IssueGlobexP1, "k", "done", "eli"); return err }(), "to"},
		{"no by", func() error { _, err := c.Transition(ctx, sandbox.IssueGlobexP1, "k", "resolved", ""); return err }(), "by"},
		{"transition no key", func() error {
			_, err := c.Transition(ctx, sandbox.IssueGlobexP1, "", ticketing.StatusInProgress, "eli")
			return err
		}(), "Idempotency-Key"},
		{"no assignee", func() error { _, err := c.Assign(ctx, sandbox.IssueGlobexP1, "k", ""); return err }(), "assignee"},
		{"no comment body", func() error { _, err := c.AddComment(ctx, sandbox.IssueGlobexP1, "k", "eli", ""); return err }(), "body"},
		{"unknown link target", func() error {
			_, err := c.AddLink(ctx, sandbox.IssueGlobexP1, "k", ticketing.Link{Type: ticketing.LinkBlocks, IssueID: "TCK-ENG-99"})
			return err
		}(), "issueId"},
	}
	for _, tc := range tests {
		require.Error(t, tc.err, tc.name)
		assert.True(t, httpx.IsPermanent(tc.err), tc.name)
		assert.Equal(t, tc.field, httpx.Field(tc.err), tc.name)
	}
}

// A lost answer is transient; the retry with the same key finds the issue.
func TestLostResponseThenRetry(t *testing.T) {
	t.Parallel()
	s := connectortest.Start(t, map[string]sandbox.Fault{
		sandbox.EndpointTicketingCreate:     {ErrorRate: 1, AfterEffect: true},
		sandbox.EndpointTicketingTransition: {ErrorRate: 1, AfterEffect: true},
	}, nil)
	c := ticketing.New(s.HTTPURL(), quiet)
	ctx := context.Background()
	_, err := c.CreateIssue(ctx, "k", engRequest())
	require.Error(t, err)
	assert.False(t, httpx.IsPermanent(err))
	assert.Equal(t, 503, httpx.StatusCode(err))
	_, err = c.Transition(ctx, sandbox.IssueGlobexP1, "t", ticketing.StatusInProgress, "eli")
	require.Error(t, err)

	require.NoError(t, s.SetFaults(nil))
	iss, err := c.CreateIssue(ctx, "k", engRequest())
	require.NoError(t, err)
	assert.Equal(t, "TCK-ENG-2", iss.ID)
	moved, err := c.Transition(ctx, sandbox.IssueGlobexP1, "t", ticketing.StatusInProgress, "eli")
	require.NoError(t, err, "the retried transition is a replay, not an invalid in_progress -> in_progress")
	assert.Len(t, moved.History, 1)
}
