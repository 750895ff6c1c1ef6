package sandbox_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
	"github.com/execution-orchestrator/orchestrator/sandbox"
)

func accountRequest(email string) crm.AccountRequest {
	return crm.AccountRequest{Name: "Rui Almeida", Email: email, Phone: "+351 912 345 678",
		Address: "Rua da Prata 80, 1100-415 Lisboa", Lat: 38.7105, Lon: -9.1372, Plan: crm.PlanStandard}
}

func accountBody(r crm.AccountRequest) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func createAccount(t *testing.T, s *sandbox.Server, key string, req crm.AccountRequest) crm.Account {
	t.Helper()
	a := call(t, s, "POST", "/crm/accounts", map[string]string{"Idempotency-Key": key}, accountBody(req))
	require.Equal(t, http.StatusCreated, a.status, "body %s", a.body)
	var acc crm.Account
	a.decode(t, &acc)
	return acc
}

func getAccount(t *testing.T, s *sandbox.Server, id string) crm.Account {
	t.Helper()
	a := call(t, s, "GET", "/crm/accounts/"+id, nil, "")
	require.Equal(t, http.StatusOK, a.status, "body %s", a.body)
	var acc crm.Account
	a.decode(t, &acc)
	return acc
}

func TestCRMSeedAccount(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	got := getAccount(t, s, sandbox.AccountDemo)
	want := sandbox.SeedAccounts(day0)[0]
	assert.Equal(t, want, got)
	assert.Equal(t, crm.StatusPending, got.Status)
	assert.Empty(t, got.IdempotencyKey)

	var list []crm.Account
	call(t, s, "GET", "/crm/accounts", nil, "").decode(t, &list)
	assert.Equal(t, sandbox.SeedAccounts(day0), list)
}

var accountIDRE = regexp.MustCompile(`^ACC-[0-9A-F]{16}$`)

func TestCRMCreateIdempotency(t *testing.T) {
	t.Parallel()
	s, clk := start(t, nil)
	req := accountRequest("rui@example.com")
	reordered := func() string {
		var m map[string]any
		_ = json.Unmarshal([]byte(accountBody(req)), &m)
		b, _ := json.MarshalIndent(m, "", "   ")
		return string(b)
	}()
	otherPlan := req
	otherPlan.Plan = crm.PlanPremium
	steps := []struct {
		name   string
		key    string
		body   string
		status int
	}{
		{"first create", "k1", accountBody(req), http.StatusCreated},
		{"same key same body", "k1", accountBody(req), http.StatusOK},
		{"same key same body reformatted", "k1", reordered, http.StatusOK},
		{"same key other plan", "k1", accountBody(otherPlan), http.StatusConflict},
		{"other key same body", "k2", accountBody(req), http.StatusCreated},
	}
	var first crm.Account
	for _, st := range steps {
		clk.Advance(time.Second)
		a := call(t, s, "POST", "/crm/accounts", map[string]string{"Idempotency-Key": st.key}, st.body)
		require.Equal(t, st.status, a.status, "%s: %s", st.name, a.body)
		if a.status == http.StatusConflict {
			_, field := a.apiError(t)
			assert.Equal(t, "Idempotency-Key", field, st.name)
			continue
		}
		var acc crm.Account
		a.decode(t, &acc)
		assert.Equal(t, crm.StatusPending, acc.Status, st.name)
		assert.Regexp(t, accountIDRE, acc.ID, st.name)
		assert.Equal(t, st.key, acc.IdempotencyKey, st.name)
		if st.key == "k1" {
			if first.ID == "" {
				first = acc
				assert.True(t, acc.CreatedAt.Equal(day0.Add(time.Second)), "createdAt %v", acc.CreatedAt)
				assert.Equal(t, req, crm.AccountRequest{Name: acc.Name, Email: acc.Email, Phone: acc.Phone,
					Address: acc.Address, Lat: acc.Lat, Lon: acc.Lon, Plan: acc.Plan})
				assert.Nil(t, acc.ActivatedAt)
			}
			assert.Equal(t, first, acc, st.name)
		} else {
			assert.NotEqual(t, first.ID, acc.ID)
		}
	}
	assert.Equal(t, first, getAccount(t, s, first.ID))

	// A replay after activation answers the account as it is now.
	require.Equal(t, http.StatusOK, call(t, s, "POST", "/crm/accounts/"+first.ID+"/activate", nil, `{"verifiedBy":"idv-1"}`).status)
	a := call(t, s, "POST", "/crm/accounts", map[string]string{"Idempotency-Key": "k1"}, accountBody(req))
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var replay crm.Account
	a.decode(t, &replay)
	assert.Equal(t, first.ID, replay.ID)
	assert.Equal(t, crm.StatusActive, replay.Status)
}

