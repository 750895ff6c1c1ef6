package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
)

// DefaultTimeout bounds one send or lookup.
const DefaultTimeout = 10 * time.Second

// Option configures a Client.
type Option func(*config)

type config struct {
	timeout time.Duration
	hc      *http.Client
	logger  *slog.Logger
	now     func() time.Time
}

// WithTimeout bounds each send (dial to final 250) and each lookup.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithHTTPClient sets the http.Client used for lookups.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.hc = hc } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithClock sets the clock used for the Date header.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Client sends mail over SMTP and looks messages up over the mail system's
// HTTP API.
//
// SMTP uses github.com/emersion/go-smtp's client rather than net/smtp:
// net/smtp is frozen and has no timeouts, while go-smtp runs on a connection
// we dial with the context and returns typed replies (*smtp.SMTPError) so a
// 5xx refusal can be told from a 4xx try-again.
type Client struct {
	smtpAddr string
	timeout  time.Duration
	logger   *slog.Logger
	now      func() time.Time
	http     *httpx.Client
}

// New returns a Client for the SMTP server at smtpAddr (host:port) and the
// mail HTTP API at httpBaseURL.
func New(smtpAddr, httpBaseURL string, opts ...Option) *Client {
	cfg := config{timeout: DefaultTimeout, logger: slog.Default(), now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	hopts := []httpx.Option{httpx.WithTimeout(cfg.timeout), httpx.WithLogger(cfg.logger)}
	if cfg.hc != nil {
		hopts = append(hopts, httpx.WithHTTPClient(cfg.hc))
	}
	return &Client{smtpAddr: smtpAddr, timeout: cfg.timeout, logger: cfg.logger, now: cfg.now, http: httpx.New(httpBaseURL, hopts...)}
}

// IsNotFound reports whether err says the message is unknown.
func IsNotFound(err error) bool { return httpx.StatusCode(err) == http.StatusNotFound }

// IsPermanent reports whether retrying cannot help: invalid message, SMTP 5xx
// refusal, HTTP 4xx.
func IsPermanent(err error) bool { return httpx.IsPermanent(err) }

func invalid(field, msg string) error {
	return &httpx.Error{Op: "email.send", Message: msg, Field: field, Permanent: true}
}

func noLineBreaks(s string) bool { return !strings.ContainsAny(s, "\r\n") }

// angle returns the Message-ID in <...> form.
func angle(id string) string {
	return "<" + strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">") + ">"
}

func (m Message) validate() (from *mail.Address, to []*mail.Address, err error) {
	id := strings.TrimSpace(m.MessageID)
	if id == "" || strings.ContainsAny(id, " \t\r\n") || !strings.Contains(id, "@") {
		return nil, nil, invalid("messageId", "messageId is required and must look like <local@domain> without blanks")
	}
	from, err = mail.ParseAddress(m.From)
	if err != nil {
		return nil, nil, invalid("from", "from is not a valid address: "+err.Error())
	}
	if len(m.To) == 0 {
		return nil, nil, invalid("to", "at least one recipient is required")
	}
	for i, s := range m.To {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, nil, invalid(fmt.Sprintf("to[%d]", i), "recipient is not a valid address: "+err.Error())
		}
		to = append(to, a)
	}
	if !noLineBreaks(m.Subject) {
		return nil, nil, invalid("subject", "subject must be one line")
	}
	return from, to, nil
}

// render builds the RFC 5322 message: plain text, UTF-8, quoted-printable.
func (c *Client) render(m Message, from *mail.Address, to []*mail.Address) ([]byte, error) {
	var b bytes.Buffer
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.String()
	}
	fmt.Fprintf(&b, "Message-ID: %s\r\n", angle(m.MessageID))
	fmt.Fprintf(&b, "Date: %s\r\n", c.now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: %s\r\n", from.String())
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(rcpts, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", m.Subject))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	return b.Bytes(), nil
}

// Send delivers m over SMTP and returns once the server accepted the DATA
// (250). Resending the same Message-ID is safe: the mail system keeps one copy.
func (c *Client) Send(ctx context.Context, m Message) error {
	from, to, err := m.validate()
	if err != nil {
		return err
	}
	raw, err := c.render(m, from, to)
	if err != nil {
		return invalid("body", err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.smtpAddr)
	if err != nil {
		return fmt.Errorf("send mail %s: dial %s: %w", m.MessageID, c.smtpAddr, err)
	}
	// The deadline bounds every SMTP exchange, the final 250 included.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Closing the connection when ctx ends unblocks a stuck exchange.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	sc := smtp.NewClient(conn)
	defer sc.Close()
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.Address
	}
	if err := sc.SendMail(from.Address, rcpts, bytes.NewReader(raw)); err != nil {
		return c.smtpError(ctx, m.MessageID, err)
	}
	if err := sc.Quit(); err != nil {
		// The message is accepted already; a failed QUIT changes nothing.
		c.logger.DebugContext(ctx, "smtp quit failed", "messageId", m.MessageID, "err", err)
	}
	c.logger.InfoContext(ctx, "mail sent", "messageId", m.MessageID, "to", rcpts)
	return nil
}

func (c *Client) smtpError(ctx context.Context, id string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return &httpx.Error{
			Op:      "email.send " + id,
			Message: fmt.Sprintf("SMTP %d: %s", se.Code, se.Message),
			// 5xx is a refusal; 4xx asks to try again later.
			Permanent: se.Code >= 500,
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("send mail %s: %w", id, ctx.Err())
	}
	return fmt.Errorf("send mail %s: %w", id, err)
}

// Lookup fetches a stored message by Message-ID (with or without <>).
func (c *Client) Lookup(ctx context.Context, messageID string) (StoredMessage, error) {
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(messageID), "<"), ">")
	if id == "" {
		return StoredMessage{}, &httpx.Error{Op: "email.lookup", Message: "messageId is required", Field: "messageId", Permanent: true}
	}
	var sm StoredMessage
	if err := c.http.Get(ctx, "mail.getMessage "+id, "/mail/messages/"+url.PathEscape(id), &sm); err != nil {
		return StoredMessage{}, fmt.Errorf("look up mail %s: %w", id, err)
	}
	return sm, nil
}

// List returns the stored messages, optionally only those sent to one address.
func (c *Client) List(ctx context.Context, to string) ([]StoredMessage, error) {
	path := "/mail/messages"
	if to != "" {
		path += "?" + url.Values{"to": {to}}.Encode()
	}
	var list []StoredMessage
	if err := c.http.Get(ctx, "mail.listMessages", path, &list); err != nil {
		return nil, fmt.Errorf("list mail: %w", err)
	}
	return list, nil
}
