// Package httpx is the HTTP plumbing shared by the connectors: JSON in and
// out, a per-call timeout, a circuit breaker and error classification, built on
// failsafe-go.
//
// Retry policy, deliberately small: the Temporal activity retry policy owns
// retries, so httpx retries at most once and only when the request provably
// did not reach the server (dial errors) or, for idempotent requests, when the
// connection was reset. Everything else — 5xx, timeouts, open breaker — is
// returned at once as a non-permanent error for the activity to retry with
// backoff. A timed-out POST is never retried here: the server may have acted,
// and only the idempotency key plus a fresh activity attempt may find out.
// (net/http itself may transparently re-send a request on a reused keep-alive
// connection that died before any answer; it does so only for idempotent
// requests, which includes those carrying an Idempotency-Key header.)
package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"
)

// Defaults used when options do not say otherwise.
const (
	DefaultTimeout         = 10 * time.Second
	DefaultBreakerFailures = 5
	DefaultBreakerDelay    = 30 * time.Second
	// retryDelay is short on purpose: a refused dial is retried once, quickly,
	// to ride out a restart or a stale pooled connection, not an outage.
	retryDelay = 50 * time.Millisecond
	// maxBody bounds how much of a response body is read.
	maxBody = 8 << 20
)

// Error is a failed call: an HTTP status other than 2xx, or a request that
// could not be built. Transport failures (timeouts, refused connections, open
// breaker) are returned wrapped, not as *Error, and are never permanent.
type Error struct {
	Op         string // what was attempted, e.g. "erp.getInvoice INV-1"
	StatusCode int    // HTTP status; 0 when the request never went out
	Message    string // the server's "error" text
	Field      string // the server's "field", when it named one
	Permanent  bool   // retrying the same request cannot succeed
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, " (field %s)", e.Field)
	}
	return b.String()
}

