package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/evidence/evidencetest"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
)

func fixedClock() time.Time { return time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC) }

// each runs fn on SQLite, and on PostgreSQL too when DATABASE_URL is set.
func each(t *testing.T, prefix string, fn func(t *testing.T, e testdb.Engine)) {
	for _, e := range testdb.Engines(prefix) {
		t.Run(e.Name, func(t *testing.T) { fn(t, e) })
	}
}

func openStore(t *testing.T, e testdb.Engine) *Store {
	t.Helper()
	url, path := e.Locate(t, "evidence.db")
	s, err := Open(context.Background(), url, path, filepath.Join(t.TempDir(), "blobs"), fixedClock)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func put(t *testing.T, s *Store, task, item, by string, body []byte) Upload {
	t.Helper()
	up, err := s.Put(context.Background(), PutRequest{TaskID: task, Item: item, UploadedBy: by, Body: bytes.NewReader(body)})
	require.NoError(t, err)
	return up
}

func TestPutStoresContentAddressed(t *testing.T) {
	each(t, "evidence_put", func(t *testing.T, e testdb.Engine) {
		ctx := context.Background()
		s := openStore(t, e)
		photo := evidencetest.JPEG(38.72, -9.14, fixedClock())

		up, err := s.Put(ctx, PutRequest{TaskID: "task-1", Item: "photo:front", UploadedBy: "ana", Body: bytes.NewReader(photo), DeclaredType: "image/jpeg"})
		require.NoError(t, err)
		sum := hashOf(photo)
		assert.Equal(t, Upload{SHA256: sum, Size: int64(len(photo)), ContentType: TypeJPEG, TaskID: "task-1", Item: "photo:front",
			UploadedBy: "ana", UploadedAt: fixedClock()}, up)

		// On disk under its hash, readable by the owner only.
		path := filepath.Join(s.dir, "sha256", sum[:2], sum)
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, photo, got)
		info, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
		dinfo, err := os.Stat(filepath.Dir(path))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), dinfo.Mode().Perm())
		tmps, err := os.ReadDir(filepath.Join(s.dir, "tmp"))
		require.NoError(t, err)
		assert.Empty(t, tmps, "no temporary file is left")

		// Idempotent: the same bytes for the same task and item are the
		// same upload, still the first uploader's.
		again, err := s.Put(ctx, PutRequest{TaskID: "task-1", Item: "photo:front", UploadedBy: "bruno", Body: bytes.NewReader(photo)})
		require.NoError(t, err)
		assert.Equal(t, up, again)
		list, err := s.ForTask(ctx, "task-1")
		require.NoError(t, err)
		assert.Equal(t, []Upload{up}, list)

		// The same bytes for other tasks: one row each, which is reuse.
		put(t, s, "task-3", "photo:front", "carla", photo)
		put(t, s, "task-2", "photo:back", "bruno", photo)
		others, err := s.OtherTasks(ctx, sum, "task-1")
		require.NoError(t, err)
		assert.Equal(t, []string{"task-2", "task-3"}, others)
		others, err = s.OtherTasks(ctx, hashOf(evidencetest.PDF()), "task-1")
		require.NoError(t, err)
		assert.Empty(t, others)

		// Other types and declarations that agree.
		pdf, err := s.Put(ctx, PutRequest{TaskID: "task-1", Item: "document:contract", UploadedBy: "ana", Body: bytes.NewReader(evidencetest.PDF()), DeclaredType: "application/pdf"})
		require.NoError(t, err)
		assert.Equal(t, TypePDF, pdf.ContentType)
		sig, err := s.Put(ctx, PutRequest{TaskID: "task-1", Item: "signature", UploadedBy: "ana", Body: bytes.NewReader(evidencetest.PNG()), DeclaredType: "application/octet-stream"})
		require.NoError(t, err)
		assert.Equal(t, TypePNG, sig.ContentType)
		jpg, err := s.Put(ctx, PutRequest{TaskID: "task-1", Item: "photo:side", UploadedBy: "ana", Body: bytes.NewReader(evidencetest.PlainJPEG()), DeclaredType: "image/jpg"})
		require.NoError(t, err)
		assert.Equal(t, TypeJPEG, jpg.ContentType)
		list, err = s.ForTask(ctx, "task-1")
		require.NoError(t, err)
		assert.Len(t, list, 4)

		u, err := s.Upload(ctx, sum, "task-2", "photo:back")
		require.NoError(t, err)
		assert.Equal(t, "bruno", u.UploadedBy)
		_, err = s.Upload(ctx, sum, "task-2", "photo:front")
		assert.ErrorIs(t, err, ErrNotFound)
	})
}

