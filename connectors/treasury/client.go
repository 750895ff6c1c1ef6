package treasury

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
)

// Option configures a Client.
type Option = httpx.Option

// WithTimeout bounds each call.
func WithTimeout(d time.Duration) Option { return httpx.WithTimeout(d) }

// WithHTTPClient sets the underlying http.Client.
func WithHTTPClient(hc *http.Client) Option { return httpx.WithHTTPClient(hc) }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return httpx.WithLogger(l) }

// WithBreaker sets the circuit breaker: open after failures consecutive
// transient failures, try again after delay.
func WithBreaker(failures uint, delay time.Duration) Option {
	return httpx.WithBreaker(failures, delay)
}

// Client talks to the treasury HTTP API.
type Client struct{ c *httpx.Client }

// New returns a Client for the treasury at baseURL.
func New(baseURL string, opts ...Option) *Client { return &Client{c: httpx.New(baseURL, opts...)} }

// IsNotFound reports whether err says the payment does not exist.
func IsNotFound(err error) bool { return httpx.StatusCode(err) == http.StatusNotFound }

// IsIdempotencyConflict reports whether err says the key was already used
// for a different request (HTTP 409): a bug or tampering, never retry.
func IsIdempotencyConflict(err error) bool { return httpx.StatusCode(err) == http.StatusConflict }

// ReleasePayment releases money once per idempotency key: repeating the call
// with the same key and request returns the first payment. Use the action
// digest as the key so the approved action and the release are one.
func (c *Client) ReleasePayment(ctx context.Context, idempotencyKey string, req PaymentRequest) (Payment, error) {
	if strings.TrimSpace(idempotencyKey) == "" {
		return Payment{}, &httpx.Error{Op: "treasury.releasePayment", Message: "idempotency key is required", Field: "Idempotency-Key", Permanent: true}
	}
	var p Payment
	_, err := c.c.Do(ctx, httpx.Request{
		Op: "treasury.releasePayment " + req.InvoiceID, Method: http.MethodPost, Path: "/treasury/payments",
		Header: http.Header{"Idempotency-Key": {idempotencyKey}},
		Body:   req,
	}, &p)
	if err != nil {
		return Payment{}, fmt.Errorf("release payment for invoice %s: %w", req.InvoiceID, err)
	}
	return p, nil
}

// GetPayment fetches a payment with its current status.
func (c *Client) GetPayment(ctx context.Context, id string) (Payment, error) {
	if strings.TrimSpace(id) == "" {
		return Payment{}, &httpx.Error{Op: "treasury.getPayment", Message: "payment id is required", Field: "paymentId", Permanent: true}
	}
	var p Payment
	_, err := c.c.Do(ctx, httpx.Request{Op: "treasury.getPayment " + id, Method: http.MethodGet, Path: "/treasury/payments/" + url.PathEscape(id)}, &p)
	if err != nil {
		return Payment{}, fmt.Errorf("get payment %s: %w", id, err)
	}
	return p, nil
}

// ListPayments lists every payment.
func (c *Client) ListPayments(ctx context.Context) ([]Payment, error) {
	return c.list(ctx, "")
}

// ListPaymentsForInvoice lists the payments released for one invoice; a
// verifier uses it to prove an invoice was paid exactly once.
func (c *Client) ListPaymentsForInvoice(ctx context.Context, invoiceID string) ([]Payment, error) {
	if strings.TrimSpace(invoiceID) == "" {
		return nil, &httpx.Error{Op: "treasury.listPayments", Message: "invoice id is required", Field: "invoiceId", Permanent: true}
	}
	return c.list(ctx, invoiceID)
}

func (c *Client) list(ctx context.Context, invoiceID string) ([]Payment, error) {
	path := "/treasury/payments"
	if invoiceID != "" {
		path += "?" + url.Values{"invoiceId": {invoiceID}}.Encode()
	}
	var list []Payment
	if _, err := c.c.Do(ctx, httpx.Request{Op: "treasury.listPayments", Method: http.MethodGet, Path: path}, &list); err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	return list, nil
}
