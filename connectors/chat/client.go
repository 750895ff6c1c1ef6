package chat

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

// Client talks to the chat system's HTTP API.
type Client struct{ c *httpx.Client }

// New returns a Client for the chat system at baseURL.
func New(baseURL string, opts ...Option) *Client { return &Client{c: httpx.New(baseURL, opts...)} }

// IsNotFound reports whether err says the channel does not exist.
func IsNotFound(err error) bool { return httpx.StatusCode(err) == http.StatusNotFound }

// IsConflict reports whether err is an HTTP 409: the idempotency key was
// used for a different request (IsKeyReuse) or a channel name is taken.
// Permanent: never retry.
func IsConflict(err error) bool { return httpx.StatusCode(err) == http.StatusConflict }

// IsKeyReuse reports whether err says the idempotency key was already used
// with a different request.
func IsKeyReuse(err error) bool { return IsConflict(err) && httpx.Field(err) == "Idempotency-Key" }

// ListChannels lists the channels in creation order, only those of
// accountID when it is non-empty.
func (c *Client) ListChannels(ctx context.Context, accountID string) ([]Channel, error) {
	path := "/chat/channels"
	if accountID != "" {
		path += "?" + url.Values{"accountId": {accountID}}.Encode()
	}
	var list []Channel
	if err := c.c.Get(ctx, "chat.listChannels", path, &list); err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	return list, nil
}

// CreateChannel creates a channel once per idempotency key.
func (c *Client) CreateChannel(ctx context.Context, idempotencyKey string, req ChannelRequest) (Channel, error) {
	if err := httpx.Required("chat.createChannel", "Idempotency-Key", idempotencyKey); err != nil {
		return Channel{}, err
	}
	if err := httpx.Required("chat.createChannel", "name", req.Name); err != nil {
		return Channel{}, err
	}
	var ch Channel
	_, err := c.c.Do(ctx, httpx.Request{
		Op: "chat.createChannel " + req.Name, Method: http.MethodPost, Path: "/chat/channels",
		Header: http.Header{"Idempotency-Key": {idempotencyKey}}, Body: req,
	}, &ch)
	if err != nil {
		return Channel{}, fmt.Errorf("create channel %s: %w", req.Name, err)
	}
	return ch, nil
}

// Post posts text to channel as the bot, once per (channel, idempotency
// key): a retry with the same key returns the first message instead of
// posting again. Derive the key from the event, e.g. "<workflow id>:notify".
// threadID, when not empty, answers that message.
func (c *Client) Post(ctx context.Context, channel, idempotencyKey, text, threadID string) (Message, error) {
	if err := httpx.Required("chat.post", "Idempotency-Key", idempotencyKey); err != nil {
		return Message{}, err
	}
	return c.post(ctx, channel, idempotencyKey, PostRequest{Text: text, ThreadID: threadID})
}

// PostAs posts text to channel as the person with handle author (e.g.
// "@eli"), as tests and demos do to answer the bot. idempotencyKey may be
// empty: then every call posts anew.
func (c *Client) PostAs(ctx context.Context, channel, idempotencyKey, author, text string) (Message, error) {
	if err := httpx.Required("chat.post", "author", author); err != nil {
		return Message{}, err
	}
	return c.post(ctx, channel, idempotencyKey, PostRequest{Author: author, Text: text})
}

func (c *Client) post(ctx context.Context, channel, idempotencyKey string, req PostRequest) (Message, error) {
	if err := httpx.Required("chat.post", "channel", channel); err != nil {
		return Message{}, err
	}
	if err := httpx.Required("chat.post", "text", req.Text); err != nil {
		return Message{}, err
	}
	r := httpx.Request{Op: "chat.post " + channel, Method: http.MethodPost, Path: channelPath(channel) + "/messages", Body: req}
	if idempotencyKey != "" {
		r.Header = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	var m Message
	if _, err := c.c.Do(ctx, r, &m); err != nil {
		return Message{}, fmt.Errorf("post to %s: %w", channel, err)
	}
	return m, nil
}

// Messages lists channel's messages oldest first, only those after the
// message id after when it is non-empty (poll with the last id seen).
func (c *Client) Messages(ctx context.Context, channel, after string) ([]Message, error) {
	if err := httpx.Required("chat.listMessages", "channel", channel); err != nil {
		return nil, err
	}
	path := channelPath(channel) + "/messages"
	if after != "" {
		path += "?" + url.Values{"after": {after}}.Encode()
	}
	var list []Message
	if err := c.c.Get(ctx, "chat.listMessages "+channel, path, &list); err != nil {
		return nil, fmt.Errorf("read messages of %s: %w", channel, err)
	}
	return list, nil
}

// SetWebhook registers url to receive every human message, signed with
// secret (at least 16 bytes); registering it again replaces the secret.
func (c *Client) SetWebhook(ctx context.Context, req WebhookRequest) (Webhook, error) {
	if err := httpx.Required("chat.setWebhook", "url", req.URL); err != nil {
		return Webhook{}, err
	}
	if err := httpx.Required("chat.setWebhook", "secret", req.Secret); err != nil {
		return Webhook{}, err
	}
	var h Webhook
	_, err := c.c.Do(ctx, httpx.Request{
		Op: "chat.setWebhook", Method: http.MethodPost, Path: "/chat/webhooks", Body: req,
		Idempotent: true, // registering twice is registering once
	}, &h)
	if err != nil {
		return Webhook{}, fmt.Errorf("set webhook %s: %w", req.URL, err)
	}
	return h, nil
}

func channelPath(id string) string { return "/chat/channels/" + url.PathEscape(id) }