// Concurrent creates with one key make one account.
func TestCRMCreateConcurrentSameKey(t *testing.T) {
	t.Parallel()
	s, _ := start(t, func(c *sandbox.Config) { c.Seed = false })
	body := accountBody(accountRequest("rui@example.com"))
	var wg sync.WaitGroup
	statuses := make(chan int, 8)
	for range 8 {
		wg.Go(func() {
			req, err := http.NewRequest("POST", s.HTTPURL()+"/crm/accounts", strings.NewReader(body))
			if !assert.NoError(t, err) {
				return
			}
			req.Header.Set("Idempotency-Key", "k-race")
			res, err := http.DefaultClient.Do(req)
			if !assert.NoError(t, err) {
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	created := 0
	for st := range statuses {
		assert.Contains(t, []int{http.StatusCreated, http.StatusOK}, st)
		if st == http.StatusCreated {
			created++
		}
	}
	assert.Equal(t, 1, created, "exactly one insert wins")
	var list []crm.Account
	call(t, s, "GET", "/crm/accounts", nil, "").decode(t, &list)
	assert.Len(t, list, 1)
}

func TestCRMValidation(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	key := map[string]string{"Idempotency-Key": "k-validation"}
	with := func(mod func(r *crm.AccountRequest)) string {
		r := accountRequest("rui@example.com")
		mod(&r)
		return accountBody(r)
	}
	valid := accountBody(accountRequest("rui@example.com"))
	tests := []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		field              string
		msg                string // part of the error text, when it matters
	}{
		{"create without key", "POST", "/crm/accounts", nil, valid, 400, "Idempotency-Key", "Idempotency-Key"},
		{"no name", "POST", "/crm/accounts", key, with(func(r *crm.AccountRequest) { r.Name = " " }), 400, "name", ""},
		{"long name", "POST", "/crm/accounts", key, with(func(r *crm.AccountRequest) { r.Name = strings.Repeat("a", 201) }), 400, "name", ""},
		{"no email", "POST", "/crm/accounts", key, with(func(r *crm.AccountRequest) { r.Email = "" }), 400, "email", ""},
		{"bad email", "POST", "/crm/accounts", key, with(func(r *crm.AccountRequest) { r.Email = "rui at example" }), 400, "email", ""},
		{"email with display name", "POST", "/crm/accounts", key, with(func(r *crm.AccountRequest) { r.Email = "Rui <rui@example.com>" }), 400, "email", ""},
		{"bad phone", "POST", "/crm/accounts", key, with(func(r *crm.AccountRequest) { r.Phone = "call me" }), 400, "phone", ""},
		{"no address", "POST", "/crm/accounts", key, with(func(r *crm.AccountRequest) { r.Address = "" }), 400, "address", ""},
		{"lat out of range", "POST", "/crm/accounts", key, with(func(r *crm.AccountRequest) { r.Lat = 91 }), 400, "lat", ""},
		{"lon out of range", "POST", "/crm/accounts", key, with(func(r *crm.AccountRequest) { r.Lon = -181 }), 400, "lon", ""},
		{"no position", "POST", "/crm/accounts", key, with(func(r *crm.AccountRequest) { r.Lat, r.Lon = 0, 0 }), 400, "lat", "required"},
		{"no plan", "POST", "/crm/accounts", key, with(func(r *crm.AccountRequest) { r.Plan = "" }), 400, "plan", ""},
		{"unknown plan", "POST", "/crm/accounts", key, with(func(r *crm.AccountRequest) { r.Plan = "gold" }), 400, "plan", ""},
		{"unknown field", "POST", "/crm/accounts", key, `{"name":"Rui","vip":true}`, 400, "vip", ""},
		{"wrong type", "POST", "/crm/accounts", key, `{"lat":"north"}`, 400, "lat", ""},
		{"empty body", "POST", "/crm/accounts", key, ``, 400, "body", ""},
		{"unknown account", "GET", "/crm/accounts/ACC-NOPE", nil, "", 404, "", "account not found"},
		{"activate without verifiedBy", "POST", "/crm/accounts/" + sandbox.AccountDemo + "/activate", nil, `{"verifiedBy":" "}`, 400, "verifiedBy", ""},
		{"activate unknown account", "POST", "/crm/accounts/ACC-NOPE/activate", nil, `{"verifiedBy":"idv-1"}`, 404, "", "account not found"},
		{"note without key", "POST", "/crm/accounts/" + sandbox.AccountDemo + "/notes", nil, `{"text":"hi"}`, 400, "Idempotency-Key", ""},
		{"note without text", "POST", "/crm/accounts/" + sandbox.AccountDemo + "/notes", key, `{"text":""}`, 400, "text", ""},
		{"note on unknown account", "POST", "/crm/accounts/ACC-NOPE/notes", key, `{"text":"hi"}`, 404, "", ""},
		{"close without reason", "POST", "/admin/crm/accounts/" + sandbox.AccountDemo + "/close", nil, `{}`, 400, "reason", ""},
		{"close unknown account", "POST", "/admin/crm/accounts/ACC-NOPE/close", nil, `{"reason":"gone"}`, 404, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, s, tc.method, tc.path, tc.header, tc.body)
			require.Equal(t, tc.status, a.status, "body %s", a.body)
			msg, field := a.apiError(t)
			assert.NotEmpty(t, msg)
			assert.Contains(t, msg, tc.msg)
			assert.Equal(t, tc.field, field)
		})
	}
	// None of the refused requests left a trace.
	var list []crm.Account
	call(t, s, "GET", "/crm/accounts", nil, "").decode(t, &list)
	assert.Equal(t, sandbox.SeedAccounts(day0), list)
}

func TestCRMActivate(t *testing.T) {
	t.Parallel()
	s, clk := start(t, nil)
	acc := createAccount(t, s, "k-act", accountRequest("rui@example.com"))
	clk.Advance(time.Hour)

	activate := func(id, verifiedBy string) answer {
		return call(t, s, "POST", "/crm/accounts/"+id+"/activate", nil, `{"verifiedBy":"`+verifiedBy+`"}`)
	}
	a := activate(acc.ID, "idv-"+acc.ID)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var active crm.Account
	a.decode(t, &active)
	assert.Equal(t, crm.StatusActive, active.Status)
	assert.Equal(t, "idv-"+acc.ID, active.VerifiedBy)
	require.NotNil(t, active.ActivatedAt)
	assert.True(t, active.ActivatedAt.Equal(day0.Add(time.Hour)), "activatedAt %v", active.ActivatedAt)
	assert.Equal(t, active, getAccount(t, s, acc.ID))

	// Again, even by someone else and later: the first activation stands.
	clk.Advance(time.Hour)
	a = activate(acc.ID, "someone-else")
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var again crm.Account
	a.decode(t, &again)
	assert.Equal(t, active, again)

	// A closed account cannot be activated, whether it was pending or active.
	closed, err := s.CloseAccount(t.Context(), sandbox.AccountDemo, "customer withdrew")
	require.NoError(t, err)
	assert.Equal(t, crm.StatusClosed, closed.Status)
	assert.Equal(t, "customer withdrew", closed.ClosedReason)
	a = activate(sandbox.AccountDemo, "idv-demo")
	require.Equal(t, http.StatusConflict, a.status, string(a.body))
	msg, field := a.apiError(t)
	assert.Equal(t, "status", field)
	assert.Contains(t, msg, "closed")
	assert.Equal(t, closed, getAccount(t, s, sandbox.AccountDemo))

	a = call(t, s, "POST", "/admin/crm/accounts/"+acc.ID+"/close", nil, `{"reason":"fraud suspected"}`)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	a = activate(acc.ID, "idv-"+acc.ID)
	require.Equal(t, http.StatusConflict, a.status, string(a.body))
	got := getAccount(t, s, acc.ID)
	assert.Equal(t, crm.StatusClosed, got.Status)
	assert.Equal(t, "fraud suspected", got.ClosedReason)
	assert.Equal(t, active.ActivatedAt, got.ActivatedAt, "history kept")

	_, err = s.CloseAccount(t.Context(), acc.ID, "")
	assert.ErrorContains(t, err, "reason")
	_, err = s.CloseAccount(t.Context(), "ACC-NOPE", "x")
	assert.ErrorContains(t, err, "not found")
}

func TestCRMListByEmail(t *testing.T) {
	t.Parallel()
	s, clk := start(t, func(c *sandbox.Config) { c.Seed = false })
	made := map[string]crm.Account{}
	for _, k := range []struct{ key, email string }{
		{"k1", "rui@example.com"},
		{"k2", "ana@example.com"},
		{"k3", "Rui@Example.com"},
	} {
		// k1 and k2 share a timestamp: insertion order still decides.
		if k.key == "k3" {
			clk.Advance(time.Second)
		}
		made[k.key] = createAccount(t, s, k.key, accountRequest(k.email))
	}
	tests := []struct {
		query string
		keys  []string
	}{
		{"", []string{"k1", "k2", "k3"}},
		{"?email=rui@example.com", []string{"k1", "k3"}},
		{"?email=RUI%40EXAMPLE.COM", []string{"k1", "k3"}},
		{"?email=ana@example.com", []string{"k2"}},
		{"?email=nobody@example.com", []string{}},
	}
	for _, tc := range tests {
		a := call(t, s, "GET", "/crm/accounts"+tc.query, nil, "")
		require.Equal(t, http.StatusOK, a.status, string(a.body))
		assert.NotEqual(t, "null\n", string(a.body), "an empty list is []")
		var list []crm.Account
		a.decode(t, &list)
		keys := []string{}
		for _, acc := range list {
			keys = append(keys, acc.IdempotencyKey)
			assert.Equal(t, made[acc.IdempotencyKey], acc)
		}
		assert.Equal(t, tc.keys, keys, tc.query)
	}
}

func TestCRMNotes(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	acc := createAccount(t, s, "k-notes", accountRequest("rui@example.com"))
	note := func(key, text string) answer {
		return call(t, s, "POST", "/crm/accounts/"+acc.ID+"/notes", map[string]string{"Idempotency-Key": key}, `{"text":"`+text+`"}`)
	}
	steps := []struct {
		key, text string
		status    int
		notes     []string
	}{
		{"n1", "welcome email delivered", http.StatusCreated, []string{"welcome email delivered"}},
		{"n1", "welcome email delivered", http.StatusOK, []string{"welcome email delivered"}},
		{"n1", "another text, same key", http.StatusOK, []string{"welcome email delivered"}},
		{"n2", "identity verified", http.StatusCreated, []string{"welcome email delivered", "identity verified"}},
	}
	for _, st := range steps {
		a := note(st.key, st.text)
		require.Equal(t, st.status, a.status, string(a.body))
		var got crm.Account
		a.decode(t, &got)
		assert.Equal(t, st.notes, got.Notes)
	}
	assert.Equal(t, []string{"welcome email delivered", "identity verified"}, getAccount(t, s, acc.ID).Notes)
	// The same key on another account is another note.
	a := call(t, s, "POST", "/crm/accounts/"+sandbox.AccountDemo+"/notes", map[string]string{"Idempotency-Key": "n1"}, `{"text":"demo"}`)
	require.Equal(t, http.StatusCreated, a.status, string(a.body))
	assert.Equal(t, []string{"demo"}, getAccount(t, s, sandbox.AccountDemo).Notes)
}

func TestCRMResetWipes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		seed bool
	}{{"seeded", true}, {"unseeded", false}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := start(t, func(c *sandbox.Config) { c.Seed = tc.seed })
			acc := createAccount(t, s, "k-reset", accountRequest("rui@example.com"))
			require.Equal(t, http.StatusCreated, call(t, s, "POST", "/crm/accounts/"+acc.ID+"/notes", map[string]string{"Idempotency-Key": "n"}, `{"text":"x"}`).status)

			require.Equal(t, http.StatusOK, call(t, s, "POST", "/admin/reset", nil, "").status)
			assert.Equal(t, http.StatusNotFound, call(t, s, "GET", "/crm/accounts/"+acc.ID, nil, "").status)
			var list []crm.Account
			call(t, s, "GET", "/crm/accounts", nil, "").decode(t, &list)
			if !tc.seed {
				assert.Empty(t, list)
				return
			}
			assert.Equal(t, sandbox.SeedAccounts(day0), list, "reseeded, without notes")
			// The same key makes the account anew, without the old notes.
			again := createAccount(t, s, "k-reset", accountRequest("rui@example.com"))
			assert.Equal(t, acc.ID, again.ID)
			assert.Empty(t, again.Notes)
		})
	}
}

