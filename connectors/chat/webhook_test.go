package chat_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/chat"
)

const secret = "0123456789abcdef-webhook"

func signed(ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set(chat.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(chat.HeaderSignature, sig)
	return h
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)
	body := []byte(`{"type":"message","message":{"id":"MSG-2","channel":"acct-globex","author":"@eli","text":"ack ESC-1","at":"2026-03-10T09:29:58Z"}}`)
	sentAt := now.Add(-2 * time.Second)
	good := signed(sentAt, chat.SignWebhook(secret, sentAt, body))
	big := make([]byte, chat.MaxWebhookBody+1)
	earlier := now.Add(-time.Minute)
	tests := []struct {
		name   string
		secret string
		header http.Header
		body   []byte
		want   error
	}{
		{"valid", secret, good, body, nil},
		{"forged: other secret", secret, signed(sentAt, chat.SignWebhook("someone-elses-secret", sentAt, body)), body, chat.ErrBadSignature},
		{"tampered body", secret, good, []byte(strings.Replace(string(body), "@eli", "@sam", 1)), chat.ErrBadSignature},
		{"replayed body under another timestamp", secret, signed(now, chat.SignWebhook(secret, earlier, body)), body, chat.ErrBadSignature},
		{"stale", secret, signed(now.Add(-6*time.Minute), chat.SignWebhook(secret, now.Add(-6*time.Minute), body)), body, chat.ErrStaleTimestamp},
		{"from the future", secret, signed(now.Add(6*time.Minute), chat.SignWebhook(secret, now.Add(6*time.Minute), body)), body, chat.ErrStaleTimestamp},
		{"just within tolerance", secret, signed(now.Add(-5*time.Minute), chat.SignWebhook(secret, now.Add(-5*time.Minute), body)), body, nil},
		{"oversized body", secret, signed(sentAt, chat.SignWebhook(secret, sentAt, big)), big, chat.ErrBodyTooLarge},
		{"no signature", secret, http.Header{chat.HeaderTimestamp: {strconv.FormatInt(sentAt.Unix(), 10)}}, body, chat.ErrMissingSignature},
		{"no timestamp", secret, http.Header{chat.HeaderSignature: {chat.SignWebhook(secret, sentAt, body)}}, body, chat.ErrMissingSignature},
		{"malformed timestamp", secret, http.Header{chat.HeaderTimestamp: {"yesterday"}, chat.HeaderSignature: {"sha256=00"}}, body, chat.ErrBadTimestamp},
		{"other algorithm", secret, signed(sentAt, strings.Replace(chat.SignWebhook(secret, sentAt, body), "sha256=", "sha1=", 1)), body, chat.ErrBadSignature},
		{"not hex", secret, signed(sentAt, "sha256=zz"), body, chat.ErrBadSignature},
		{"empty signature", secret, signed(sentAt, "sha256="), body, chat.ErrBadSignature},
	}
	for _, tc := range tests {
		err := chat.VerifyWebhook(tc.secret, tc.header, tc.body, now)
		if tc.want == nil {
			assert.NoError(t, err, tc.name)
		} else {
			assert.ErrorIs(t, err, tc.want, tc.name)
		}
	}
	assert.Error(t, chat.VerifyWebhook("", good, body, now), "no secret configured refuses everything")
}

func TestDecodeWebhook(t *testing.T) {
	t.Parallel()
	ev, err := chat.DecodeWebhook([]byte(`{"type":"message","message":{"id":"MSG-2","channel":"c","author":"@eli","text":"ack ESC-1","at":"2026-03-10T09:29:58Z"}}`))
	require.NoError(t, err)
	assert.Equal(t, "MSG-2", ev.Message.ID)
	_, err = chat.DecodeWebhook([]byte(`{"type":"reaction"}`))
	assert.Error(t, err)
	_, err = chat.DecodeWebhook([]byte(`nope`))
	assert.Error(t, err)
}
