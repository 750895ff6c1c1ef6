package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/execution-orchestrator/orchestrator/internal/sqldb"
)

// MaxUploadBytes bounds one upload (10 MiB).
const MaxUploadBytes = 10 << 20

// Content types an upload may have, sniffed from its bytes.
const (
	TypeJPEG = "image/jpeg"
	TypePNG  = "image/png"
	TypePDF  = "application/pdf"
)

// AllowedTypes lists the content types an upload may have.
func AllowedTypes() []string { return []string{TypeJPEG, TypePNG, TypePDF} }

// Errors of the store.
var (
	ErrNotFound = errors.New("evidence upload not found")
	ErrTooLarge = fmt.Errorf("upload is larger than %d MiB", MaxUploadBytes>>20)
)

// FieldError is a refused upload or spec: Field names what is wrong
// ("file", "item", "photos[1].name").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Item names, shared by uploads (PutRequest.Item, Upload.Item) and the
// checked items of a Verdict (Item.Item).
const (
	CheckInItem   = "check-in"
	SignatureItem = "signature"
)

// PhotoItem is the item of the spec's photo name: "photo:<name>".
func PhotoItem(name string) string { return "photo:" + name }

// DocumentItem is the item of the spec's document name: "document:<name>".
func DocumentItem(name string) string { return "document:" + name }

// AnswerItem is the checked item of question id: "answer:<id>".
func AnswerItem(id string) string { return "answer:" + id }

var (
	nameRE       = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)
	hashRE       = regexp.MustCompile(`^[0-9a-f]{64}$`)
	uploadItemRE = regexp.MustCompile(`^(?:(?:photo|document):[a-z][a-z0-9-]{0,39}|signature)$`)
)

// ValidSHA256 reports whether s is a SHA-256 in lowercase hex, the only
// form a blob is named by (and so never a path).
func ValidSHA256(s string) bool { return hashRE.MatchString(s) }

const maxIDLen = 128

// Store keeps uploads content-addressed on disk, at
// <blobDir>/sha256/<first 2 hex>/<64 hex>, and their metadata in the
// evidence_uploads table (PostgreSQL or SQLite): one row per (sha256,
// task, item), so the same bytes uploaded for two tasks are two rows, which
// is how reuse is seen.
type Store struct {
	db  *sql.DB
	dir string
	now func() time.Time
}

// Open connects to PostgreSQL when databaseURL is non-empty, otherwise to
// the SQLite file sqlitePath (created 0600), creates the evidence_uploads
// table if missing, and keeps blobs under blobDir (created 0700). now is
// the clock (nil means time.Now).
func Open(ctx context.Context, databaseURL, sqlitePath, blobDir string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if blobDir == "" {
		return nil, errors.New("open evidence store: blobDir is required")
	}
	for _, d := range []string{blobDir, filepath.Join(blobDir, "sha256"), filepath.Join(blobDir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open evidence store: %w", err)
		}
	}
	removeStaleTemps(filepath.Join(blobDir, "tmp"))
	// Times are Unix milliseconds so both engines compare them the same way.
	const ddl = `CREATE TABLE IF NOT EXISTS evidence_uploads (
	sha256       TEXT NOT NULL,
	task_id      TEXT NOT NULL,
	item         TEXT NOT NULL,
	uploaded_by  TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size         BIGINT NOT NULL,
	uploaded_at  BIGINT NOT NULL,
	PRIMARY KEY (sha256, task_id, item)
)`
	db, err := sqldb.Open(ctx, "evidence upload", databaseURL, sqlitePath, ddl)
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS evidence_uploads_task ON evidence_uploads (task_id)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("create evidence_uploads index: %w", sqldb.Redact(err, databaseURL))
	}
	return &Store{db: db, dir: blobDir, now: now}, nil
}

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// PutRequest is one upload.
type PutRequest struct {
	TaskID string
	// Item is what the upload is for: PhotoItem(name), DocumentItem(name)
	// or SignatureItem.
	Item       string
	UploadedBy string
	Body       io.Reader
	// DeclaredType is the client's content type (the multipart part's
	// Content-Type); empty or application/octet-stream declares nothing.
	DeclaredType string
}

