package sandbox_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/chat"
	"github.com/execution-orchestrator/orchestrator/sandbox"
)

func decodeMessage(t *testing.T, a answer) chat.Message {
	t.Helper()
	var m chat.Message
	a.decode(t, &m)
	return m
}

func messages(t *testing.T, s *sandbox.Server, channel, query string) []chat.Message {
	t.Helper()
	a := call(t, s, "GET", "/chat/channels/"+channel+"/messages"+query, nil, "")
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var list []chat.Message
	a.decode(t, &list)
	return list
}

func TestChatSeed(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	var list []chat.Channel
	call(t, s, "GET", "/chat/channels", nil, "").decode(t, &list)
	assert.Equal(t, sandbox.SeedChannels(day0), list)
	call(t, s, "GET", "/chat/channels?accountId="+sandbox.AccountGlobex, nil, "").decode(t, &list)
	assert.Equal(t, []chat.Channel{{ID: sandbox.ChannelGlobex, Name: "#acct-globex", AccountID: sandbox.AccountGlobex, CreatedAt: day0}}, list)
	assert.Equal(t, sandbox.SeedMessages(day0), messages(t, s, sandbox.ChannelGlobex, ""))
	assert.Empty(t, messages(t, s, sandbox.ChannelInitech, ""))
	assert.Contains(t, sandbox.SeedChatHandles(), "@eli")
}

func TestChatPostIdempotency(t *testing.T) {
	t.Parallel()
	onEngines(t, nil, func(t *testing.T, s *sandbox.Server, clk *clock) {
		post := func(channel, key, body string) answer {
			clk.Advance(time.Second)
			h := map[string]string{}
			if key != "" {
				h["Idempotency-Key"] = key
			}
			return call(t, s, "POST", "/chat/channels/"+channel+"/messages", h, body)
		}
		text := `{"text":"ESC-1: Globex checkout down (TCK-SUP-1). Reply ack ESC-1"}`
		a := post(sandbox.ChannelGlobex, "", text)
		require.Equal(t, http.StatusBadRequest, a.status)
		_, field := a.apiError(t)
		assert.Equal(t, "Idempotency-Key", field)

		a = post(sandbox.ChannelGlobex, "esc-1:notify", text)
		require.Equal(t, http.StatusCreated, a.status, string(a.body))
		first := decodeMessage(t, a)
		assert.Equal(t, chat.Message{ID: "MSG-2", Channel: sandbox.ChannelGlobex, Author: chat.BotHandle, Bot: true,
			Text: "ESC-1: Globex checkout down (TCK-SUP-1). Reply ack ESC-1", At: day0.Add(2 * time.Second), IdempotencyKey: "esc-1:notify"}, first)

		a = post(sandbox.ChannelGlobex, "esc-1:notify", text)
		require.Equal(t, http.StatusOK, a.status)
		assert.Equal(t, "true", a.header("Idempotent-Replayed"))
		assert.Equal(t, first, decodeMessage(t, a))
		a = post(sandbox.ChannelGlobex, "esc-1:notify", `{"text":"something else"}`)
		require.Equal(t, http.StatusConflict, a.status)
		_, field = a.apiError(t)
		assert.Equal(t, "Idempotency-Key", field)
		a = post(sandbox.ChannelGlobex, "esc-1:notify", `{"text":"ESC-1: Globex checkout down (TCK-SUP-1). Reply ack ESC-1","author":"@orchestrator"}`)
		assert.Equal(t, http.StatusOK, a.status, "the bot's handle is the bot")

		// Keys are scoped to the channel.
		a = post(sandbox.ChannelEngOncall, "esc-1:notify", text)
		require.Equal(t, http.StatusCreated, a.status)
		assert.Equal(t, "MSG-3", decodeMessage(t, a).ID)

		// People post without a key, each post anew; handles are case-insensitive.
		for range 2 {
			a = post(sandbox.ChannelGlobex, "", `{"author":"@Eli","text":"ack ESC-1","threadId":"MSG-2"}`)
			require.Equal(t, http.StatusCreated, a.status, string(a.body))
			m := decodeMessage(t, a)
			assert.Equal(t, "@eli", m.Author)
			assert.False(t, m.Bot)
			assert.Equal(t, "MSG-2", m.ThreadID)
		}
		// A person's keyed post is idempotent too.
		require.Equal(t, http.StatusCreated, post(sandbox.ChannelGlobex, "h1", `{"author":"@noor","text":"on it"}`).status)
		require.Equal(t, http.StatusOK, post(sandbox.ChannelGlobex, "h1", `{"author":"@noor","text":"on it"}`).status)

		var bots, humans int
		for _, m := range messages(t, s, sandbox.ChannelGlobex, "") {
			if m.Bot {
				bots++
			} else {
				humans++
			}
		}
		assert.Equal(t, 1, bots, "one bot post per key")
		assert.Equal(t, 4, humans, "seed + 2 acks + 1 keyed")

		for _, tc := range []struct {
			name, channel, key, body string
			status                   int
			field                    string
		}{
			{"unknown channel", "nope", "k", text, 404, ""},
			{"bad handle", sandbox.ChannelGlobex, "", `{"author":"eli","text":"x"}`, 400, "author"},
			{"no text", sandbox.ChannelGlobex, "k2", `{"text":""}`, 400, "text"},
			{"foreign thread", sandbox.ChannelGlobex, "k3", `{"text":"x","threadId":"MSG-3"}`, 400, "threadId"},
			{"unknown field", sandbox.ChannelGlobex, "k4", `{"text":"x","channel":"y"}`, 400, "channel"},
		} {
			a := post(tc.channel, tc.key, tc.body)
			require.Equal(t, tc.status, a.status, "%s: %s", tc.name, a.body)
			_, field := a.apiError(t)
			assert.Equal(t, tc.field, field, tc.name)
		}
	})
}

