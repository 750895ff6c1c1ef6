// Package chat is the connector to the team chat system (think Slack):
// channels, messages posted by the orchestrator's bot and by people, and the
// two ways people answer the bot: a signed webhook the chat system calls for
// every human message (VerifyWebhook) and a command syntax read from the
// message text (ParseCommand). Every bot post carries an Idempotency-Key, so
// a retried post appears once; the wire format is in sandbox/openapi.yaml.
package chat

import "time"

// BotHandle is the author of the orchestrator's own posts.
const BotHandle = "@orchestrator"

// Channel is a chat channel. AccountID ties an account channel
// ("#acct-globex") to its CRM account.
type Channel struct {
	ID             string    `json:"id"`   // the name without '#', e.g. "acct-globex"
	Name           string    `json:"name"` // e.g. "#acct-globex"
	AccountID      string    `json:"accountId,omitempty"`
	IdempotencyKey string    `json:"idempotencyKey,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
}

// ChannelRequest asks for a channel.
type ChannelRequest struct {
	Name      string `json:"name"` // "#acct-globex" or "acct-globex"
	AccountID string `json:"accountId,omitempty"`
}

// Message is one chat message.
type Message struct {
	ID             string    `json:"id"` // "MSG-<n>", increasing in posting order
	Channel        string    `json:"channel"`
	Author         string    `json:"author"` // a handle, e.g. "@eli"; BotHandle for bot posts
	Text           string    `json:"text"`
	At             time.Time `json:"at"`
	ThreadID       string    `json:"threadId,omitempty"` // the message this one answers
	Bot            bool      `json:"bot,omitempty"`
	IdempotencyKey string    `json:"idempotencyKey,omitempty"`
}

// PostRequest is a message to post. Without Author the bot posts (an
// Idempotency-Key is then required); with Author a person posts.
type PostRequest struct {
	Author   string `json:"author,omitempty"`
	Text     string `json:"text"`
	ThreadID string `json:"threadId,omitempty"`
}

// Webhook is a registered receiver of human messages.
type Webhook struct {
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"createdAt"`
}

// WebhookRequest registers url to receive every human message, signed with
// secret.
type WebhookRequest struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// WebhookEvent is the body of a webhook delivery.
type WebhookEvent struct {
	Type    string  `json:"type"` // EventMessage
	Message Message `json:"message"`
}

// EventMessage is the type of the event delivered for a human message.
const EventMessage = "message"
