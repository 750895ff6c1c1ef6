package ticketing

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
)

// Option configures a Client: the options of [httpx] (WithTimeout,
// WithHTTPClient, WithLogger, WithBreaker) apply to every connector alike.
type Option = httpx.Option

// Client talks to the ticketing system's HTTP API. Every mutation carries
// an Idempotency-Key, so httpx may re-send it after a connection reset and
// the caller (a Temporal activity) may retry it after a 5xx or a timeout:
// the same key and request is applied once.
type Client struct{ c *httpx.Client }

// New returns a Client for the ticketing system at baseURL.
func New(baseURL string, opts ...Option) *Client { return &Client{c: httpx.New(baseURL, opts...)} }

// IsNotFound reports whether err says the issue does not exist.
func IsNotFound(err error) bool { return httpx.StatusCode(err) == http.StatusNotFound }

// IsConflict reports whether err is an HTTP 409: an invalid transition
// (IsInvalidTransition) or an idempotency key reused for a different
// request (IsKeyReuse). Both are permanent: never retry, escalate.
func IsConflict(err error) bool { return httpx.StatusCode(err) == http.StatusConflict }

// IsInvalidTransition reports whether err refuses a status change the
// workflow does not allow; the message names from and to.
func IsInvalidTransition(err error) bool { return IsConflict(err) && httpx.Field(err) == "to" }

// IsKeyReuse reports whether err says the idempotency key was already used
// with a different request.
func IsKeyReuse(err error) bool { return IsConflict(err) && httpx.Field(err) == "Idempotency-Key" }

// CreateIssue opens an issue once per idempotency key: repeating the call
// with the same key and request returns the same issue (as it is now).
// Derive the key from a stable identity, e.g. "<workflow id>:eng-ticket".
func (c *Client) CreateIssue(ctx context.Context, idempotencyKey string, req IssueRequest) (Issue, error) {
	if err := httpx.Required("ticketing.create", "Idempotency-Key", idempotencyKey); err != nil {
		return Issue{}, err
	}
	var iss Issue
	_, err := c.c.Do(ctx, httpx.Request{
		Op: "ticketing.create " + req.Project, Method: http.MethodPost, Path: "/ticketing/issues",
		Header: http.Header{"Idempotency-Key": {idempotencyKey}}, Body: req,
	}, &iss)
	if err != nil {
		return Issue{}, fmt.Errorf("create issue in %s: %w", req.Project, err)
	}
	return iss, nil
}

// GetIssue fetches an issue with its comments, links and history.
func (c *Client) GetIssue(ctx context.Context, id string) (Issue, error) {
	if err := httpx.Required("ticketing.get", "issueId", id); err != nil {
		return Issue{}, err
	}
	var iss Issue
	if err := c.c.Get(ctx, "ticketing.get "+id, issuePath(id), &iss); err != nil {
		return Issue{}, fmt.Errorf("get issue %s: %w", id, err)
	}
	return iss, nil
}

// ListIssues lists the issues matching f, oldest first; none is an empty
// list. E.g. Filter{Statuses: []string{StatusOpen}, Priority: P1}.
func (c *Client) ListIssues(ctx context.Context, f Filter) ([]Issue, error) {
	q := url.Values{}
	if len(f.Statuses) > 0 {
		q.Set("status", strings.Join(f.Statuses, ","))
	}
	for k, v := range map[string]string{"priority": f.Priority, "project": f.Project, "accountId": f.AccountID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	path := "/ticketing/issues"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var list []Issue
	if err := c.c.Get(ctx, "ticketing.list", path, &list); err != nil {
		return nil, fmt.Errorf("list issues: %w", err)
	}
	return list, nil
}

// mutate sends a keyed change of issue id and returns the issue after it.
func (c *Client) mutate(ctx context.Context, op, id, sub, idempotencyKey string, body any) (Issue, error) {
	if err := httpx.Required(op, "issueId", id); err != nil {
		return Issue{}, err
	}
	if err := httpx.Required(op, "Idempotency-Key", idempotencyKey); err != nil {
		return Issue{}, err
	}
	var iss Issue
	_, err := c.c.Do(ctx, httpx.Request{
		Op: op + " " + id, Method: http.MethodPost, Path: issuePath(id) + "/" + sub,
		Header: http.Header{"Idempotency-Key": {idempotencyKey}}, Body: body,
	}, &iss)
	return iss, err
}

// Transition moves the issue to status to (by names who or what moves it).
// Invalid moves fail with IsInvalidTransition. A repeat with the same key
// moves nothing and returns the issue as it is now.
func (c *Client) Transition(ctx context.Context, id, idempotencyKey, to, by string) (Issue, error) {
	if err := httpx.Required("ticketing.transition", "to", to); err != nil {
		return Issue{}, err
	}
	if err := httpx.Required("ticketing.transition", "by", by); err != nil {
		return Issue{}, err
	}
	iss, err := c.mutate(ctx, "ticketing.transition", id, "transitions", idempotencyKey, struct {
		To string `json:"to"`
		By string `json:"by"`
	}{to, by})
	if err != nil {
		return Issue{}, fmt.Errorf("move issue %s to %s: %w", id, to, err)
	}
	return iss, nil
}

// Assign sets the issue's assignee (a person id).
func (c *Client) Assign(ctx context.Context, id, idempotencyKey, assignee string) (Issue, error) {
	if err := httpx.Required("ticketing.assign", "assignee", assignee); err != nil {
		return Issue{}, err
	}
	iss, err := c.mutate(ctx, "ticketing.assign", id, "assignee", idempotencyKey, struct {
		Assignee string `json:"assignee"`
	}{assignee})
	if err != nil {
		return Issue{}, fmt.Errorf("assign issue %s to %s: %w", id, assignee, err)
	}
	return iss, nil
}

// AddComment comments on the issue once per idempotency key.
func (c *Client) AddComment(ctx context.Context, id, idempotencyKey, author, body string) (Issue, error) {
	if err := httpx.Required("ticketing.comment", "author", author); err != nil {
		return Issue{}, err
	}
	if err := httpx.Required("ticketing.comment", "body", body); err != nil {
		return Issue{}, err
	}
	iss, err := c.mutate(ctx, "ticketing.comment", id, "comments", idempotencyKey, struct {
		Author string `json:"author"`
		Body   string `json:"body"`
	}{author, body})
	if err != nil {
		return Issue{}, fmt.Errorf("comment on issue %s: %w", id, err)
	}
	return iss, nil
}

// AddLink links the issue to another (links are a set: an existing link is
// not added twice).
func (c *Client) AddLink(ctx context.Context, id, idempotencyKey string, l Link) (Issue, error) {
	if err := httpx.Required("ticketing.link", "type", l.Type); err != nil {
		return Issue{}, err
	}
	if err := httpx.Required("ticketing.link", "issueId", l.IssueID); err != nil {
		return Issue{}, err
	}
	iss, err := c.mutate(ctx, "ticketing.link", id, "links", idempotencyKey, l)
	if err != nil {
		return Issue{}, fmt.Errorf("link issue %s to %s: %w", id, l.IssueID, err)
	}
	return iss, nil
}

func issuePath(id string) string { return "/ticketing/issues/" + url.PathEscape(id) }