// A lost answer (fault after the effect) leaves the account created; the
// retry with the same key finds it instead of making a second one.
func TestCRMFaults(t *testing.T) {
	t.Parallel()
	s, _ := start(t, func(c *sandbox.Config) {
		c.Seed = false
		c.Rand = func() float64 { return 0 }
		c.Faults = map[string]sandbox.Fault{sandbox.EndpointCRMCreate: {ErrorRate: 1, AfterEffect: true}}
	})
	key := map[string]string{"Idempotency-Key": "k-lost"}
	body := accountBody(accountRequest("rui@example.com"))
	assert.Equal(t, http.StatusServiceUnavailable, call(t, s, "POST", "/crm/accounts", key, body).status)
	assert.Equal(t, http.StatusOK, call(t, s, "GET", "/crm/accounts", nil, "").status, "other endpoints unaffected")

	require.NoError(t, s.SetFaults(map[string]sandbox.Fault{sandbox.EndpointCRMActivate: {ErrorRate: 1}}))
	a := call(t, s, "POST", "/crm/accounts", key, body)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var acc crm.Account
	a.decode(t, &acc)
	assert.Equal(t, http.StatusServiceUnavailable, call(t, s, "POST", "/crm/accounts/"+acc.ID+"/activate", nil, `{"verifiedBy":"x"}`).status)
	assert.Equal(t, crm.StatusPending, getAccount(t, s, acc.ID).Status, "refused before the effect")

	for _, ep := range []string{sandbox.EndpointCRMGet, sandbox.EndpointCRMList, sandbox.EndpointCRMAddNote} {
		require.NoError(t, s.SetFaults(map[string]sandbox.Fault{ep: {ErrorRate: 1}}))
		var status int
		switch ep {
		case sandbox.EndpointCRMGet:
			status = call(t, s, "GET", "/crm/accounts/"+acc.ID, nil, "").status
		case sandbox.EndpointCRMList:
			status = call(t, s, "GET", "/crm/accounts?email=rui@example.com", nil, "").status
		default:
			status = call(t, s, "POST", "/crm/accounts/"+acc.ID+"/notes", key, `{"text":"x"}`).status
		}
		assert.Equal(t, http.StatusServiceUnavailable, status, ep)
	}
	require.NoError(t, s.SetFaults(nil))
	assert.Empty(t, getAccount(t, s, acc.ID).Notes)
}

