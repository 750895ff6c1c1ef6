package treasury

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
)

// Option configures a Client: the options of [httpx] (WithTimeout,
// WithHTTPClient, WithLogger, WithBreaker) apply to every connector alike.
type Option = httpx.Option

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
	if err := httpx.Required("treasury.releasePayment", "Idempotency-Key", idempotencyKey); err != nil {
		return Payment{}, err
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
	if err := httpx.Required("treasury.getPayment", "paymentId", id); err != nil {
		return Payment{}, err
	}
	var p Payment
	if err := c.c.Get(ctx, "treasury.getPayment "+id, "/treasury/payments/"+url.PathEscape(id), &p); err != nil {
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
	if err := httpx.Required("treasury.listPayments", "invoiceId", invoiceID); err != nil {
		return nil, err
	}
	return c.list(ctx, invoiceID)
}

func (c *Client) list(ctx context.Context, invoiceID string) ([]Payment, error) {
	path := "/treasury/payments"
	if invoiceID != "" {
		path += "?" + url.Values{"invoiceId": {invoiceID}}.Encode()
	}
	var list []Payment
	if err := c.c.Get(ctx, "treasury.listPayments", path, &list); err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	return list, nil
}
