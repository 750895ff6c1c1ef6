package chat_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/chat"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/internal/connectortest"
	"github.com/execution-orchestrator/orchestrator/sandbox"
)

var quiet = httpx.WithLogger(connectortest.Quiet())

func TestPostIdempotent(t *testing.T) {
	t.Parallel()
	s := connectortest.Start(t, nil, nil)
	c := chat.New(s.HTTPURL(), quiet)
	ctx := context.Background()

	chans, err := c.ListChannels(ctx, sandbox.AccountGlobex)
	require.NoError(t, err)
	require.Len(t, chans, 1)
	ch := chans[0].ID

	m, err := c.Post(ctx, ch, "esc-1:notify", "ESC-1: checkout down. Reply ack ESC-1", "")
	require.NoError(t, err)
	assert.True(t, m.Bot)
	assert.Equal(t, chat.BotHandle, m.Author)
	again, err := c.Post(ctx, ch, "esc-1:notify", "ESC-1: checkout down. Reply ack ESC-1", "")
	require.NoError(t, err)
	assert.Equal(t, m, again)
	_, err = c.Post(ctx, ch, "esc-1:notify", "different", "")
	require.Error(t, err)
	assert.True(t, chat.IsKeyReuse(err))
	assert.True(t, httpx.IsPermanent(err))

	reply, err := c.PostAs(ctx, ch, "", "@eli", "ack ESC-1")
	require.NoError(t, err)
	list, err := c.Messages(ctx, ch, m.ID)
	require.NoError(t, err)
	assert.Equal(t, []chat.Message{reply}, list)
	cmd, ok := chat.ParseCommand(list[0].Text)
	require.True(t, ok)
	assert.Equal(t, chat.Command{Verb: chat.VerbAck, Ref: "ESC-1"}, cmd)

	_, err = c.Post(ctx, "nope", "k", "x", "")
	assert.True(t, chat.IsNotFound(err))

	created, err := c.CreateChannel(ctx, "ch-1", chat.ChannelRequest{Name: "#esc-1", AccountID: sandbox.AccountGlobex})
	require.NoError(t, err)
	assert.Equal(t, "esc-1", created.ID)
	_, err = c.CreateChannel(ctx, "ch-2", chat.ChannelRequest{Name: "#esc-1"})
	assert.True(t, chat.IsConflict(err))
	assert.False(t, chat.IsKeyReuse(err))

	for _, tc := range []struct {
		name  string
		err   error
		field string
	}{
		{"post no key", func() error { _, err := c.Post(ctx, ch, "", "x", ""); return err }(), "Idempotency-Key"},
		{"post no text", func() error { _, err := c.Post(ctx, ch, "k", "", ""); return err }(), "text"},
		{"post no channel", func() error { _, err := c.Post(ctx, "", "k", "x", ""); return err }(), "channel"},
		{"postAs bad handle", func() error { _, err := c.PostAs(ctx, ch, "", "eli", "x"); return err }(), "author"},
		{"foreign thread", func() error { _, err := c.Post(ctx, ch, "k2", "x", "MSG-999"); return err }(), "threadId"},
		{"webhook no secret", func() error {
			_, err := c.SetWebhook(ctx, chat.WebhookRequest{URL: "http://127.0.0.1:1/x"})
			return err
		}(), "secret"},
	} {
		require.Error(t, tc.err, tc.name)
		assert.True(t, httpx.IsPermanent(tc.err), tc.name)
		assert.Equal(t, tc.field, httpx.Field(tc.err), tc.name)
	}
}

// End to end: a person's reply reaches a receiver that verifies it with
// VerifyWebhook and reads the command.
func TestWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "layer-webhook-secret-0123"
	got := make(chan chat.Command, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, chat.MaxWebhookBody+1))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := chat.VerifyWebhook(secret, r.Header, body, time.Now()); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ev, err := chat.DecodeWebhook(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if cmd, ok := chat.ParseCommand(ev.Message.Text); ok {
			got <- cmd
		}
	}))
	t.Cleanup(srv.Close)
	s := connectortest.Start(t, nil, nil)
	c := chat.New(s.HTTPURL(), quiet)
	ctx := context.Background()
	_, err := c.SetWebhook(ctx, chat.WebhookRequest{URL: srv.URL, Secret: secret})
	require.NoError(t, err)
	_, err = c.PostAs(ctx, sandbox.ChannelGlobex, "", "@noor", "reassign ESC-1 @eli")
	require.NoError(t, err)
	select {
	case cmd := <-got:
		assert.Equal(t, chat.Command{Verb: chat.VerbReassign, Ref: "ESC-1", Handle: "@eli"}, cmd)
	case <-time.After(5 * time.Second):
		t.Fatal("no verified delivery")
	}
}
