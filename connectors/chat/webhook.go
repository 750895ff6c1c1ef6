package chat

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook headers. The signature covers the timestamp and the raw body
// ("<timestamp>.<body>"), so a captured body cannot be replayed under a
// fresh timestamp.
const (
	HeaderSignature = "X-Chat-Signature" // "sha256=<hex HMAC-SHA256>"
	HeaderTimestamp = "X-Chat-Timestamp" // Unix seconds
	HeaderDelivery  = "X-Chat-Delivery"  // the message id; the same on every retry
)

// WebhookTolerance is how far a delivery's timestamp may be from now, either
// way, before it is refused as stale (or from the future).
const WebhookTolerance = 5 * time.Minute

// MaxWebhookBody is the largest webhook body VerifyWebhook accepts.
const MaxWebhookBody = 64 << 10

// Webhook verification failures.
var (
	ErrMissingSignature = errors.New("chat webhook: missing " + HeaderSignature + " or " + HeaderTimestamp)
	ErrBadTimestamp     = errors.New("chat webhook: malformed " + HeaderTimestamp)
	ErrStaleTimestamp   = errors.New("chat webhook: timestamp outside the tolerance")
	ErrBadSignature     = errors.New("chat webhook: signature does not match")
	ErrBodyTooLarge     = errors.New("chat webhook: body too large")
)

// SignWebhook returns the X-Chat-Signature value for body sent at ts:
// "sha256=" and the hex HMAC-SHA256, keyed by secret, of "<unix ts>.<body>".
func SignWebhook(secret string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifyWebhook checks a delivery: its body is at most MaxWebhookBody, its
// timestamp within WebhookTolerance of now and its signature the HMAC of
// timestamp and body under secret. Read the body with a limit above
// MaxWebhookBody (e.g. io.LimitReader(r.Body, MaxWebhookBody+1)) so an
// oversized body is refused rather than truncated. A delivery may be
// retried, so receivers should also drop repeated HeaderDelivery ids.
func VerifyWebhook(secret string, header http.Header, body []byte, now time.Time) error {
	if secret == "" {
		return errors.New("chat webhook: no secret configured")
	}
	if len(body) > MaxWebhookBody {
		return ErrBodyTooLarge
	}
	sig, tsText := header.Get(HeaderSignature), header.Get(HeaderTimestamp)
	if sig == "" || tsText == "" {
		return ErrMissingSignature
	}
	secs, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > WebhookTolerance || d < -WebhookTolerance {
		return fmt.Errorf("%w: sent %s, now %s", ErrStaleTimestamp, ts.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	got, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return ErrBadSignature
	}
	gotMAC, err := hex.DecodeString(got)
	if err != nil {
		return ErrBadSignature
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(SignWebhook(secret, ts, body), "sha256="))
	if !hmac.Equal(gotMAC, want) {
		return ErrBadSignature
	}
	return nil
}

// DecodeWebhook parses a verified delivery body.
func DecodeWebhook(body []byte) (WebhookEvent, error) {
	var e WebhookEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return WebhookEvent{}, fmt.Errorf("chat webhook: decode body: %w", err)
	}
	if e.Type != EventMessage || e.Message.ID == "" {
		return WebhookEvent{}, fmt.Errorf("chat webhook: unexpected event %q", e.Type)
	}
	return e, nil
}
