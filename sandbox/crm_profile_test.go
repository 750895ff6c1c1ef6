package sandbox_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
	"github.com/execution-orchestrator/orchestrator/sandbox"
)

func accountIDs(t *testing.T, s *sandbox.Server, query string) []string {
	t.Helper()
	a := call(t, s, "GET", "/crm/accounts"+query, nil, "")
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var list []crm.Account
	a.decode(t, &list)
	ids := []string{}
	for _, acc := range list {
		ids = append(ids, acc.ID)
	}
	return ids
}

func TestCRMSeedCustomers(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	g := getAccount(t, s, sandbox.AccountGlobex)
	assert.Equal(t, crm.TierEnterprise, g.Tier)
	assert.Equal(t, int64(120000000), g.ARRMinor)
	assert.Equal(t, "EUR", g.Currency)
	assert.Equal(t, "sam", g.Owner)
	assert.Equal(t, "clara", g.CSM)
	require.NotNil(t, g.HealthScore)
	assert.Equal(t, 82, *g.HealthScore)
	assert.Len(t, g.HealthHistory, 3)
	assert.Equal(t, crm.StatusActive, g.Status)
	assert.Empty(t, g.IdempotencyKey)
	demo := getAccount(t, s, sandbox.AccountDemo)
	assert.Nil(t, demo.HealthScore, "the onboarding demo account has no commercial profile")
	assert.Empty(t, demo.Tier)
}

func TestCRMHealth(t *testing.T) {
	t.Parallel()
	onEngines(t, nil, func(t *testing.T, s *sandbox.Server, clk *clock) {
		assert.Equal(t, []string{sandbox.AccountInitech}, accountIDs(t, s, "?healthBelow=60&tier=enterprise"), "the detector's query")
		assert.Equal(t, []string{sandbox.AccountHooli, sandbox.AccountInitech}, accountIDs(t, s, "?healthBelow=60"))
		assert.Equal(t, []string{sandbox.AccountHooli}, accountIDs(t, s, "?tier=mid-market"))

		health := func(id, key, body string) answer {
			clk.Advance(time.Minute)
			return call(t, s, "POST", "/crm/accounts/"+id+"/health", keyed(key), body)
		}
		a := health(sandbox.AccountGlobex, "h1", `{"score":41}`)
		require.Equal(t, http.StatusCreated, a.status, string(a.body))
		var acc crm.Account
		a.decode(t, &acc)
		require.NotNil(t, acc.HealthScore)
		assert.Equal(t, 41, *acc.HealthScore)
		require.Len(t, acc.HealthHistory, 4)
		assert.Equal(t, crm.HealthPoint{Score: 41, At: day0.Add(time.Minute)}, acc.HealthHistory[3])

		a = health(sandbox.AccountGlobex, "h1", `{"score":41}`)
		require.Equal(t, http.StatusOK, a.status)
		assert.Equal(t, "true", a.header("Idempotent-Replayed"))
		a = health(sandbox.AccountGlobex, "h1", `{"score":40}`)
		require.Equal(t, http.StatusConflict, a.status)
		_, field := a.apiError(t)
		assert.Equal(t, "Idempotency-Key", field)
		assert.Len(t, getAccount(t, s, sandbox.AccountGlobex).HealthHistory, 4, "recorded once")
		assert.Equal(t, []string{sandbox.AccountGlobex, sandbox.AccountInitech}, accountIDs(t, s, "?healthBelow=60&tier=enterprise"))

		// An onboarding account gets a health score too, and is listed then.
		rui := createAccount(t, s, "k-rui", accountRequest("rui@example.com"))
		assert.NotContains(t, accountIDs(t, s, "?healthBelow=101"), rui.ID, "never scored")
		require.Equal(t, http.StatusCreated, health(rui.ID, "h1", `{"score":30}`).status, "keys are per account")
		assert.Contains(t, accountIDs(t, s, "?healthBelow=31"), rui.ID)
		assert.Empty(t, getAccount(t, s, rui.ID).Tier)

		for _, tc := range []struct {
			name   string
			a      answer
			status int
			field  string
		}{
			{"no key", call(t, s, "POST", "/crm/accounts/"+sandbox.AccountGlobex+"/health", nil, `{"score":1}`), 400, "Idempotency-Key"},
			{"no score", health(sandbox.AccountGlobex, "h9", `{}`), 400, "score"},
			{"score too high", health(sandbox.AccountGlobex, "h9", `{"score":101}`), 400, "score"},
			{"score negative", health(sandbox.AccountGlobex, "h9", `{"score":-1}`), 400, "score"},
			{"score not int", health(sandbox.AccountGlobex, "h9", `{"score":4.5}`), 400, "score"},
			{"unknown account", health("ACC-NONE", "h9", `{"score":1}`), 404, ""},
			{"bad healthBelow", call(t, s, "GET", "/crm/accounts?healthBelow=low", nil, ""), 400, "healthBelow"},
			{"bad tier", call(t, s, "GET", "/crm/accounts?tier=gold", nil, ""), 400, "tier"},
		} {
			require.Equal(t, tc.status, tc.a.status, "%s: %s", tc.name, tc.a.body)
			_, field := tc.a.apiError(t)
			assert.Equal(t, tc.field, field, tc.name)
		}
		require.Equal(t, http.StatusCreated, health(sandbox.AccountGlobex, "h9", `{"score":1}`).status, "refusals did not use the key up")
	})
}

// A store written before the customer accounts, ticketing and chat existed
// gets their seed on a seeded start, keeping what it has.
func TestEscalationSeedIntoOldStore(t *testing.T) {
	t.Parallel()
	dbURL, path := testdb.URL(t, "sandbox_esc_seed"), filepath.Join(t.TempDir(), "sandbox.db")
	cfg := sandbox.Config{HTTPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0", DatabaseURL: dbURL, SQLitePath: path,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return day0 }}
	ctx := context.Background()
	s, err := sandbox.Start(ctx, cfg)
	require.NoError(t, err)
	rui := createAccount(t, s, "k-rui", accountRequest("rui@example.com"))
	require.NoError(t, s.Close())

	cfg.Seed = true
	s, err = sandbox.Start(ctx, cfg)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, rui, getAccount(t, s, rui.ID), "kept")
	assert.Equal(t, []string{sandbox.AccountInitech, sandbox.AccountUmbrella}, accountIDs(t, s, "?tier=enterprise&healthBelow=80"))
	assert.Equal(t, sandbox.SeedIssues(day0)[5], getIssue(t, s, sandbox.IssueGlobexP1))
	assert.Equal(t, sandbox.SeedMessages(day0), messages(t, s, sandbox.ChannelGlobex, ""))
}
