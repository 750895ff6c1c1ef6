package httpx_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
)

var quiet = httpx.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

func TestStatusClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status    int
		permanent bool
	}{
		{400, true}, {404, true}, {409, true}, {422, true},
		{408, false}, {429, false}, {500, false}, {502, false}, {503, false},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, `{"error":"nope","field":"amountMinor"}`)
			}))
			defer srv.Close()
			c := httpx.New(srv.URL, quiet)
			status, err := c.Do(context.Background(), httpx.Request{Op: "test", Method: "GET", Path: "/"}, nil)
			require.Error(t, err)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.permanent, httpx.IsPermanent(err))
			assert.Equal(t, tc.status, httpx.StatusCode(err))
			var he *httpx.Error
			require.ErrorAs(t, err, &he)
			assert.Equal(t, "nope", he.Message)
			assert.Equal(t, "amountMinor", he.Field)
		})
	}
}

func TestIsPermanentOtherErrors(t *testing.T) {
	t.Parallel()
	assert.False(t, httpx.IsPermanent(nil))
	assert.False(t, httpx.IsPermanent(context.DeadlineExceeded))
	assert.False(t, httpx.IsPermanent(errors.New("boom")))
	assert.True(t, httpx.IsPermanent(&httpx.Error{Permanent: true}))
}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		assert.Equal(t, "k", r.Header.Get("Idempotency-Key"))
		raw, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(raw)
	}))
	defer srv.Close()
	c := httpx.New(srv.URL, quiet)
	var out struct{ N int }
	status, err := c.Do(context.Background(), httpx.Request{Op: "echo", Method: "POST", Path: "/", Header: http.Header{"Idempotency-Key": {"k"}}, Body: map[string]int{"n": 7}}, &out)
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, status)
	assert.Equal(t, 7, out.N)

	_, err = c.Do(context.Background(), httpx.Request{Op: "bad body", Method: "POST", Path: "/", Body: func() {}}, nil)
	require.Error(t, err)
	assert.True(t, httpx.IsPermanent(err))
}

func TestGet(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, http.MethodGet, r.Method)
		if r.URL.Path != "/things/1" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"no such thing"}`))
			return
		}
		_, _ = w.Write([]byte(`{"n":1}`))
	}))
	defer srv.Close()
	c := httpx.New(srv.URL, quiet)
	var out struct{ N int }
	require.NoError(t, c.Get(context.Background(), "get thing", "/things/1", &out))
	assert.Equal(t, 1, out.N)

	err := c.Get(context.Background(), "get thing 2", "/things/2", &out)
	require.Error(t, err)
	assert.Equal(t, http.StatusNotFound, httpx.StatusCode(err))
	assert.ErrorContains(t, err, "get thing 2: HTTP 404: no such thing")
}

func TestRequired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		ok    bool
	}{{"x", true}, {" x ", true}, {"", false}, {" \t", false}}
	for _, tc := range tests {
		err := httpx.Required("op", "invoiceId", tc.value)
		if tc.ok {
			assert.NoError(t, err, "%q", tc.value)
			continue
		}
		var he *httpx.Error
		require.ErrorAs(t, err, &he, "%q", tc.value)
		assert.Equal(t, &httpx.Error{Op: "op", Message: "invoiceId is required", Field: "invoiceId", Permanent: true}, he)
	}
}

// failingTransport fails every round trip with err and counts the attempts.
type failingTransport struct {
	err   error
	calls atomic.Int32
}

func (f *failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	f.calls.Add(1)
	return nil, f.err
}

func TestConnectionRetry(t *testing.T) {
	t.Parallel()
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	resetErr := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	tests := []struct {
		name     string
		err      error
		req      httpx.Request
		attempts int32
	}{
		{"dial refused GET retried once", dialErr, httpx.Request{Method: "GET"}, 2},
		{"dial refused POST retried once", dialErr, httpx.Request{Method: "POST"}, 2},
		{"reset GET retried once", resetErr, httpx.Request{Method: "GET"}, 2},
		{"reset POST with key retried once", resetErr, httpx.Request{Method: "POST", Header: http.Header{"Idempotency-Key": {"k"}}}, 2},
		{"reset POST marked idempotent retried once", resetErr, httpx.Request{Method: "POST", Idempotent: true}, 2},
		{"reset plain POST not retried", resetErr, httpx.Request{Method: "POST"}, 1},
		{"other error not retried", errors.New("tls: bad certificate"), httpx.Request{Method: "GET"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := &failingTransport{err: tc.err}
			c := httpx.New("http://127.0.0.1:1", quiet, httpx.WithHTTPClient(&http.Client{Transport: tr}))
			tc.req.Op, tc.req.Path = "op", "/"
			_, err := c.Do(context.Background(), tc.req, nil)
			require.Error(t, err)
			assert.False(t, httpx.IsPermanent(err))
			assert.Equal(t, tc.attempts, tr.calls.Load())
		})
	}
}

func TestNoRetryOn5xxAndBreakerOpens(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := httpx.New(srv.URL, quiet, httpx.WithBreaker(3, time.Hour))
	get := httpx.Request{Op: "get", Method: "GET", Path: "/"}
	for i := range 3 {
		_, err := c.Do(context.Background(), get, nil)
		require.Error(t, err)
		assert.False(t, httpx.IsPermanent(err))
		assert.False(t, httpx.IsBreakerOpen(err), "call %d", i)
		assert.Equal(t, int32(i+1), hits.Load(), "one attempt per call: no retry on 5xx")
	}
	_, err := c.Do(context.Background(), get, nil)
	require.Error(t, err)
	assert.True(t, httpx.IsBreakerOpen(err))
	assert.False(t, httpx.IsPermanent(err))
	assert.Equal(t, int32(3), hits.Load(), "open breaker does not call the server")
}

func TestPermanentErrorsDoNotOpenBreaker(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"missing"}`, http.StatusNotFound)
	}))
	defer srv.Close()
	c := httpx.New(srv.URL, quiet, httpx.WithBreaker(2, time.Hour))
	for range 5 {
		_, err := c.Do(context.Background(), httpx.Request{Op: "get", Method: "GET", Path: "/"}, nil)
		require.Error(t, err)
		assert.True(t, httpx.IsPermanent(err))
		assert.False(t, httpx.IsBreakerOpen(err))
	}
}
