package crm

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
)

// Option configures a Client: the options of [httpx] (WithTimeout,
// WithHTTPClient, WithLogger, WithBreaker) apply to every connector alike.
type Option = httpx.Option

// Client talks to the CRM's HTTP API.
type Client struct{ c *httpx.Client }

// New returns a Client for the CRM at baseURL.
func New(baseURL string, opts ...Option) *Client { return &Client{c: httpx.New(baseURL, opts...)} }

// IsNotFound reports whether err says the account does not exist.
func IsNotFound(err error) bool { return httpx.StatusCode(err) == http.StatusNotFound }

// IsConflict reports whether err is an HTTP 409: the idempotency key was
// already used for a different request, or the account is closed and cannot
// be activated. Both are permanent: never retry, escalate.
func IsConflict(err error) bool { return httpx.StatusCode(err) == http.StatusConflict }

// CreateAccount creates a pending account once per idempotency key:
// repeating the call with the same key and request returns the first
// account (whatever its status now). Derive the key from a stable identity,
// such as the workflow id, so a retried or repeated start is one account.
func (c *Client) CreateAccount(ctx context.Context, idempotencyKey string, req AccountRequest) (Account, error) {
	if err := httpx.Required("crm.createAccount", "Idempotency-Key", idempotencyKey); err != nil {
		return Account{}, err
	}
	var a Account
	_, err := c.c.Do(ctx, httpx.Request{
		Op: "crm.createAccount " + req.Email, Method: http.MethodPost, Path: "/crm/accounts",
		Header: http.Header{"Idempotency-Key": {idempotencyKey}},
		Body:   req,
	}, &a)
	if err != nil {
		return Account{}, fmt.Errorf("create account for %s: %w", req.Email, err)
	}
	return a, nil
}

// GetAccount fetches an account with its notes.
func (c *Client) GetAccount(ctx context.Context, id string) (Account, error) {
	if err := httpx.Required("crm.getAccount", "accountId", id); err != nil {
		return Account{}, err
	}
	var a Account
	if err := c.c.Get(ctx, "crm.getAccount "+id, accountPath(id), &a); err != nil {
		return Account{}, fmt.Errorf("get account %s: %w", id, err)
	}
	return a, nil
}

// FindByEmail lists the accounts with email (compared without case), oldest
// first; none is an empty list, not an error.
func (c *Client) FindByEmail(ctx context.Context, email string) ([]Account, error) {
	if err := httpx.Required("crm.listAccounts", "email", email); err != nil {
		return nil, err
	}
	var list []Account
	if err := c.c.Get(ctx, "crm.listAccounts", "/crm/accounts?"+url.Values{"email": {email}}.Encode(), &list); err != nil {
		return nil, fmt.Errorf("find accounts of %s: %w", email, err)
	}
	return list, nil
}

// Activate marks a pending account active, recording verifiedBy (what
// verified the customer, e.g. a human task id). Activating an active account
// returns it unchanged; a closed account is a conflict (IsConflict).
func (c *Client) Activate(ctx context.Context, id, verifiedBy string) (Account, error) {
	if err := httpx.Required("crm.activate", "accountId", id); err != nil {
		return Account{}, err
	}
	if err := httpx.Required("crm.activate", "verifiedBy", verifiedBy); err != nil {
		return Account{}, err
	}
	var a Account
	_, err := c.c.Do(ctx, httpx.Request{
		Op: "crm.activate " + id, Method: http.MethodPost, Path: accountPath(id) + "/activate",
		// Activating twice is activating once: safe to re-send after a reset.
		Idempotent: true,
		Body: struct {
			VerifiedBy string `json:"verifiedBy"`
		}{verifiedBy},
	}, &a)
	if err != nil {
		return Account{}, fmt.Errorf("activate account %s: %w", id, err)
	}
	return a, nil
}

// AddNote appends text to the account's notes once per idempotency key and
// returns the account with its notes; a repeat with the same key adds
// nothing.
func (c *Client) AddNote(ctx context.Context, id, idempotencyKey, text string) (Account, error) {
	if err := httpx.Required("crm.addNote", "accountId", id); err != nil {
		return Account{}, err
	}
	if err := httpx.Required("crm.addNote", "Idempotency-Key", idempotencyKey); err != nil {
		return Account{}, err
	}
	if err := httpx.Required("crm.addNote", "text", text); err != nil {
		return Account{}, err
	}
	var a Account
	_, err := c.c.Do(ctx, httpx.Request{
		Op: "crm.addNote " + id, Method: http.MethodPost, Path: accountPath(id) + "/notes",
		Header: http.Header{"Idempotency-Key": {idempotencyKey}},
		Body: struct {
			Text string `json:"text"`
		}{text},
	}, &a)
	if err != nil {
		return Account{}, fmt.Errorf("add note to account %s: %w", id, err)
	}
	return a, nil
}

// IsKeyReuse reports whether err says the idempotency key was already used
// with a different request.
func IsKeyReuse(err error) bool { return IsConflict(err) && httpx.Field(err) == "Idempotency-Key" }

// ListAccounts lists the accounts matching f, oldest first; none is an
// empty list. E.g. AccountFilter{Tier: TierEnterprise, HealthBelow: 60}
// finds the enterprise accounts whose health dropped below 60.
func (c *Client) ListAccounts(ctx context.Context, f AccountFilter) ([]Account, error) {
	q := url.Values{}
	if f.Email != "" {
		q.Set("email", f.Email)
	}
	if f.Tier != "" {
		q.Set("tier", f.Tier)
	}
	if f.HealthBelow > 0 {
		q.Set("healthBelow", strconv.Itoa(f.HealthBelow))
	}
	path := "/crm/accounts"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var list []Account
	if err := c.c.Get(ctx, "crm.listAccounts", path, &list); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return list, nil
}

// SetHealth records the account's health score (0..100) once per
// idempotency key and returns the account with its health history.
func (c *Client) SetHealth(ctx context.Context, id, idempotencyKey string, score int) (Account, error) {
	if err := httpx.Required("crm.setHealth", "accountId", id); err != nil {
		return Account{}, err
	}
	if err := httpx.Required("crm.setHealth", "Idempotency-Key", idempotencyKey); err != nil {
		return Account{}, err
	}
	if score < 0 || score > 100 {
		return Account{}, &httpx.Error{Op: "crm.setHealth " + id, Message: "score must be from 0 to 100", Field: "score", Permanent: true}
	}
	var a Account
	_, err := c.c.Do(ctx, httpx.Request{
		Op: "crm.setHealth " + id, Method: http.MethodPost, Path: accountPath(id) + "/health",
		Header: http.Header{"Idempotency-Key": {idempotencyKey}},
		Body: struct {
			Score int `json:"score"`
		}{score},
	}, &a)
	if err != nil {
		return Account{}, fmt.Errorf("set health of account %s: %w", id, err)
	}
	return a, nil
}

func accountPath(id string) string { return "/crm/accounts/" + url.PathEscape(id) }