// A store written before the CRM existed gets the seed account on a seeded
// start, and nothing else of the seed.
func TestCRMSeedIntoOldStore(t *testing.T) {
	t.Parallel()
	dbURL, path := testdb.URL(t, "sandbox_crm_test"), filepath.Join(t.TempDir(), "sandbox.db")
	cfg := sandbox.Config{HTTPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0", DatabaseURL: dbURL, SQLitePath: path, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return day0 }}
	ctx := context.Background()
	s, err := sandbox.Start(ctx, cfg)
	require.NoError(t, err)
	v := erp.Vendor{ID: "V-9", Name: "Old", BankAccount: erp.BankAccount{IBAN: "DE89370400440532013000", AccountHolder: "Old"},
		APContact: erp.Contact{Email: "ap@old.example"}}
	b, _ := json.Marshal(v)
	require.Equal(t, http.StatusOK, call(t, s, "PUT", "/erp/vendors/V-9", nil, string(b)).status)
	require.NoError(t, s.Close())

	cfg.Seed = true
	s, err = sandbox.Start(ctx, cfg)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, sandbox.SeedAccounts(day0)[0], getAccount(t, s, sandbox.AccountDemo))
	assert.Equal(t, http.StatusNotFound, call(t, s, "GET", "/erp/invoices/"+sandbox.InvoiceHappyPath, nil, "").status, "ERP not reseeded")
}
