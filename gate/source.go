package gate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
)

// policyExt is the suffix of the files a Source reads.
const policyExt = ".cedar"

// racyWindow is how close to the moment we read a file its mtime may be
// before the mtime stops proving "unchanged": filesystems store mtimes with a
// coarse clock (up to 2s on FAT, a scheduler tick on ext4/tmpfs), so a second
// same-size write in the same tick is invisible to stat. While a file is that
// fresh we re-read and re-hash it on every check (cheap: policy files are
// small) instead of trusting stat.
const racyWindow = 2 * time.Second

// Source is where policy files come from: every *.cedar file at the top of a
// directory or fs.FS. Subdirectories are ignored.
type Source struct {
	fsys fs.FS
	desc string
}

// DirSource reads dir/*.cedar and follows edits: every Decide stats the files
// and reloads when the set of names or any size/mtime changed. Symlinks are
// followed, so a Kubernetes ConfigMap mount (whose files are symlinks swapped
// atomically) is picked up too.
func DirSource(dir string) Source {
	return Source{fsys: os.DirFS(dir), desc: dir}
}

// FSSource reads *.cedar at the root of fsys, e.g. policy.DefaultPolicies().
// It is checked the same way as a directory, which for an embed.FS never
// finds a change.
func FSSource(fsys fs.FS) Source {
	return Source{fsys: fsys, desc: fmt.Sprintf("%T", fsys)}
}

func (s Source) String() string { return s.desc }

// fileStat is what a cheap change check compares.
type fileStat struct {
	name string
	size int64
	mod  time.Time
}

func sameStat(a, b fileStat) bool {
	return a.name == b.name && a.size == b.size && a.mod.Equal(b.mod)
}

// policyFile is one read policy file.
type policyFile struct {
	name string
	data []byte
}

// stat lists the policy files sorted by name, using stat only.
func (s Source) stat() ([]fileStat, error) {
	if s.fsys == nil {
		return nil, errors.New("no policy source configured")
	}
	entries, err := fs.ReadDir(s.fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list policy files in %s: %w", s.desc, err)
	}
	stats := make([]fileStat, 0, len(entries))
	for _, ent := range entries {
		name := ent.Name()
		if !strings.HasSuffix(name, policyExt) || ent.IsDir() {
			continue
		}
		// fs.Stat, not ent.Info: the latter does not follow symlinks, and a
		// swapped symlink target must count as a change.
		info, err := fs.Stat(s.fsys, name)
		if err != nil {
			return nil, fmt.Errorf("stat policy file %s: %w", name, err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		stats = append(stats, fileStat{name: name, size: info.Size(), mod: info.ModTime()})
	}
	// fs.ReadDir already sorts; sorting again keeps the hash independent of
	// how a custom fs.FS lists its entries.
	slices.SortFunc(stats, func(a, b fileStat) int { return strings.Compare(a.name, b.name) })
	return stats, nil
}

// read reads the listed files.
func (s Source) read(stats []fileStat) ([]policyFile, error) {
	files := make([]policyFile, 0, len(stats))
	for _, st := range stats {
		data, err := fs.ReadFile(s.fsys, st.name)
		if err != nil {
			return nil, fmt.Errorf("read policy file %s: %w", st.name, err)
		}
		files = append(files, policyFile{name: st.name, data: data})
	}
	return files, nil
}

// hashFiles is "sha256:" over the files sorted by name. Each name and content
// is length-prefixed so no two different sets of files hash alike (e.g.
// moving a line from the end of a.cedar to the start of b.cedar).
func hashFiles(files []policyFile) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range files {
		binary.BigEndian.PutUint64(n[:], uint64(len(f.name)))
		h.Write(n[:])
		h.Write([]byte(f.name))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.data)))
		h.Write(n[:])
		h.Write(f.data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// racy reports whether any file was modified so shortly before readAt that a
// later same-size edit could keep its mtime (see racyWindow). A zero mtime
// (embed.FS) is never racy.
func racy(stats []fileStat, readAt time.Time) bool {
	for _, st := range stats {
		if !st.mod.IsZero() && st.mod.After(readAt.Add(-racyWindow)) {
			return true
		}
	}
	return false
}