// Put stores an upload: at most MaxUploadBytes (else ErrTooLarge) of JPEG,
// PNG or PDF, the type sniffed from the bytes (a disallowed type, or a
// declared type the bytes contradict, is a *FieldError on "file"). The
// SHA-256 is computed while the body streams to a temporary file, which is
// then renamed to its hash, so a crash never leaves a partial blob under a
// hash. Putting the same bytes for the same task and item again changes
// nothing and returns the first upload's metadata, including who made it.
func (s *Store) Put(ctx context.Context, in PutRequest) (Upload, error) {
	if err := validatePut(in); err != nil {
		return Upload{}, err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "upload-*")
	if err != nil {
		return Upload{}, fmt.Errorf("store upload: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		os.Remove(tmpName) // gone already once renamed
	}()

	h := sha256.New()
	head := &headBuffer{max: 512}
	n, err := io.Copy(io.MultiWriter(tmp, h, head), io.LimitReader(in.Body, MaxUploadBytes+1))
	switch {
	case err != nil:
		return Upload{}, fmt.Errorf("store upload: read body: %w", err)
	case n > MaxUploadBytes:
		return Upload{}, ErrTooLarge
	case n == 0:
		return Upload{}, fieldErr("file", "the file is empty")
	}
	typ, err := checkType(head.Bytes(), in.DeclaredType)
	if err != nil {
		return Upload{}, err
	}
	if err := tmp.Sync(); err != nil {
		return Upload{}, fmt.Errorf("store upload: %w", err)
	}
	if err := tmp.Close(); err != nil {
		tmp = nil
		return Upload{}, fmt.Errorf("store upload: %w", err)
	}
	tmp = nil

	sum := hex.EncodeToString(h.Sum(nil))
	dst := s.blobPath(sum)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return Upload{}, fmt.Errorf("store upload: %w", err)
	}
	// Renaming over an existing blob of the same name is harmless (same
	// bytes) and restores one that was damaged.
	if err := os.Rename(tmpName, dst); err != nil {
		return Upload{}, fmt.Errorf("store upload: %w", err)
	}
	syncDir(filepath.Dir(dst))

	// The blob is in place before its row, so a row never names bytes
	// that were not stored.
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO evidence_uploads (sha256, task_id, item, uploaded_by, content_type, size, uploaded_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7)
		 ON CONFLICT (sha256, task_id, item) DO NOTHING`,
		sum, in.TaskID, in.Item, in.UploadedBy, typ, n, s.now().UnixMilli()); err != nil {
		return Upload{}, fmt.Errorf("store upload %s: %w", sum, err)
	}
	return s.Upload(ctx, sum, in.TaskID, in.Item)
}

func validatePut(in PutRequest) error {
	switch {
	case !validID(in.TaskID):
		return fieldErr("taskId", "required; at most %d bytes of printable UTF-8", maxIDLen)
	case !uploadItemRE.MatchString(in.Item):
		return fieldErr("item", "%q is not photo:<name>, document:<name> or signature", clip(in.Item))
	case !validID(in.UploadedBy):
		return fieldErr("uploadedBy", "required; at most %d bytes of printable UTF-8", maxIDLen)
	case in.Body == nil:
		return fieldErr("file", "required")
	}
	return nil
}

func validID(s string) bool {
	return s != "" && len(s) <= maxIDLen && utf8.ValidString(s) && strings.TrimSpace(s) == s &&
		!strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// checkType sniffs the content type from the first bytes and holds it
// against the allowed types and the declared one.
func checkType(head []byte, declared string) (string, error) {
	typ := sniff(head)
	allowed := typ == TypeJPEG || typ == TypePNG || typ == TypePDF
	if !allowed {
		return "", fieldErr("file", "the content is %s; only JPEG, PNG and PDF files are accepted", typ)
	}
	if declared = strings.TrimSpace(declared); declared != "" {
		mt, _, err := mime.ParseMediaType(declared)
		if err != nil {
			return "", fieldErr("file", "declared content type %q is not a media type", clip(declared))
		}
		if mt == "image/jpg" || mt == "image/pjpeg" {
			mt = TypeJPEG
		}
		if mt != "application/octet-stream" && mt != typ {
			return "", fieldErr("file", "declared as %s but the content is %s", clip(mt), typ)
		}
	}
	return typ, nil
}

// sniff is http.DetectContentType with PDF recognised by its magic alone
// (DetectContentType wants it at the very start too, but says so).
func sniff(head []byte) string {
	if bytes.HasPrefix(head, []byte("%PDF-")) {
		return TypePDF
	}
	typ, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	return typ
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	bytes.Buffer
	max int
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (s *Store) blobPath(sum string) string {
	return filepath.Join(s.dir, "sha256", sum[:2], sum)
}

// removeStaleTemps deletes temporary files a crashed upload left behind.
// Only old ones (by the file system's clock): another process may be
// writing a fresh one right now.
func removeStaleTemps(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && strings.HasPrefix(e.Name(), "upload-") && info.Mode().IsRegular() && time.Since(info.ModTime()) > time.Hour {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// syncDir makes a rename durable; best effort (not every platform can).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Blob opens the stored bytes named sha, with the metadata of its first
// upload. A sha that is not 64 lowercase hex digits is a *FieldError (it
// never reaches the file system); unknown bytes are ErrNotFound. The
// caller closes the reader. The bytes are not re-hashed here: Check does.
func (s *Store) Blob(ctx context.Context, sha string) (io.ReadCloser, Upload, error) {
	if !ValidSHA256(sha) {
		return nil, Upload{}, fieldErr("sha256", "%q is not a SHA-256 (64 lowercase hex digits)", clip(sha))
	}
	ups, err := s.query(ctx, `WHERE sha256 = $1 ORDER BY uploaded_at, task_id, item LIMIT 1`, sha)
	if err != nil {
		return nil, Upload{}, err
	}
	if len(ups) == 0 {
		return nil, Upload{}, ErrNotFound
	}
	f, err := os.Open(s.blobPath(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Upload{}, ErrNotFound
	}
	if err != nil {
		return nil, Upload{}, fmt.Errorf("open blob %s: %w", sha, err)
	}
	return f, ups[0], nil
}

// Upload returns the metadata of the upload of sha for taskID's item
// (ErrNotFound if there is none).
func (s *Store) Upload(ctx context.Context, sha, taskID, item string) (Upload, error) {
	if !ValidSHA256(sha) {
		return Upload{}, ErrNotFound
	}
	ups, err := s.query(ctx, `WHERE sha256 = $1 AND task_id = $2 AND item = $3`, sha, taskID, item)
	if err != nil {
		return Upload{}, err
	}
	if len(ups) == 0 {
		return Upload{}, ErrNotFound
	}
	return ups[0], nil
}

// ForTask lists the uploads made for taskID, oldest first.
func (s *Store) ForTask(ctx context.Context, taskID string) ([]Upload, error) {
	return s.query(ctx, `WHERE task_id = $1 ORDER BY uploaded_at, item, sha256`, taskID)
}

// OtherTasks lists the tasks other than taskID holding the same bytes, by
// id.
func (s *Store) OtherTasks(ctx context.Context, sha, taskID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT DISTINCT task_id FROM evidence_uploads WHERE sha256 = $1 AND task_id <> $2 ORDER BY task_id`, sha, taskID)
	if err != nil {
		return nil, fmt.Errorf("look up other tasks of %s: %w", sha, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("look up other tasks of %s: %w", sha, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up other tasks of %s: %w", sha, err)
	}
	return out, nil
}

func (s *Store) query(ctx context.Context, where string, args ...any) ([]Upload, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT sha256, task_id, item, uploaded_by, content_type, size, uploaded_at FROM evidence_uploads `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("look up evidence uploads: %w", err)
	}
	defer rows.Close()
	var out []Upload
	for rows.Next() {
		var (
			u  Upload
			at int64
		)
		if err := rows.Scan(&u.SHA256, &u.TaskID, &u.Item, &u.UploadedBy, &u.ContentType, &u.Size, &at); err != nil {
			return nil, fmt.Errorf("look up evidence uploads: %w", err)
		}
		u.UploadedAt = time.UnixMilli(at).UTC()
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up evidence uploads: %w", err)
	}
	return out, nil
}

// clip shortens a value quoted back in an error.
func clip(s string) string {
	const maxShown = 64
	if len(s) <= maxShown {
		return s
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
