// Package email is the connector that sends mail over SMTP and reads delivery
// state back from the mail system's HTTP API.
package email

import "time"

// Message is an email to send.
type Message struct {
	From    string   `json:"from"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Body    string   `json:"body"`
	// MessageID is the RFC 5322 Message-ID; callers derive it from a stable
	// identity so a retried send can be recognised as the same message.
	MessageID string `json:"messageId"`
}

// StoredMessage is a message the mail system accepted.
type StoredMessage struct {
	MessageID  string    `json:"messageId"`
	From       string    `json:"from"`
	To         []string  `json:"to"`
	Subject    string    `json:"subject"`
	Body       string    `json:"body"`
	ReceivedAt time.Time `json:"receivedAt"`
}