func TestChatListAfter(t *testing.T) {
	t.Parallel()
	s, clk := start(t, nil)
	var ids []string
	for i := range 3 {
		clk.Advance(time.Minute)
		a := call(t, s, "POST", "/chat/channels/"+sandbox.ChannelInitech+"/messages", nil, `{"author":"@vera","text":"m`+string(rune('0'+i))+`"}`)
		require.Equal(t, http.StatusCreated, a.status)
		ids = append(ids, decodeMessage(t, a).ID)
	}
	assert.Len(t, messages(t, s, sandbox.ChannelInitech, ""), 3)
	got := messages(t, s, sandbox.ChannelInitech, "?after="+ids[0])
	require.Len(t, got, 2)
	assert.Equal(t, ids[1:], []string{got[0].ID, got[1].ID})
	assert.Empty(t, messages(t, s, sandbox.ChannelInitech, "?after="+ids[2]))
	// Another channel's id works too: ids are ordered across channels.
	assert.Len(t, messages(t, s, sandbox.ChannelInitech, "?after=MSG-1"), 3)
	got = messages(t, s, sandbox.ChannelInitech, "?after="+day0.Add(90*time.Second).Format(time.RFC3339))
	assert.Len(t, got, 2)
	assert.Equal(t, http.StatusBadRequest, call(t, s, "GET", "/chat/channels/"+sandbox.ChannelInitech+"/messages?after=yesterday", nil, "").status)
	assert.Equal(t, http.StatusNotFound, call(t, s, "GET", "/chat/channels/nope/messages", nil, "").status)
}

func TestChatCreateChannel(t *testing.T) {
	t.Parallel()
	onEngines(t, nil, func(t *testing.T, s *sandbox.Server, _ *clock) {
		create := func(key, body string) answer { return call(t, s, "POST", "/chat/channels", keyed(key), body) }
		a := create("c1", `{"name":"#esc-globex-1","accountId":"ACC-GLOBEX"}`)
		require.Equal(t, http.StatusCreated, a.status, string(a.body))
		var ch chat.Channel
		a.decode(t, &ch)
		assert.Equal(t, chat.Channel{ID: "esc-globex-1", Name: "#esc-globex-1", AccountID: sandbox.AccountGlobex, IdempotencyKey: "c1", CreatedAt: day0}, ch)
		a = create("c1", `{"name":"esc-globex-1","accountId":"ACC-GLOBEX"}`)
		assert.Equal(t, http.StatusOK, a.status, "the '#' is optional")
		a = create("c1", `{"name":"esc-globex-2"}`)
		assert.Equal(t, http.StatusConflict, a.status)
		a = create("c2", `{"name":"#esc-globex-1"}`)
		require.Equal(t, http.StatusConflict, a.status)
		_, field := a.apiError(t)
		assert.Equal(t, "name", field)
		a = create("c3", `{"name":"Bad Name"}`)
		assert.Equal(t, http.StatusBadRequest, a.status)
		assert.Equal(t, http.StatusBadRequest, call(t, s, "POST", "/chat/channels", nil, `{"name":"x"}`).status)
		var list []chat.Channel
		call(t, s, "GET", "/chat/channels?accountId=ACC-GLOBEX", nil, "").decode(t, &list)
		assert.Len(t, list, 2)
	})
}

