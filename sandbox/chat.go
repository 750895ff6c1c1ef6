package sandbox

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/execution-orchestrator/orchestrator/connectors/chat"
)

// channelRE is a channel name without its '#': lower-case letters, digits,
// '-' and '_', starting with a letter or digit.
var channelRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,79}$`)

// Webhook delivery: an attempt after each pause (the first at once), each
// bounded by webhookTimeout. A 2xx answer ends it; a 4xx other than 408/429
// is a refusal and ends it too.
var (
	webhookBackoff = []time.Duration{0, 100 * time.Millisecond, 400 * time.Millisecond, 1600 * time.Millisecond, 5 * time.Second}
	webhookTimeout = 5 * time.Second
)

// conflictError is a 409 naming a field other than the Idempotency-Key.
type conflictError struct{ field, msg string }

func (e conflictError) Error() string { return e.msg }

func (s *Server) failChat(w http.ResponseWriter, r *http.Request, err error, what string) {
	var ce conflictError
	switch {
	case errors.As(err, &ce):
		writeError(w, http.StatusConflict, ce.msg, ce.field)
	case errors.Is(err, errKeyReuse):
		writeKeyReuse(w)
	default:
		s.fail(w, r, err, what)
	}
}

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) {
	list, err := s.store.listChannels(r.Context(), r.URL.Query().Get("accountId"))
	if err != nil {
		s.failChat(w, r, err, "channel")
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) createChannel(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req chat.ChannelRequest
	if err := decode(r, &req); err != nil {
		s.failChat(w, r, err, "channel")
		return
	}
	req.Name = strings.TrimPrefix(req.Name, "#")
	var err error
	if !channelRE.MatchString(req.Name) {
		err = fieldError{field: "name", msg: "name must be lower-case letters, digits, - and _ (e.g. #acct-globex)"}
	} else {
		err = maxLen("accountId", req.AccountID, maxName)
	}
	if err != nil {
		s.failChat(w, r, err, "channel")
		return
	}
	now := s.now().UTC()
	s.writeMu.Lock()
	replay, err := s.store.once(r.Context(), "chat.createChannel", key, contentHash(req), now, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(r.Context(), s.store.q(`SELECT COUNT(*) FROM sandbox_chat_channels WHERE id = ?`), req.Name).Scan(&n); err != nil {
			return fmt.Errorf("find channel %s: %w", req.Name, err)
		}
		if n > 0 {
			return conflictError{field: "name", msg: "channel #" + req.Name + " already exists"}
		}
		return s.store.putChannel(r.Context(), tx, chat.Channel{ID: req.Name, Name: "#" + req.Name, AccountID: req.AccountID,
			IdempotencyKey: key, CreatedAt: now})
	})
	s.writeMu.Unlock()
	if err != nil {
		s.failChat(w, r, err, "channel")
		return
	}
	c, err := s.store.channelByKey(r.Context(), key)
	if err != nil {
		s.failChat(w, r, err, "channel")
		return
	}
	writeJSON(w, keyedStatus(w, replay, http.StatusCreated, http.StatusOK), c)
}

// postMessage posts as the bot (no author, or chat.BotHandle; an
// Idempotency-Key is required) or as a person (author is their handle; the
// key is optional). A new human message goes to every webhook.
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	channel := r.PathValue("id")
	var req chat.PostRequest
	if err := decode(r, &req); err != nil {
		s.failChat(w, r, err, "channel")
		return
	}
	req.Author = strings.ToLower(strings.TrimSpace(req.Author))
	bot := req.Author == "" || req.Author == chat.BotHandle
	if bot {
		req.Author = chat.BotHandle
	}
	key := r.Header.Get("Idempotency-Key")
	var err error
	switch {
	case bot && key == "":
		err = fieldError{field: "Idempotency-Key", msg: "Idempotency-Key header is required for bot posts"}
	case !chat.ValidHandle(req.Author):
		err = fieldError{field: "author", msg: "author must be a handle: @ and lower-case letters, digits, . _ - (e.g. @eli)"}
	default:
		err = firstFieldError(errors.Join(required("text", req.Text), maxLen("text", req.Text, maxText)))
	}
	if err != nil {
		s.failChat(w, r, err, "channel")
		return
	}
	ctx := r.Context()
	now := s.now().UTC()
	apply := func(tx *sql.Tx) error {
		if err := s.store.channelExists(ctx, tx, channel); err != nil {
			return err
		}
		if req.ThreadID != "" {
			var n int
			if err := tx.QueryRowContext(ctx, s.store.q(`SELECT COUNT(*) FROM sandbox_chat_messages WHERE id = ? AND channel_id = ?`),
				req.ThreadID, channel).Scan(&n); err != nil {
				return fmt.Errorf("find thread %s: %w", req.ThreadID, err)
			}
			if n == 0 {
				return fieldError{field: "threadId", msg: "threadId must be a message of this channel"}
			}
		}
		seq, err := s.store.nextSeq(ctx, tx, "sandbox_chat_messages", "")
		if err != nil {
			return err
		}
		m := chat.Message{ID: "MSG-" + strconv.FormatInt(seq, 10), Channel: channel, Author: req.Author, Text: req.Text,
			At: now, ThreadID: req.ThreadID, Bot: bot, IdempotencyKey: key}
		return s.store.insertMessage(ctx, tx, m, seq)
	}
	s.writeMu.Lock()
	var replay bool
	if key != "" {
		replay, err = s.store.once(ctx, "chat.post:"+channel, key, contentHash(req), now, apply)
	} else {
		err = s.store.inTx(ctx, apply)
	}
	var m chat.Message
	if err == nil {
		// Read under the lock: without a key, the newest message is ours.
		m, err = s.store.postedMessage(ctx, channel, key)
	}
	s.writeMu.Unlock()
	if err != nil {
		s.failChat(w, r, err, "channel")
		return
	}
	if !replay && !bot {
		s.notifyWebhooks(m)
	}
	writeJSON(w, keyedStatus(w, replay, http.StatusCreated, http.StatusOK), m)
}

// listMessages lists a channel's messages oldest first; after (a message id,
// or an RFC 3339 time) keeps only those posted after it.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	ctx, channel := r.Context(), r.PathValue("id")
	if _, err := s.store.getChannel(ctx, channel); err != nil {
		s.failChat(w, r, err, "channel")
		return
	}
	var afterSeq int64
	var afterAt string
	if after := r.URL.Query().Get("after"); after != "" {
		if t, err := time.Parse(time.RFC3339Nano, after); err == nil {
			afterAt = formatStoreTime(t)
		} else {
			seq, err := s.store.messageSeq(ctx, after)
			if errors.Is(err, errNotFound) {
				err = fieldError{field: "after", msg: "after must be a message id (MSG-…) or an RFC 3339 time"}
			}
			if err != nil {
				s.failChat(w, r, err, "message")
				return
			}
			afterSeq = seq
		}
	}
	list, err := s.store.listMessages(ctx, channel, afterSeq, afterAt)
	if err != nil {
		s.failChat(w, r, err, "message")
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) setWebhook(w http.ResponseWriter, r *http.Request) {
	var req chat.WebhookRequest
	if err := decode(r, &req); err != nil {
		s.failChat(w, r, err, "webhook")
		return
	}
	u, perr := url.Parse(req.URL)
	var err error
	switch {
	case perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		err = fieldError{field: "url", msg: "url must be an absolute http or https URL"}
	case len(req.Secret) < 16:
		err = fieldError{field: "secret", msg: "secret must be at least 16 bytes"}
	}
	if err != nil {
		s.failChat(w, r, err, "webhook")
		return
	}
	created, err := s.store.putWebhook(r.Context(), req, s.now().UTC())
	if err != nil {
		s.failChat(w, r, err, "webhook")
		return
	}
	hooks, err := s.store.listWebhooks(r.Context())
	if err != nil {
		s.failChat(w, r, err, "webhook")
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	for _, h := range hooks {
		if h.URL == req.URL {
			writeJSON(w, status, chat.Webhook{URL: h.URL, CreatedAt: h.CreatedAt})
			return
		}
	}
	s.failChat(w, r, errNotFound, "webhook")
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	hooks, err := s.store.listWebhooks(r.Context())
	if err != nil {
		s.failChat(w, r, err, "webhook")
		return
	}
	out := make([]chat.Webhook, 0, len(hooks))
	for _, h := range hooks {
		out = append(out, chat.Webhook{URL: h.URL, CreatedAt: h.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
}

// notifyWebhooks delivers m to every webhook in the background.
func (s *Server) notifyWebhooks(m chat.Message) {
	hooks, err := s.store.listWebhooks(context.Background())
	if err != nil {
		s.log.Error("sandbox chat webhooks unreadable", "err", err)
		return
	}
	if len(hooks) == 0 {
		return
	}
	body, err := json.Marshal(chat.WebhookEvent{Type: chat.EventMessage, Message: m})
	if err != nil {
		s.log.Error("sandbox chat webhook body", "err", err)
		return
	}
	for _, h := range hooks {
		go s.deliver(h, m.ID, body)
	}
}

// deliver sends body to h, retrying per webhookBackoff until an answer is
// 2xx, a 4xx refusal, or the sandbox stops. Every attempt is signed anew
// with the wall-clock time (not the sandbox's configured clock: the receiver
// checks freshness against its own).
func (s *Server) deliver(h webhookRow, messageID string, body []byte) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	for i, pause := range webhookBackoff {
		if sleepCtx(ctx, pause) != nil {
			return
		}
		status, err := s.deliverOnce(ctx, h, messageID, body)
		if err == nil && status >= 200 && status <= 299 {
			s.log.Info("sandbox chat webhook delivered", "url", h.URL, "message", messageID, "attempt", i+1)
			return
		}
		s.log.Warn("sandbox chat webhook attempt failed", "url", h.URL, "message", messageID, "attempt", i+1, "status", status, "err", err)
		if err == nil && status >= 400 && status <= 499 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests {
			return
		}
	}
	s.log.Error("sandbox chat webhook gave up", "url", h.URL, "message", messageID, "attempts", len(webhookBackoff))
}

func (s *Server) deliverOnce(ctx context.Context, h webhookRow, messageID string, body []byte) (int, error) {
	f, fire := s.decide(EndpointChatWebhookDelivery)
	if err := sleepCtx(ctx, f.Latency); err != nil {
		return 0, err
	}
	if fire {
		return 0, errors.New("injected fault: " + EndpointChatWebhookDelivery)
	}
	ctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts := time.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(chat.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(chat.HeaderSignature, chat.SignWebhook(h.Secret, ts, body))
	req.Header.Set(chat.HeaderDelivery, messageID)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	return res.StatusCode, nil
}

// --- store ---

func (s *store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *store) putChannel(ctx context.Context, ex execer, c chat.Channel) error {
	var seq int64
	if err := ex.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM sandbox_chat_channels`).Scan(&seq); err != nil {
		return fmt.Errorf("next channel seq: %w", err)
	}
	_, err := ex.ExecContext(ctx, s.q(`INSERT INTO sandbox_chat_channels (id, name, account_id, idempotency_key, created_at, seq)
		VALUES (?, ?, ?, ?, ?, ?)`), c.ID, c.Name, c.AccountID, c.IdempotencyKey, formatStoreTime(c.CreatedAt), seq)
	if err != nil {
		return fmt.Errorf("insert channel %s: %w", c.ID, err)
	}
	return nil
}