func TestPutRefuses(t *testing.T) {
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"), bytes.Repeat([]byte{0}, 200)...)
	body := func(b []byte, declared string) func(*PutRequest) {
		return func(r *PutRequest) { r.Body, r.DeclaredType = bytes.NewReader(b), declared }
	}
	cases := []struct {
		name     string
		mod      func(*PutRequest)
		field    string
		contains string
		is       error
	}{
		{name: "png declared as jpeg", mod: body(evidencetest.PNG(), "image/jpeg"), field: "file", contains: "declared as image/jpeg but the content is image/png"},
		{name: "pdf declared as png", mod: body(evidencetest.PDF(), "image/png"), field: "file", contains: "application/pdf"},
		{name: "executable", mod: body(exe, ""), field: "file", contains: "application/octet-stream"},
		{name: "executable declared as jpeg", mod: body(exe, "image/jpeg"), field: "file", contains: "only JPEG, PNG and PDF"},
		{name: "html", mod: body([]byte("<html><script>alert(1)</script></html>"), ""), field: "file", contains: "text/html"},
		{name: "gif", mod: body([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), ""), field: "file", contains: "image/gif"},
		{name: "empty", mod: body(nil, ""), field: "file", contains: "empty"},
		{name: "bad declared type", mod: body(evidencetest.PNG(), "not a type"), field: "file"},
		{name: "no body", mod: func(r *PutRequest) { r.Body = nil }, field: "file"},
		{name: "too large", mod: func(r *PutRequest) {
			r.Body = io.MultiReader(bytes.NewReader(evidencetest.PlainJPEG()), bytes.NewReader(make([]byte, MaxUploadBytes)))
		}, is: ErrTooLarge},
		{name: "path in item", mod: func(r *PutRequest) { r.Item = "photo:../x" }, field: "item"},
		{name: "unknown item kind", mod: func(r *PutRequest) { r.Item = "video:front" }, field: "item"},
		{name: "no task", mod: func(r *PutRequest) { r.TaskID = "" }, field: "taskId"},
		{name: "control character in task", mod: func(r *PutRequest) { r.TaskID = "task\n1" }, field: "taskId"},
		{name: "no uploader", mod: func(r *PutRequest) { r.UploadedBy = "" }, field: "uploadedBy"},
	}
	each(t, "evidence_refuse", func(t *testing.T, e testdb.Engine) {
		s := openStore(t, e)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				req := PutRequest{TaskID: "task-1", Item: "photo:front", UploadedBy: "ana", Body: bytes.NewReader(evidencetest.PNG())}
				tc.mod(&req)
				_, err := s.Put(context.Background(), req)
				require.Error(t, err)
				if tc.is != nil {
					assert.ErrorIs(t, err, tc.is)
				} else {
					var fe *FieldError
					require.True(t, errors.As(err, &fe), "want *FieldError, got %T: %v", err, err)
					assert.Equal(t, tc.field, fe.Field)
					assert.Contains(t, fe.Error(), tc.contains)
				}
			})
		}
		list, err := s.ForTask(context.Background(), "task-1")
		require.NoError(t, err)
		assert.Empty(t, list, "nothing refused was recorded")
		blobs, err := os.ReadDir(filepath.Join(s.dir, "sha256"))
		require.NoError(t, err)
		assert.Empty(t, blobs, "nothing refused was stored")
		tmps, err := os.ReadDir(filepath.Join(s.dir, "tmp"))
		require.NoError(t, err)
		assert.Empty(t, tmps, "no temporary file is left")
	})
}

func TestPutAcceptsExactlyMaxBytes(t *testing.T) {
	s := openStore(t, testdb.Engines("evidence_max")[0])
	body := append(evidencetest.PlainJPEG(), make([]byte, MaxUploadBytes)...)[:MaxUploadBytes]
	up := put(t, s, "task-1", "photo:front", "ana", body)
	assert.Equal(t, int64(MaxUploadBytes), up.Size)
	assert.Equal(t, hashOf(body), up.SHA256)
}

func TestBlob(t *testing.T) {
	each(t, "evidence_blob", func(t *testing.T, e testdb.Engine) {
		ctx := context.Background()
		s := openStore(t, e)
		pdf := evidencetest.PDF()
		up := put(t, s, "task-1", "document:contract", "ana", pdf)
		put(t, s, "task-2", "document:contract", "bruno", pdf)

		rc, meta, err := s.Blob(ctx, up.SHA256)
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		assert.Equal(t, pdf, got)
		assert.Equal(t, up, meta, "the first upload's metadata")

		for _, bad := range []string{"", "../../../../etc/passwd", "../" + up.SHA256[3:], strings.ToUpper(up.SHA256), up.SHA256[:63], up.SHA256 + "0", "sha256/" + up.SHA256[:2] + "/" + up.SHA256} {
			_, _, err := s.Blob(ctx, bad)
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "%q: want *FieldError, got %v", bad, err)
			assert.Equal(t, "sha256", fe.Field)
		}
		_, _, err = s.Blob(ctx, hashOf([]byte("never uploaded")))
		assert.ErrorIs(t, err, ErrNotFound)

		// Bytes gone from disk are not found, whatever the table says.
		require.NoError(t, os.Remove(s.blobPath(up.SHA256)))
		_, _, err = s.Blob(ctx, up.SHA256)
		assert.ErrorIs(t, err, ErrNotFound)
	})
}

func TestOpenNeedsBlobDir(t *testing.T) {
	_, err := Open(context.Background(), "", filepath.Join(t.TempDir(), "e.db"), "", nil)
	assert.Error(t, err)
}
