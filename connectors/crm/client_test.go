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

var quiet = httpx.WithLogger(connectortest.Quiet())

func request(email string) crm.AccountRequest {
	return crm.AccountRequest{Name: "Rui Almeida", Email: email, Phone: "+351 912 345 678",
		Address: "Rua da Prata 80, 1100-415 Lisboa", Lat: 38.7105, Lon: -9.1372, Plan: crm.PlanStandard}
}

func start(t testing.TB, faults map[string]sandbox.Fault) *sandbox.Server {
	return connectortest.Start(t, faults, nil)
}

func TestCreateAccountIdempotent(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	c := crm.New(s.HTTPURL(), quiet)
	ctx := context.Background()

	a, err := c.CreateAccount(ctx, "customer-onboarding-C-1:account", request("rui@example.com"))
	require.NoError(t, err)
	assert.Equal(t, crm.StatusPending, a.Status)
	assert.Equal(t, "customer-onboarding-C-1:account", a.IdempotencyKey)
	assert.Equal(t, "Rui Almeida", a.Name)
	assert.InDelta(t, 38.7105, a.Lat, 0)
	assert.True(t, a.CreatedAt.Equal(connectortest.Day0()))
	assert.Nil(t, a.ActivatedAt)

	again, err := c.CreateAccount(ctx, "customer-onboarding-C-1:account", request("rui@example.com"))
	require.NoError(t, err)
	assert.Equal(t, a, again)

	other := request("rui@example.com")
	other.Plan = crm.PlanPremium
	_, err = c.CreateAccount(ctx, "customer-onboarding-C-1:account", other)
	require.Error(t, err)
	assert.True(t, httpx.IsPermanent(err))
	assert.True(t, crm.IsConflict(err))

	got, err := c.GetAccount(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, a, got)

	_, err = c.GetAccount(ctx, "ACC-NONE")
	assert.True(t, crm.IsNotFound(err))
	assert.True(t, httpx.IsPermanent(err))
}

func TestFindByEmail(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	c := crm.New(s.HTTPURL(), quiet)
	ctx := context.Background()
	a, err := c.CreateAccount(ctx, "k1", request("rui@example.com"))
	require.NoError(t, err)
	b, err := c.CreateAccount(ctx, "k2", request("RUI@example.com"))
	require.NoError(t, err)
	_, err = c.CreateAccount(ctx, "k3", request("ana@example.com"))
	require.NoError(t, err)

	list, err := c.FindByEmail(ctx, "Rui@Example.com")
	require.NoError(t, err)
	assert.Equal(t, []crm.Account{a, b}, list)
	list, err = c.FindByEmail(ctx, "nobody@example.com")
	require.NoError(t, err)
	assert.Equal(t, []crm.Account{}, list)
	demo, err := c.FindByEmail(ctx, "joana.silva@example.com")
	require.NoError(t, err)
	require.Len(t, demo, 1)
	assert.Equal(t, sandbox.AccountDemo, demo[0].ID)
}

func TestActivateAndNotes(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	c := crm.New(s.HTTPURL(), quiet)
	ctx := context.Background()
	a, err := c.CreateAccount(ctx, "k", request("rui@example.com"))
	require.NoError(t, err)

	active, err := c.Activate(ctx, a.ID, "idv-"+a.ID)
	require.NoError(t, err)
	assert.Equal(t, crm.StatusActive, active.Status)
	assert.Equal(t, "idv-"+a.ID, active.VerifiedBy)
	require.NotNil(t, active.ActivatedAt)
	again, err := c.Activate(ctx, a.ID, "idv-other")
	require.NoError(t, err)
	assert.Equal(t, active, again, "activating twice is activating once")

	withNote, err := c.AddNote(ctx, a.ID, "n1", "identity verified by idv-"+a.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{"identity verified by idv-" + a.ID}, withNote.Notes)
	withNote, err = c.AddNote(ctx, a.ID, "n1", "identity verified by idv-"+a.ID)
	require.NoError(t, err)
	assert.Len(t, withNote.Notes, 1, "a repeated note is added once")
	_, err = c.AddNote(ctx, "ACC-NONE", "n1", "x")
	assert.True(t, crm.IsNotFound(err))

	_, err = s.CloseAccount(ctx, sandbox.AccountDemo, "customer withdrew")
	require.NoError(t, err)
	_, err = c.Activate(ctx, sandbox.AccountDemo, "idv-demo")
	require.Error(t, err)
	assert.True(t, crm.IsConflict(err))
	assert.True(t, httpx.IsPermanent(err))
	var he *httpx.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "status", he.Field)
	_, err = c.Activate(ctx, "ACC-NONE", "idv")
	assert.True(t, crm.IsNotFound(err))
}

