package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/execution-orchestrator/orchestrator/connectors/email"
)

// NormalizeMessageID strips blanks and angle brackets, so "<a@b>" and "a@b"
// name the same message. Stored messages carry the normalized form.
func NormalizeMessageID(id string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
}

type smtpBackend struct{ s *Server }

func (b *smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &smtpSession{s: b.s}, nil
}

// smtpSession accepts any sender and recipients, no auth: it is a sink.
type smtpSession struct {
	s    *Server
	from string
	to   []string
}

func (ss *smtpSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *smtpSession) Logout() error { return nil }

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func errInjected() error {
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "injected fault: mail.smtp"}
}

// Data stores the message; a message whose Message-ID is already stored is
// accepted again without a second copy, so resending is harmless.
func (ss *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read message: %w", err)
	}
	f, fire := ss.s.decide(EndpointMailSMTP)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sleepCtx(ctx, f.Latency); err != nil {
		return errInjected()
	}
	if fire && !f.AfterEffect {
		return errInjected()
	}
	msg, err := parseMessage(raw, ss.from, ss.to, ss.s.now().UTC())
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	added, err := ss.s.store.insertMail(ctx, msg)
	if err != nil {
		ss.s.log.Error("sandbox store mail failed", "messageId", msg.MessageID, "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot store message"}
	}
	ss.s.log.Info("sandbox mail accepted", "messageId", msg.MessageID, "to", msg.To, "new", added)
	if fire {
		return errInjected()
	}
	return nil
}

func parseMessage(raw []byte, from string, to []string, now time.Time) (email.StoredMessage, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return email.StoredMessage{}, fmt.Errorf("parse message: %w", err)
	}
	var body io.Reader = m.Body
	if strings.EqualFold(strings.TrimSpace(m.Header.Get("Content-Transfer-Encoding")), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	text, err := io.ReadAll(body)
	if err != nil {
		return email.StoredMessage{}, fmt.Errorf("read body: %w", err)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		subject = m.Header.Get("Subject")
	}
	id := NormalizeMessageID(m.Header.Get("Message-Id"))
	if id == "" {
		// Without a Message-ID the content is the identity.
		sum := sha256.Sum256(raw)
		id = hex.EncodeToString(sum[:16]) + "@sandbox.localhost"
	}
	return email.StoredMessage{
		MessageID:  id,
		From:       from,
		To:         append([]string(nil), to...),
		Subject:    subject,
		Body:       strings.ReplaceAll(string(text), "\r\n", "\n"),
		ReceivedAt: now,
	}, nil
}
