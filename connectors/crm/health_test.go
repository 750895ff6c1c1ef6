package crm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/internal/connectortest"
	"github.com/execution-orchestrator/orchestrator/sandbox"
)

func ids(list []crm.Account) []string {
	out := []string{}
	for _, a := range list {
		out = append(out, a.ID)
	}
	return out
}

func TestHealthAndDetectorListing(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	c := crm.New(s.HTTPURL(), quiet)
	ctx := context.Background()

	low, err := c.ListAccounts(ctx, crm.AccountFilter{Tier: crm.TierEnterprise, HealthBelow: 60})
	require.NoError(t, err)
	assert.Equal(t, []string{sandbox.AccountInitech}, ids(low))
	assert.Equal(t, "mateo", low[0].Owner)
	assert.Equal(t, "vera", low[0].CSM)

	a, err := c.SetHealth(ctx, sandbox.AccountGlobex, "drop-1", 35)
	require.NoError(t, err)
	require.NotNil(t, a.HealthScore)
	assert.Equal(t, 35, *a.HealthScore)
	again, err := c.SetHealth(ctx, sandbox.AccountGlobex, "drop-1", 35)
	require.NoError(t, err)
	assert.Equal(t, a, again)
	_, err = c.SetHealth(ctx, sandbox.AccountGlobex, "drop-1", 36)
	assert.True(t, crm.IsKeyReuse(err))
	assert.True(t, httpx.IsPermanent(err))
	_, err = c.SetHealth(ctx, sandbox.AccountGlobex, "drop-2", 101)
	assert.True(t, httpx.IsPermanent(err))
	assert.Equal(t, "score", httpx.Field(err))
	_, err = c.SetHealth(ctx, "ACC-NONE", "drop-3", 10)
	assert.True(t, crm.IsNotFound(err))

	low, err = c.ListAccounts(ctx, crm.AccountFilter{Tier: crm.TierEnterprise, HealthBelow: 60})
	require.NoError(t, err)
	assert.Equal(t, []string{sandbox.AccountGlobex, sandbox.AccountInitech}, ids(low))
	all, err := c.ListAccounts(ctx, crm.AccountFilter{})
	require.NoError(t, err)
	assert.Len(t, all, len(sandbox.SeedAccounts(connectortest.Day0())))

	// Notes stay idempotent on customer accounts.
	n, err := c.AddNote(ctx, sandbox.AccountGlobex, "esc-1:timeline", "09:30 P1 TCK-SUP-1 detected")
	require.NoError(t, err)
	n2, err := c.AddNote(ctx, sandbox.AccountGlobex, "esc-1:timeline", "09:30 P1 TCK-SUP-1 detected")
	require.NoError(t, err)
	assert.Equal(t, n.Notes, n2.Notes)
	assert.Len(t, n2.Notes, 1)
}
