package erp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
)

// Option configures a Client: the options of [httpx] (WithTimeout,
// WithHTTPClient, WithLogger, WithBreaker) apply to every connector alike.
type Option = httpx.Option

// Client talks to the ERP HTTP API.
type Client struct{ c *httpx.Client }

// New returns a Client for the ERP at baseURL.
func New(baseURL string, opts ...Option) *Client { return &Client{c: httpx.New(baseURL, opts...)} }

// IsNotFound reports whether err says the thing asked for does not exist
// (for GetScheduleEntry: the invoice is not on the approved schedule).
func IsNotFound(err error) bool { return httpx.StatusCode(err) == http.StatusNotFound }

func needID(field, v string) error { return httpx.Required("erp", field, v) }

// GetInvoice fetches an invoice.
func (c *Client) GetInvoice(ctx context.Context, id string) (Invoice, error) {
	if err := needID("invoiceId", id); err != nil {
		return Invoice{}, err
	}
	var inv Invoice
	if err := c.c.Get(ctx, "erp.getInvoice "+id, "/erp/invoices/"+url.PathEscape(id), &inv); err != nil {
		return Invoice{}, fmt.Errorf("get invoice %s: %w", id, err)
	}
	return inv, nil
}

// GetVendor fetches a vendor master record.
func (c *Client) GetVendor(ctx context.Context, id string) (Vendor, error) {
	if err := needID("vendorId", id); err != nil {
		return Vendor{}, err
	}
	var v Vendor
	if err := c.c.Get(ctx, "erp.getVendor "+id, "/erp/vendors/"+url.PathEscape(id), &v); err != nil {
		return Vendor{}, fmt.Errorf("get vendor %s: %w", id, err)
	}
	return v, nil
}

// GetScheduleEntry fetches the approved payment schedule entry of an invoice;
// IsNotFound(err) is true when the invoice is not scheduled.
func (c *Client) GetScheduleEntry(ctx context.Context, invoiceID string) (ScheduleEntry, error) {
	if err := needID("invoiceId", invoiceID); err != nil {
		return ScheduleEntry{}, err
	}
	var e ScheduleEntry
	if err := c.c.Get(ctx, "erp.getSchedule "+invoiceID, "/erp/schedule/"+url.PathEscape(invoiceID), &e); err != nil {
		return ScheduleEntry{}, fmt.Errorf("get schedule entry %s: %w", invoiceID, err)
	}
	return e, nil
}

// ListOverdueInvoices lists open invoices due before asOf's date (UTC).
func (c *Client) ListOverdueInvoices(ctx context.Context, asOf time.Time) ([]Invoice, error) {
	if asOf.IsZero() {
		return nil, &httpx.Error{Op: "erp.listInvoices", Message: "asOf is required", Field: "asOf", Permanent: true}
	}
	q := url.Values{"status": {InvoiceOpen}, "overdueAsOf": {asOf.UTC().Format(time.DateOnly)}}
	var list []Invoice
	if err := c.c.Get(ctx, "erp.listInvoices", "/erp/invoices?"+q.Encode(), &list); err != nil {
		return nil, fmt.Errorf("list overdue invoices as of %s: %w", q.Get("overdueAsOf"), err)
	}
	return list, nil
}

// MarkPaid records the payment on the invoice. Repeating it with the same
// reference returns the same invoice; a different reference on a paid
// invoice is a permanent conflict (HTTP 409).
func (c *Client) MarkPaid(ctx context.Context, invoiceID, paymentReference string) (Invoice, error) {
	if err := errors.Join(needID("invoiceId", invoiceID), needID("paymentReference", paymentReference)); err != nil {
		return Invoice{}, err
	}
	var inv Invoice
	_, err := c.c.Do(ctx, httpx.Request{
		Op: "erp.markPaid " + invoiceID, Method: http.MethodPost,
		Path: "/erp/invoices/" + url.PathEscape(invoiceID) + "/payment",
		Body: map[string]string{"paymentReference": paymentReference},
		// Same reference, same result: safe to re-send.
		Idempotent: true,
	}, &inv)
	if err != nil {
		return Invoice{}, fmt.Errorf("mark invoice %s paid: %w", invoiceID, err)
	}
	return inv, nil
}

// AddNote appends a note to the invoice once per idempotency key.
func (c *Client) AddNote(ctx context.Context, invoiceID, idempotencyKey, text string) error {
	if err := errors.Join(needID("invoiceId", invoiceID), needID("idempotencyKey", idempotencyKey), needID("text", text)); err != nil {
		return err
	}
	_, err := c.c.Do(ctx, httpx.Request{
		Op: "erp.addNote " + invoiceID, Method: http.MethodPost,
		Path:   "/erp/invoices/" + url.PathEscape(invoiceID) + "/notes",
		Header: http.Header{"Idempotency-Key": {idempotencyKey}},
		Body:   map[string]string{"text": text},
	}, nil)
	if err != nil {
		return fmt.Errorf("add note to invoice %s: %w", invoiceID, err)
	}
	return nil
}