// receiver records webhook deliveries, failing the first fail of them.
type receiver struct {
	mu        sync.Mutex
	fail      int
	status    int // answer to failed attempts
	attempts  int
	delivered []delivery
	got       chan struct{}
}

type delivery struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, fail, status int) (*receiver, *httptest.Server) {
	rc := &receiver{fail: fail, status: status, got: make(chan struct{}, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.attempts++
		failing := rc.attempts <= rc.fail
		if !failing {
			rc.delivered = append(rc.delivered, delivery{header: r.Header.Clone(), body: body})
		}
		rc.mu.Unlock()
		if failing {
			w.WriteHeader(rc.status)
			if rc.status < 500 {
				rc.got <- struct{}{}
			}
			return
		}
		rc.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return rc, srv
}

func (rc *receiver) wait(t *testing.T) {
	t.Helper()
	select {
	case <-rc.got:
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook delivery")
	}
}

func TestChatWebhookDelivery(t *testing.T) {
	t.Parallel()
	onEngines(t, nil, func(t *testing.T, s *sandbox.Server, _ *clock) {
		const secret = "0123456789abcdef-secret"
		rc, srv := newReceiver(t, 2, http.StatusInternalServerError)
		a := call(t, s, "POST", "/chat/webhooks", nil, jsonBody(chat.WebhookRequest{URL: srv.URL + "/hook", Secret: secret}))
		require.Equal(t, http.StatusCreated, a.status, string(a.body))
		a = call(t, s, "POST", "/chat/webhooks", nil, jsonBody(chat.WebhookRequest{URL: srv.URL + "/hook", Secret: secret}))
		require.Equal(t, http.StatusOK, a.status, "registering again replaces the secret")
		a = call(t, s, "GET", "/chat/webhooks", nil, "")
		assert.NotContains(t, string(a.body), secret)
		var hooks []chat.Webhook
		a.decode(t, &hooks)
		require.Len(t, hooks, 1)

		// The bot's post is not delivered; the person's is, after two failures.
		require.Equal(t, http.StatusCreated, call(t, s, "POST", "/chat/channels/"+sandbox.ChannelGlobex+"/messages", keyed("b"), `{"text":"ESC-1 ..."}`).status)
		a = call(t, s, "POST", "/chat/channels/"+sandbox.ChannelGlobex+"/messages", nil, `{"author":"@eli","text":"ack ESC-1"}`)
		require.Equal(t, http.StatusCreated, a.status)
		msg := decodeMessage(t, a)
		rc.wait(t)

		rc.mu.Lock()
		defer rc.mu.Unlock()
		assert.Equal(t, 3, rc.attempts, "retried after two 500s")
		require.Len(t, rc.delivered, 1)
		d := rc.delivered[0]
		require.NoError(t, chat.VerifyWebhook(secret, d.header, d.body, time.Now()))
		assert.ErrorIs(t, chat.VerifyWebhook("another-secret-0123", d.header, d.body, time.Now()), chat.ErrBadSignature)
		assert.Equal(t, msg.ID, d.header.Get(chat.HeaderDelivery))
		ev, err := chat.DecodeWebhook(d.body)
		require.NoError(t, err)
		assert.Equal(t, chat.WebhookEvent{Type: chat.EventMessage, Message: msg}, ev)
	})
}

func TestChatWebhookRefusalAndFaults(t *testing.T) {
	t.Parallel()
	s, _ := start(t, func(c *sandbox.Config) { c.Rand = func() float64 { return 0 } })
	rc, srv := newReceiver(t, 1, http.StatusUnauthorized)
	require.Equal(t, http.StatusCreated, call(t, s, "POST", "/chat/webhooks", nil,
		jsonBody(chat.WebhookRequest{URL: srv.URL, Secret: "0123456789abcdef"})).status)
	require.Equal(t, http.StatusCreated, call(t, s, "POST", "/chat/channels/"+sandbox.ChannelGlobex+"/messages", nil, `{"author":"@eli","text":"hi"}`).status)
	rc.wait(t)
	time.Sleep(300 * time.Millisecond)
	rc.mu.Lock()
	assert.Equal(t, 1, rc.attempts, "a 4xx refusal is not retried")
	rc.mu.Unlock()

	for _, tc := range []struct{ body, field string }{
		{`{"url":"ftp://x","secret":"0123456789abcdef"}`, "url"},
		{`{"url":"/relative","secret":"0123456789abcdef"}`, "url"},
		{`{"url":"http://127.0.0.1:1/x","secret":"short"}`, "secret"},
	} {
		a := call(t, s, "POST", "/chat/webhooks", nil, tc.body)
		require.Equal(t, http.StatusBadRequest, a.status, tc.body)
		_, field := a.apiError(t)
		assert.Equal(t, tc.field, field)
	}

	for ep, req := range map[string]func() answer{
		sandbox.EndpointChatPost: func() answer {
			return call(t, s, "POST", "/chat/channels/"+sandbox.ChannelGlobex+"/messages", keyed("k"), `{"text":"x"}`)
		},
		sandbox.EndpointChatListMessages:  func() answer { return call(t, s, "GET", "/chat/channels/"+sandbox.ChannelGlobex+"/messages", nil, "") },
		sandbox.EndpointChatListChannels:  func() answer { return call(t, s, "GET", "/chat/channels", nil, "") },
		sandbox.EndpointChatCreateChannel: func() answer { return call(t, s, "POST", "/chat/channels", keyed("k"), `{"name":"x"}`) },
		sandbox.EndpointChatSetWebhook:    func() answer { return call(t, s, "POST", "/chat/webhooks", nil, `{}`) },
		sandbox.EndpointChatListWebhooks:  func() answer { return call(t, s, "GET", "/chat/webhooks", nil, "") },
	} {
		require.NoError(t, s.SetFaults(map[string]sandbox.Fault{ep: {ErrorRate: 1}}))
		assert.Equal(t, http.StatusServiceUnavailable, req().status, ep)
	}
	require.NoError(t, s.SetFaults(nil))
	for _, m := range messages(t, s, sandbox.ChannelGlobex, "") {
		assert.False(t, m.Bot, "the faulted post made nothing")
	}

}

// Injected delivery faults fail attempts before sending; a retry gets through.
func TestChatWebhookDeliveryFault(t *testing.T) {
	t.Parallel()
	var rolls atomic.Int32
	s, _ := start(t, func(c *sandbox.Config) {
		c.Rand = func() float64 {
			if rolls.Add(1) <= 2 {
				return 0
			}
			return 0.99
		}
		c.Faults = map[string]sandbox.Fault{sandbox.EndpointChatWebhookDelivery: {ErrorRate: 0.5}}
	})
	rc, srv := newReceiver(t, 0, 0)
	require.Equal(t, http.StatusCreated, call(t, s, "POST", "/chat/webhooks", nil,
		jsonBody(chat.WebhookRequest{URL: srv.URL, Secret: "0123456789abcdef"})).status)
	require.Equal(t, http.StatusCreated, call(t, s, "POST", "/chat/channels/"+sandbox.ChannelGlobex+"/messages", nil, `{"author":"@eli","text":"hi"}`).status)
	rc.wait(t)
	assert.Equal(t, int32(3), rolls.Load(), "two failed attempts, then the delivery")
	rc.mu.Lock()
	defer rc.mu.Unlock()
	assert.Equal(t, 1, rc.attempts, "failed attempts never reached the receiver")
}