func TestValidationIsPermanent(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	c := crm.New(s.HTTPURL(), quiet)
	ctx := context.Background()
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"no key", func() error { _, err := c.CreateAccount(ctx, "", request("rui@example.com")); return err }, "Idempotency-Key"},
		{"bad email", func() error { _, err := c.CreateAccount(ctx, "k1", request("rui")); return err }, "email"},
		{"bad plan", func() error {
			req := request("rui@example.com")
			req.Plan = "gold"
			_, err := c.CreateAccount(ctx, "k2", req)
			return err
		}, "plan"},
		{"no position", func() error {
			req := request("rui@example.com")
			req.Lat, req.Lon = 0, 0
			_, err := c.CreateAccount(ctx, "k3", req)
			return err
		}, "lat"},
		{"no account id", func() error { _, err := c.GetAccount(ctx, ""); return err }, "accountId"},
		{"no email", func() error { _, err := c.FindByEmail(ctx, ""); return err }, "email"},
		{"no verifiedBy", func() error { _, err := c.Activate(ctx, sandbox.AccountDemo, ""); return err }, "verifiedBy"},
		{"no activate id", func() error { _, err := c.Activate(ctx, "", "idv"); return err }, "accountId"},
		{"no note key", func() error { _, err := c.AddNote(ctx, sandbox.AccountDemo, "", "x"); return err }, "Idempotency-Key"},
		{"no note text", func() error { _, err := c.AddNote(ctx, sandbox.AccountDemo, "n", ""); return err }, "text"},
	}
	for _, tc := range tests {
		err := tc.call()
		require.Error(t, err, tc.name)
		assert.True(t, httpx.IsPermanent(err), tc.name)
		var he *httpx.Error
		require.ErrorAs(t, err, &he, tc.name)
		assert.Equal(t, tc.field, he.Field, tc.name)
	}
	list, err := c.FindByEmail(ctx, "rui@example.com")
	require.NoError(t, err)
	assert.Empty(t, list)
}

// A lost response (fault after the effect) is retried by the caller with the
// same key and finds the one account.
func TestLostResponseThenRetry(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]sandbox.Fault{sandbox.EndpointCRMCreate: {ErrorRate: 1, AfterEffect: true}})
	c := crm.New(s.HTTPURL(), quiet)
	ctx := context.Background()

	_, err := c.CreateAccount(ctx, "k", request("rui@example.com"))
	require.Error(t, err)
	assert.False(t, httpx.IsPermanent(err))
	assert.Equal(t, 503, httpx.StatusCode(err))

	require.NoError(t, s.SetFaults(nil))
	a, err := c.CreateAccount(ctx, "k", request("rui@example.com"))
	require.NoError(t, err)
	list, err := c.FindByEmail(ctx, "rui@example.com")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, a.ID, list[0].ID)
}

func TestInjected5xxBeforeEffect(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]sandbox.Fault{
		sandbox.EndpointCRMActivate: {ErrorRate: 1},
		sandbox.EndpointCRMAddNote:  {ErrorRate: 1},
	})
	c := crm.New(s.HTTPURL(), quiet)
	ctx := context.Background()
	_, err := c.Activate(ctx, sandbox.AccountDemo, "idv")
	require.Error(t, err)
	assert.False(t, httpx.IsPermanent(err))
	_, err = c.AddNote(ctx, sandbox.AccountDemo, "n", "x")
	require.Error(t, err)
	assert.False(t, httpx.IsPermanent(err))

	a, err := c.GetAccount(ctx, sandbox.AccountDemo)
	require.NoError(t, err)
	assert.Equal(t, crm.StatusPending, a.Status, "no half-done activation and no hidden retry")
	assert.Empty(t, a.Notes)
}
