package workforce

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/internal/testdb"
)

// apiHarness serves the handler; the header X-Role: workforce-admin is
// what its authorize func lets in.
type apiHarness struct {
	srv   *httptest.Server
	store *Store
	log   *bytes.Buffer
}

func newAPI(t *testing.T, e testdb.Engine) *apiHarness {
	t.Helper()
	h := &apiHarness{store: openStore(t, e), log: &bytes.Buffer{}}
	authorize := func(r *http.Request) (string, bool) {
		return "admin-1", r.Header.Get("X-Role") == "workforce-admin"
	}
	h.srv = httptest.NewServer(NewHandler(h.store, authorize, slog.New(slog.NewTextHandler(h.log, nil))))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *apiHarness) do(t *testing.T, method, path string, body io.Reader, admin bool) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	require.NoError(t, err)
	if admin {
		req.Header.Set("X-Role", "workforce-admin")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

func workerJSON(t *testing.T, w Worker) string {
	t.Helper()
	b, err := json.Marshal(w)
	require.NoError(t, err)
	return string(b)
}

func TestHTTPLifecycle(t *testing.T) {
	each(t, "workforce_http", func(t *testing.T, e testdb.Engine) {
		h := newAPI(t, e)
		code, body := h.do(t, "GET", "/api/workforce", nil, true)
		require.Equal(t, 200, code, string(body))
		assert.JSONEq(t, `{"workers":[]}`, string(body))

		w := validWorker()
		code, body = h.do(t, "PUT", "/api/workforce/ana-field", strings.NewReader(workerJSON(t, w)), true)
		require.Equal(t, 200, code, string(body))
		assert.JSONEq(t, workerJSON(t, w), string(body))
		assert.Contains(t, h.log.String(), "by=admin-1", "who put it is logged")

		code, body = h.do(t, "GET", "/api/workforce/ana-field", nil, true)
		require.Equal(t, 200, code)
		assert.JSONEq(t, workerJSON(t, w), string(body))

		// An id left out of the body is the path's.
		w2 := validWorker()
		w2.ID = ""
		code, body = h.do(t, "PUT", "/api/workforce/bea", strings.NewReader(workerJSON(t, w2)), true)
		require.Equal(t, 200, code, string(body))

		code, body = h.do(t, "GET", "/api/workforce", nil, true)
		require.Equal(t, 200, code)
		var list WorkerList
		require.NoError(t, json.Unmarshal(body, &list))
		require.Len(t, list.Workers, 2)
		assert.Equal(t, "ana-field", list.Workers[0].ID)
		assert.Equal(t, "bea", list.Workers[1].ID)

		code, _ = h.do(t, "DELETE", "/api/workforce/bea", nil, true)
		assert.Equal(t, 204, code)
		code, body = h.do(t, "DELETE", "/api/workforce/bea", nil, true)
		assert.Equal(t, 404, code, string(body))
		code, _ = h.do(t, "GET", "/api/workforce/bea", nil, true)
		assert.Equal(t, 404, code)
		assert.Contains(t, h.log.String(), "worker removed")
	})
}

func TestHTTPRefusals(t *testing.T) {
	each(t, "workforce_http_bad", func(t *testing.T, e testdb.Engine) {
		h := newAPI(t, e)
		valid := workerJSON(t, validWorker())
		badLevel := validWorker()
		badLevel.Skills[1].Level = 7
		badStart := validWorker()
		badStart.Availability[0].Start = "25:00"
		mismatch := validWorker()
		mismatch.ID = "someone-else"

		cases := []struct {
			name, method, path, body string
			admin                    bool
			status                   int
			field                    string
		}{
			{"invalid level", "PUT", "/api/workforce/ana-field", workerJSON(t, badLevel), true, 400, "skills[1].level"},
			{"invalid start", "PUT", "/api/workforce/ana-field", workerJSON(t, badStart), true, 400, "availability[0].start"},
			{"unknown field", "PUT", "/api/workforce/ana-field", strings.Replace(valid, `"name"`, `"role":"boss","name"`, 1), true, 400, "role"},
			{"wrong type", "PUT", "/api/workforce/ana-field", strings.Replace(valid, `"maxLoad":3`, `"maxLoad":"3"`, 1), true, 400, "maxLoad"},
			{"id mismatch", "PUT", "/api/workforce/ana-field", workerJSON(t, mismatch), true, 400, "id"},
			{"malformed", "PUT", "/api/workforce/ana-field", `{"id":`, true, 400, ""},
			{"trailing data", "PUT", "/api/workforce/ana-field", valid + `{}`, true, 400, ""},
			{"oversized", "PUT", "/api/workforce/ana-field", `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, true, 413, ""},
			{"list unauthorized", "GET", "/api/workforce", "", false, 403, ""},
			{"get unauthorized", "GET", "/api/workforce/ana-field", "", false, 403, ""},
			{"put unauthorized", "PUT", "/api/workforce/ana-field", valid, false, 403, ""},
			{"delete unauthorized", "DELETE", "/api/workforce/ana-field", "", false, 403, ""},
			{"wrong method", "POST", "/api/workforce", valid, true, 405, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var body io.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				code, out := h.do(t, tc.method, tc.path, body, tc.admin)
				require.Equal(t, tc.status, code, string(out))
				if tc.status == 405 {
					return
				}
				var eb ErrorBody
				require.NoError(t, json.Unmarshal(out, &eb), string(out))
				assert.NotEmpty(t, eb.Error)
				assert.Equal(t, tc.field, eb.Field, eb.Error)
				if tc.field != "" {
					assert.True(t, strings.HasPrefix(eb.Error, tc.field+": "), eb.Error)
				}
			})
		}
		// Nothing of it was stored.
		all, err := h.store.List(context.Background())
		require.NoError(t, err)
		assert.Empty(t, all)
	})
}

// A nil authorize refuses everyone rather than letting everyone in.
func TestHTTPNilAuthorize(t *testing.T) {
	s := openStore(t, testdb.Engines("workforce_nil")[0])
	rec := httptest.NewRecorder()
	NewHandler(s, nil, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/api/workforce", nil))
	assert.Equal(t, 403, rec.Code)
}