func (s *store) channelExists(ctx context.Context, tx *sql.Tx, id string) error {
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM sandbox_chat_channels WHERE id = ?`), id).Scan(&n); err != nil {
		return fmt.Errorf("find channel %s: %w", id, err)
	}
	if n == 0 {
		return errNotFound
	}
	return nil
}

const channelCols = `id, name, account_id, idempotency_key, created_at`

func scanChannel(r scanner) (chat.Channel, error) {
	var c chat.Channel
	var at string
	if err := r.Scan(&c.ID, &c.Name, &c.AccountID, &c.IdempotencyKey, &at); err != nil {
		return c, err
	}
	var err error
	c.CreatedAt, err = parseStoreTime("createdAt of channel "+c.ID, at)
	return c, err
}

func (s *store) oneChannel(ctx context.Context, where string, arg string) (chat.Channel, error) {
	c, err := scanChannel(s.db.QueryRowContext(ctx, s.q(`SELECT `+channelCols+` FROM sandbox_chat_channels WHERE `+where), arg))
	if errors.Is(err, sql.ErrNoRows) {
		return chat.Channel{}, errNotFound
	}
	if err != nil {
		return chat.Channel{}, fmt.Errorf("get channel %s: %w", arg, err)
	}
	return c, nil
}

func (s *store) getChannel(ctx context.Context, id string) (chat.Channel, error) {
	return s.oneChannel(ctx, `id = ?`, id)
}

func (s *store) channelByKey(ctx context.Context, key string) (chat.Channel, error) {
	return s.oneChannel(ctx, `idempotency_key = ?`, key)
}

// listChannels returns channels in creation order, only those of accountID
// when it is non-empty.
func (s *store) listChannels(ctx context.Context, accountID string) ([]chat.Channel, error) {
	query, args := `SELECT `+channelCols+` FROM sandbox_chat_channels`, []any{}
	if accountID != "" {
		query += ` WHERE account_id = ?`
		args = append(args, accountID)
	}
	out := []chat.Channel{}
	err := s.each(ctx, query+` ORDER BY seq, id`, args, func(r scanner) error {
		c, err := scanChannel(r)
		out = append(out, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	return out, nil
}

func (s *store) insertMessage(ctx context.Context, ex execer, m chat.Message, seq int64) error {
	_, err := ex.ExecContext(ctx, s.q(`INSERT INTO sandbox_chat_messages (id, seq, channel_id, author, text, thread_id, bot, idempotency_key, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		m.ID, seq, m.Channel, m.Author, m.Text, m.ThreadID, m.Bot, m.IdempotencyKey, formatStoreTime(m.At))
	if err != nil {
		return fmt.Errorf("insert message in %s: %w", m.Channel, err)
	}
	return nil
}

