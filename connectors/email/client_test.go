package email_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/internal/connectortest"
	"github.com/execution-orchestrator/orchestrator/sandbox"
)

func start(t *testing.T, faults map[string]sandbox.Fault) (*sandbox.Server, *email.Client) {
	s := connectortest.Start(t, faults, nil)
	c := email.New(s.SMTPAddr(), s.HTTPURL(),
		email.WithLogger(connectortest.Quiet()),
		email.WithClock(connectortest.Day0),
		email.WithTimeout(5*time.Second))
	return s, c
}

func message() email.Message {
	return email.Message{
		From:      "Payments Bot <payments@orchestrator.example>",
		To:        []string{"ap@acme.example"},
		Subject:   "Zahlung für INV-1042 veranlasst",
		Body:      "Hello,\n\nwe released 1 250.00 EUR for invoice INV-1042.\nA long line: " + "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\n",
		MessageID: "<vendor-payment-INV-1042.paid@orchestrator.example>",
	}
}

func TestSendAndLookup(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	ctx := context.Background()
	m := message()
	require.NoError(t, c.Send(ctx, m))
	require.NoError(t, c.Send(ctx, m), "resend is accepted")

	for _, id := range []string{m.MessageID, "vendor-payment-INV-1042.paid@orchestrator.example"} {
		got, err := c.Lookup(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, "vendor-payment-INV-1042.paid@orchestrator.example", got.MessageID)
		assert.Equal(t, "payments@orchestrator.example", got.From)
		assert.Equal(t, []string{"ap@acme.example"}, got.To)
		assert.Equal(t, m.Subject, got.Subject)
		assert.Equal(t, m.Body, got.Body)
		assert.True(t, got.ReceivedAt.Equal(connectortest.Day0()))
	}

	list, err := c.List(ctx, "ap@acme.example")
	require.NoError(t, err)
	assert.Len(t, list, 1, "same Message-ID stored once")
	list, err = c.List(ctx, "someone@else.example")
	require.NoError(t, err)
	assert.Empty(t, list)

	_, err = c.Lookup(ctx, "<unknown@x>")
	require.Error(t, err)
	assert.True(t, email.IsNotFound(err))
}

func TestSendValidation(t *testing.T) {
	t.Parallel()
	c := email.New("127.0.0.1:1", "http://127.0.0.1:1") // never reached
	tests := []struct {
		field string
		mut   func(*email.Message)
	}{
		{"messageId", func(m *email.Message) { m.MessageID = "" }},
		{"messageId", func(m *email.Message) { m.MessageID = "no-at-sign" }},
		{"from", func(m *email.Message) { m.From = "not an address" }},
		{"to", func(m *email.Message) { m.To = nil }},
		{"to[1]", func(m *email.Message) { m.To = append(m.To, "bad") }},
		{"subject", func(m *email.Message) { m.Subject = "a\r\nBcc: evil@example.com" }},
	}
	for _, tc := range tests {
		m := message()
		tc.mut(&m)
		err := c.Send(context.Background(), m)
		require.Error(t, err, tc.field)
		assert.True(t, email.IsPermanent(err))
		var he *httpx.Error
		require.ErrorAs(t, err, &he)
		assert.Equal(t, tc.field, he.Field)
	}
}

func TestSMTPFaults(t *testing.T) {
	t.Parallel()
	s, c := start(t, map[string]sandbox.Fault{sandbox.EndpointMailSMTP: {ErrorRate: 1}})
	ctx := context.Background()
	err := c.Send(ctx, message())
	require.Error(t, err)
	assert.False(t, email.IsPermanent(err), "451 is try-again: %v", err)
	_, err = c.Lookup(ctx, message().MessageID)
	assert.True(t, email.IsNotFound(err), "refused before storing")

	// Lost acknowledgement: stored, caller sees a failure, resend is harmless.
	require.NoError(t, s.SetFaults(map[string]sandbox.Fault{sandbox.EndpointMailSMTP: {ErrorRate: 1, AfterEffect: true}}))
	require.Error(t, c.Send(ctx, message()))
	require.NoError(t, s.SetFaults(nil))
	require.NoError(t, c.Send(ctx, message()))
	list, err := c.List(ctx, "")
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

func TestSMTPDown(t *testing.T) {
	t.Parallel()
	c := email.New("127.0.0.1:1", "http://127.0.0.1:1", email.WithTimeout(2*time.Second))
	err := c.Send(context.Background(), message())
	require.Error(t, err)
	assert.False(t, email.IsPermanent(err))
}