// IsPermanent reports whether err cannot be fixed by retrying: 4xx answers
// (except 408 and 429) and requests refused before sending. 5xx, timeouts,
// connection failures and an open circuit breaker are transient.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// StatusCode returns the HTTP status carried by err, or 0.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// Field returns the field or header err's answer named (e.g.
// "Idempotency-Key" on a reused key), or "".
func Field(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// IsBreakerOpen reports whether err was caused by an open circuit breaker.
func IsBreakerOpen(err error) bool { return errors.Is(err, circuitbreaker.ErrOpen) }

// IsTimeout reports whether err is a call that ran out of time.
func IsTimeout(err error) bool {
	if errors.Is(err, timeout.ErrExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func permanentStatus(code int) bool {
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}

// Option configures a Client.
type Option func(*config)

type config struct {
	timeout         time.Duration
	httpClient      *http.Client
	logger          *slog.Logger
	breakerFailures uint
	breakerDelay    time.Duration
}

// WithTimeout bounds each call (connection, request and reading the body).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithHTTPClient sets the underlying http.Client; its own Timeout should be
// zero, the per-call timeout applies.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithBreaker opens the circuit after failures consecutive transient failures
// and lets one trial call through after delay.
func WithBreaker(failures uint, delay time.Duration) Option {
	return func(c *config) { c.breakerFailures, c.breakerDelay = failures, delay }
}

// Client calls one HTTP service. It is safe for concurrent use; the breaker is
// shared by every call made through the same Client.
type Client struct {
	baseURL string
	hc      *http.Client
	logger  *slog.Logger
	timeout timeout.Timeout[*response]
	breaker circuitbreaker.CircuitBreaker[*response]
	retry   retrypolicy.RetryPolicy[*response]
}

type response struct {
	status int
	body   []byte
}

// New returns a Client for the service at baseURL, e.g. "http://127.0.0.1:8090".
func New(baseURL string, opts ...Option) *Client {
	cfg := config{
		timeout:         DefaultTimeout,
		breakerFailures: DefaultBreakerFailures,
		breakerDelay:    DefaultBreakerDelay,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.httpClient == nil {
		cfg.httpClient = &http.Client{}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	c := &Client{
		baseURL: strings.TrimRight(baseURL, "/"),
		hc:      cfg.httpClient,
		logger:  cfg.logger,
		timeout: timeout.New[*response](cfg.timeout),
	}
	c.breaker = circuitbreaker.NewBuilder[*response]().
		// Only transient failures say the service is unwell; a 404 or a 409 is
		// a healthy service answering.
		HandleIf(func(_ *response, err error) bool {
			return err != nil && !IsPermanent(err) && !errors.Is(err, context.Canceled)
		}).
		WithFailureThreshold(cfg.breakerFailures).
		WithDelay(cfg.breakerDelay).
		OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
			c.logger.Warn("circuit breaker state changed", "service", c.baseURL, "from", e.OldState.String(), "to", e.NewState.String())
		}).
		Build()
	c.retry = retrypolicy.NewBuilder[*response]().
		HandleIf(func(_ *response, err error) bool { return err != nil && isRetryableConnErr(err) }).
		WithMaxRetries(1).
		WithDelay(retryDelay).
		ReturnLastFailure().
		Build()
	return c
}

// BreakerOpen reports whether the circuit breaker currently refuses calls,
// for health reporting.
func (c *Client) BreakerOpen() bool { return c.breaker.IsOpen() }

// Request is one call.
type Request struct {
	Op     string      // names the call in errors and logs
	Method string      // GET, POST, ...
	Path   string      // appended to the base URL; callers escape path segments
	Header http.Header // extra headers, e.g. Idempotency-Key
	Body   any         // JSON-encoded when non-nil
	// Idempotent marks a mutation that may be safely re-sent after a
	// connection reset (it carries an idempotency key or is naturally
	// idempotent). GET, HEAD, PUT and DELETE are idempotent by definition.
	Idempotent bool
}

func (r Request) idempotent() bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return r.Idempotent || r.Header.Get("Idempotency-Key") != ""
}

type idempotentKey struct{}

// Do sends req and decodes a 2xx JSON answer into out (when out is non-nil).
// It returns the HTTP status of the answer.
func (c *Client) Do(ctx context.Context, req Request, out any) (int, error) {
	var payload []byte
	if req.Body != nil {
		var err error
		payload, err = json.Marshal(req.Body)
		if err != nil {
			return 0, &Error{Op: req.Op, Message: "encode request: " + err.Error(), Permanent: true}
		}
	}
	// The retry predicate needs to know whether this request may be re-sent
	// after a reset; it travels in the context the executor hands over.
	ctx = context.WithValue(ctx, idempotentKey{}, req.idempotent())
	exec := failsafe.With[*response](c.retry, c.breaker, c.timeout).WithContext(ctx)
	resp, err := exec.GetWithExecution(func(e failsafe.Execution[*response]) (*response, error) {
		return c.attempt(e.Context(), req, payload)
	})
	if err != nil {
		if IsPermanent(err) || StatusCode(err) != 0 {
			return StatusCode(err), err
		}
		return 0, fmt.Errorf("%s: %w", req.Op, err)
	}
	if out != nil && len(resp.body) > 0 {
		if err := json.Unmarshal(resp.body, out); err != nil {
			return resp.status, &Error{Op: req.Op, StatusCode: resp.status, Message: "decode response: " + err.Error()}
		}
	}
	return resp.status, nil
}

// Get fetches path and decodes the JSON answer into out; op names the call.
func (c *Client) Get(ctx context.Context, op, path string, out any) error {
	_, err := c.Do(ctx, Request{Op: op, Method: http.MethodGet, Path: path}, out)
	return err
}

// Required refuses a blank value of field before anything is sent. The error
// is permanent: the same input can never succeed.
func Required(op, field, value string) error {
	if strings.TrimSpace(value) == "" {
		return &Error{Op: op, Message: field + " is required", Field: field, Permanent: true}
	}
	return nil
}

func (c *Client) attempt(ctx context.Context, req Request, payload []byte) (*response, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, c.baseURL+req.Path, body)
	if err != nil {
		return nil, &Error{Op: req.Op, Message: "build request: " + err.Error(), Permanent: true}
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	hr.Header.Set("Accept", "application/json")
	if payload != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, markConn(ctx, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("read response: %w", err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		var apiErr struct {
			Error string `json:"error"`
			Field string `json:"field"`
		}
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &apiErr) == nil && apiErr.Error != "" {
			msg = apiErr.Error
		}
		if len(msg) > 500 {
			msg = msg[:500]
		}
		return nil, &Error{Op: req.Op, StatusCode: res.StatusCode, Message: msg, Field: apiErr.Field, Permanent: permanentStatus(res.StatusCode)}
	}
	return &response{status: res.StatusCode, body: raw}, nil
}

// connErr marks a transport failure that is safe to retry once.
type connErr struct{ err error }

func (e *connErr) Error() string { return e.err.Error() }
func (e *connErr) Unwrap() error { return e.err }

func markConn(ctx context.Context, err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" && !op.Timeout() {
		// Never connected: the server cannot have seen the request.
		return &connErr{err}
	}
	idem, _ := ctx.Value(idempotentKey{}).(bool)
	if idem && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return &connErr{err}
	}
	return err
}

func isRetryableConnErr(err error) bool {
	var ce *connErr
	return errors.As(err, &ce)
}