const messageCols = `id, channel_id, author, text, thread_id, bot, idempotency_key, at`

func scanMessage(r scanner) (chat.Message, error) {
	var m chat.Message
	var at string
	if err := r.Scan(&m.ID, &m.Channel, &m.Author, &m.Text, &m.ThreadID, &m.Bot, &m.IdempotencyKey, &at); err != nil {
		return m, err
	}
	var err error
	m.At, err = parseStoreTime("time of message "+m.ID, at)
	return m, err
}

// postedMessage is the message just posted to channel: the one with key, or
// without a key the channel's newest.
func (s *store) postedMessage(ctx context.Context, channel, key string) (chat.Message, error) {
	query, args := `SELECT `+messageCols+` FROM sandbox_chat_messages WHERE channel_id = ? ORDER BY seq DESC LIMIT 1`, []any{channel}
	if key != "" {
		query = `SELECT ` + messageCols + ` FROM sandbox_chat_messages WHERE channel_id = ? AND idempotency_key = ?`
		args = append(args, key)
	}
	m, err := scanMessage(s.db.QueryRowContext(ctx, s.q(query), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return chat.Message{}, errNotFound
	}
	if err != nil {
		return chat.Message{}, fmt.Errorf("read posted message: %w", err)
	}
	return m, nil
}

func (s *store) messageSeq(ctx context.Context, id string) (int64, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT seq FROM sandbox_chat_messages WHERE id = ?`), id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("find message %s: %w", id, err)
	}
	return seq, nil
}

func (s *store) listMessages(ctx context.Context, channel string, afterSeq int64, afterAt string) ([]chat.Message, error) {
	query, args := `SELECT `+messageCols+` FROM sandbox_chat_messages WHERE channel_id = ? AND seq > ?`, []any{channel, afterSeq}
	if afterAt != "" {
		query += ` AND at > ?`
		args = append(args, afterAt)
	}
	out := []chat.Message{}
	err := s.each(ctx, query+` ORDER BY seq`, args, func(r scanner) error {
		m, err := scanMessage(r)
		out = append(out, m)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list messages of %s: %w", channel, err)
	}
	return out, nil
}

type webhookRow struct {
	URL, Secret string
	CreatedAt   time.Time
}

// putWebhook registers a webhook, or replaces the secret of the one at its
// URL; it reports whether the URL is new.
func (s *store) putWebhook(ctx context.Context, req chat.WebhookRequest, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sandbox_chat_webhooks (url, secret, created_at) VALUES (?, ?, ?)
		ON CONFLICT (url) DO NOTHING`), req.URL, req.Secret, formatStoreTime(now))
	if err != nil {
		return false, fmt.Errorf("put webhook: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("put webhook: %w", err)
	}
	if n == 1 {
		return true, nil
	}
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE sandbox_chat_webhooks SET secret = ? WHERE url = ?`), req.Secret, req.URL); err != nil {
		return false, fmt.Errorf("put webhook: %w", err)
	}
	return false, nil
}

func (s *store) listWebhooks(ctx context.Context) ([]webhookRow, error) {
	var out []webhookRow
	err := s.each(ctx, `SELECT url, secret, created_at FROM sandbox_chat_webhooks ORDER BY created_at, url`, nil, func(r scanner) error {
		var h webhookRow
		var at string
		if err := r.Scan(&h.URL, &h.Secret, &at); err != nil {
			return err
		}
		var err error
		h.CreatedAt, err = parseStoreTime("webhook time", at)
		out = append(out, h)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return out, nil
}

func (s *store) noChannels(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sandbox_chat_channels`).Scan(&n); err != nil {
		return false, fmt.Errorf("count channels: %w", err)
	}
	return n == 0, nil
}
