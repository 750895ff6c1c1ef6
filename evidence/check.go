package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Source is what Check reads of the stored uploads; *Store implements it.
type Source interface {
	// Blob opens the bytes named sha (ErrNotFound if they are gone).
	Blob(ctx context.Context, sha string) (io.ReadCloser, Upload, error)
	// Upload is the metadata of the upload of sha for taskID's item:
	// who made it (ErrNotFound if there is none).
	Upload(ctx context.Context, sha, taskID, item string) (Upload, error)
	// OtherTasks lists the tasks other than taskID holding the same bytes.
	OtherTasks(ctx context.Context, sha, taskID string) ([]string, error)
}

var _ Source = (*Store)(nil)

// Limits of the checks.
const (
	// DefaultCheckInMaxDistanceM bounds the check-in's distance from the
	// place when the spec does not.
	DefaultCheckInMaxDistanceM = 200
	// PhotoFromCheckInMaxM: a photo farther from the check-in needs review.
	PhotoFromCheckInMaxM = 500
	// PhotoTimeGrace widens the task window for a photo's EXIF time
	// (camera clocks drift; people arrive a little early).
	PhotoTimeGrace = 15 * time.Minute
	// MaxTextAnswer bounds a text answer, in bytes.
	MaxTextAnswer = 4000
	// maxTypedName bounds the typed name of a signature, in bytes.
	maxTypedName = 200
)

// Check checks sub against spec, the place of the work and its window
// [start, end]. Each item is accepted, rejected or needs_review, with the
// reasons as sentences; the overall verdict is rejected if any item is,
// else needs_review if any item is, else accepted. Items come in this
// order: check-in, photos (spec order, then any not asked for), documents
// (likewise), signature, answers (spec order, then any not asked).
//
// The error is for what keeps the checks from running (the store failing,
// an invalid spec, place or window), never for bad evidence. Comparing the
// signature's typed name with the worker's name is the caller's: Check
// only requires one.
func Check(ctx context.Context, src Source, spec Spec, sub Submission, place GeoPoint, start, end time.Time) (Verdict, error) {
	switch {
	case src == nil:
		return Verdict{}, errors.New("check evidence: no source of uploads")
	case !validLatLon(place.Lat, place.Lon):
		return Verdict{}, fmt.Errorf("check evidence: place %v,%v is not a valid latitude/longitude", place.Lat, place.Lon)
	case start.IsZero() || end.IsZero() || end.Before(start):
		return Verdict{}, fmt.Errorf("check evidence: window %s to %s is not a time interval", start, end)
	}
	if err := ValidateSpec(spec); err != nil {
		return Verdict{}, fmt.Errorf("check evidence: spec: %w", err)
	}
	if sub.TaskID == "" || sub.WorkerID == "" {
		return finish([]Item{{Item: "submission", Verdict: Rejected, Reasons: []string{"the submission names no task or no worker"}}}), nil
	}
	c := &checker{src: src, spec: spec, sub: sub, place: place, start: start.UTC(), end: end.UTC(), seen: map[string]string{}}
	var items []Item
	if it := c.checkIn(); it != nil {
		items = append(items, *it)
	}
	for _, step := range []func(context.Context) ([]Item, error){c.photos, c.documents, c.signature} {
		its, err := step(ctx)
		if err != nil {
			return Verdict{}, fmt.Errorf("check evidence of task %s: %w", sub.TaskID, err)
		}
		items = append(items, its...)
	}
	items = append(items, c.answers()...)
	return finish(items), nil
}

func finish(items []Item) Verdict {
	v := Verdict{Overall: Accepted, Items: items}
	for _, it := range items {
		switch {
		case it.Verdict == Rejected:
			v.Overall = Rejected
		case it.Verdict == NeedsReview && v.Overall == Accepted:
			v.Overall = NeedsReview
		}
	}
	return v
}

type checker struct {
	src        Source
	spec       Spec
	sub        Submission
	place      GeoPoint
	start, end time.Time
	// checkInAt is the check-in position when it is a valid one.
	checkInAt *GeoPoint
	// seen maps each file of the submission to the first item it was
	// submitted as.
	seen map[string]string
}

func newItem(item, sha string) *Item { return &Item{Item: item, SHA256: sha, Verdict: Accepted} }

func (it *Item) reject(format string, args ...any) {
	it.Verdict = Rejected
	it.Reasons = append(it.Reasons, fmt.Sprintf(format, args...))
}

func (it *Item) review(format string, args ...any) {
	if it.Verdict != Rejected {
		it.Verdict = NeedsReview
	}
	it.Reasons = append(it.Reasons, fmt.Sprintf(format, args...))
}

func (c *checker) checkIn() *Item {
	ci := c.sub.CheckIn
	if ci == nil {
		if len(c.spec.Photos) > 0 {
			it := newItem(CheckInItem, "")
			it.reject("a check-in is required when the task asks for photos")
			return it
		}
		return nil
	}
	it := newItem(CheckInItem, "")
	at := *ci
	it.GPS = &at
	limit := c.spec.CheckInMaxDistanceM
	if limit == 0 {
		limit = DefaultCheckInMaxDistanceM
	}
	if !validLatLon(ci.Lat, ci.Lon) {
		it.reject("check-in position %v,%v is not a valid latitude/longitude", ci.Lat, ci.Lon)
	} else {
		c.checkInAt = &at
		if d := distanceM(c.place, *ci); d > limit {
			it.reject("check-in %s from the site (limit %s)", formatDistance(d), formatDistance(limit))
		}
	}
	switch {
	case ci.At.IsZero():
		it.reject("check-in has no time")
	case ci.At.Before(c.start) || ci.At.After(c.end):
		it.reject("check-in at %s is outside the task window %s", formatTime(ci.At), c.window())
	}
	return it
}

func (c *checker) window() string {
	return formatTime(c.start) + " to " + formatTime(c.end)
}

// load finds the upload of sha for item, made by the submitting worker for
// this task, and returns its bytes after re-hashing them. bad says why the
// file cannot be taken (and then data is nil); err is the store failing.
func (c *checker) load(ctx context.Context, item, sha string) (data []byte, bad string, err error) {
	if !ValidSHA256(sha) {
		return nil, fmt.Sprintf("%q is not the SHA-256 of an upload", clip(sha)), nil
	}
	up, err := c.src.Upload(ctx, sha, c.sub.TaskID, item)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Sprintf("file %s was not uploaded for %s of task %s", short(sha), item, c.sub.TaskID), nil
	}
	if err != nil {
		return nil, "", err
	}
	if up.UploadedBy != c.sub.WorkerID {
		return nil, fmt.Sprintf("file %s was uploaded by %s, not by %s who submitted it", short(sha), up.UploadedBy, c.sub.WorkerID), nil
	}
	rc, _, err := c.src.Blob(ctx, sha)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Sprintf("file %s is missing from the store", short(sha)), nil
	}
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	data, err = io.ReadAll(io.LimitReader(rc, MaxUploadBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", short(sha), err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != sha {
		return nil, fmt.Sprintf("file %s no longer matches its SHA-256: it was altered after upload", short(sha)), nil
	}
	return data, "", nil
}

// reused flags a file submitted as two items of one submission.
func (c *checker) reused(it *Item, sha string) {
	if first, ok := c.seen[sha]; ok {
		it.review("the same file is also submitted as %s", first)
		return
	}
	c.seen[sha] = it.Item
}

func (c *checker) photos(ctx context.Context) ([]Item, error) {
	var out []Item
	for _, p := range c.spec.Photos {
		sha := c.sub.Photos[p.Name]
		if sha == "" {
			if p.Required {
				it := newItem(PhotoItem(p.Name), "")
				it.reject("required photo is missing")
				out = append(out, *it)
			}
			continue
		}
		it, err := c.photo(ctx, p, sha)
		if err != nil {
			return nil, err
		}
		out = append(out, *it)
	}
	return append(out, notAsked(c.sub.Photos, func(name string) bool {
		return slices.ContainsFunc(c.spec.Photos, func(p PhotoSpec) bool { return p.Name == name })
	}, PhotoItem)...), nil
}

func (c *checker) photo(ctx context.Context, p PhotoSpec, sha string) (*Item, error) {
	it := newItem(PhotoItem(p.Name), sha)
	data, bad, err := c.load(ctx, it.Item, sha)
	if err != nil || bad != "" {
		if bad != "" {
			it.reject("%s", bad)
		}
		return it, err
	}
	c.reused(it, sha)
	var (
		gps     *GeoPoint
		takenAt *time.Time
	)
	switch typ := sniff(head(data)); typ {
	case TypeJPEG:
		if gps, takenAt, err = ReadPhotoMeta(data); err != nil {
			it.review("could not read the photo's EXIF: %v", err)
		}
	case TypePNG:
		// A PNG carries no camera EXIF: no position, no time.
	default:
		it.reject("the file is %s, not a photo (JPEG or PNG)", typ)
		return it, nil
	}

	if gps == nil {
		it.review("no GPS in the photo")
	} else {
		it.GPS = gps
		if d := distanceM(c.place, *gps); d > p.MaxDistanceM {
			it.reject("photo taken %s from the site (limit %s)", formatDistance(d), formatDistance(p.MaxDistanceM))
		}
		if c.checkInAt != nil {
			if d := distanceM(*c.checkInAt, *gps); d > PhotoFromCheckInMaxM {
				it.review("photo taken %s from the check-in (limit %s)", formatDistance(d), formatDistance(PhotoFromCheckInMaxM))
			}
		}
	}
	if takenAt == nil {
		it.review("no time in the photo")
	} else {
		it.TakenAt = takenAt
		if takenAt.Before(c.start.Add(-PhotoTimeGrace)) || takenAt.After(c.end.Add(PhotoTimeGrace)) {
			it.reject("photo taken at %s, outside the task window %s (%d min grace)", formatTime(*takenAt), c.window(), int(PhotoTimeGrace.Minutes()))
		}
	}

	others, err := c.src.OtherTasks(ctx, sha, c.sub.TaskID)
	if err != nil {
		return nil, err
	}
	switch len(others) {
	case 0:
	case 1:
		it.review("the same photo was submitted for task %s", others[0])
	default:
		it.review("the same photo was submitted for tasks %s", strings.Join(others, ", "))
	}
	return it, nil
}

func (c *checker) documents(ctx context.Context) ([]Item, error) {
	var out []Item
	for _, d := range c.spec.Documents {
		sha := c.sub.Documents[d.Name]
		it := newItem(DocumentItem(d.Name), sha)
		if sha == "" {
			if d.Required {
				it.reject("required document is missing")
				out = append(out, *it)
			}
			continue
		}
		data, bad, err := c.load(ctx, it.Item, sha)
		if err != nil {
			return nil, err
		}
		if bad != "" {
			it.reject("%s", bad)
			out = append(out, *it)
			continue
		}
		c.reused(it, sha)
		types := d.Types
		if len(types) == 0 {
			types = AllowedTypes()
		}
		if typ := sniff(head(data)); !slices.Contains(types, typ) {
			it.reject("the file is %s; the task accepts %s", typ, strings.Join(types, ", "))
		}
		out = append(out, *it)
	}
	return append(out, notAsked(c.sub.Documents, func(name string) bool {
		return slices.ContainsFunc(c.spec.Documents, func(d DocumentSpec) bool { return d.Name == name })
	}, DocumentItem)...), nil
}

func (c *checker) signature(ctx context.Context) ([]Item, error) {
	sig := c.sub.Signature
	if !c.spec.Signature && sig == nil {
		return nil, nil
	}
	it := newItem(SignatureItem, "")
	switch {
	case sig == nil:
		it.reject("a signature is required")
		return []Item{*it}, nil
	case !c.spec.Signature:
		it.reject("not asked for")
		return []Item{*it}, nil
	}
	it.SHA256 = sig.SHA256
	if sig.SHA256 == "" {
		it.reject("the drawn signature is missing")
	} else {
		data, bad, err := c.load(ctx, SignatureItem, sig.SHA256)
		if err != nil {
			return nil, err
		}
		if bad != "" {
			it.reject("%s", bad)
		} else {
			c.reused(it, sig.SHA256)
			if typ := sniff(head(data)); typ != TypePNG {
				it.reject("the drawn signature is %s, not a PNG", typ)
			}
		}
	}
	switch name := strings.TrimSpace(sig.TypedName); {
	case name == "":
		it.reject("the typed name is empty")
	case len(name) > maxTypedName || !utf8.ValidString(name):
		it.reject("the typed name is not at most %d bytes of UTF-8", maxTypedName)
	}
	return []Item{*it}, nil
}

func (c *checker) answers() []Item {
	var out []Item
	for _, q := range c.spec.Questions {
		v, ok := c.sub.Answers[q.ID]
		if s, isText := v.(string); isText && q.Type == QuestionText && strings.TrimSpace(s) == "" {
			ok = false // an empty text is no answer
		}
		if !ok || v == nil {
			if q.Required {
				it := newItem(AnswerItem(q.ID), "")
				it.reject("required answer is missing")
				out = append(out, *it)
			}
			continue
		}
		it := newItem(AnswerItem(q.ID), "")
		switch q.Type {
		case QuestionText:
			if s, isText := v.(string); !isText {
				it.reject("the answer must be text, not %s", kindOf(v))
			} else if len(s) > MaxTextAnswer || !utf8.ValidString(s) {
				it.reject("the answer is longer than %d bytes", MaxTextAnswer)
			}
		case QuestionBool:
			if _, isBool := v.(bool); !isBool {
				it.reject("the answer must be yes or no (true/false), not %s", kindOf(v))
			}
		case QuestionNumber:
			if f, isNum := number(v); !isNum {
				it.reject("the answer must be a number, not %s", kindOf(v))
			} else if !finite(f) {
				it.reject("the answer is not a finite number")
			}
		}
		out = append(out, *it)
	}
	return append(out, notAsked(c.sub.Answers, func(id string) bool {
		return slices.ContainsFunc(c.spec.Questions, func(q Question) bool { return q.ID == id })
	}, AnswerItem)...)
}

// notAsked rejects the entries of m the spec does not ask for, by name.
func notAsked[V any](m map[string]V, asked func(string) bool, item func(string) string) []Item {
	var names []string
	for name := range m {
		if !asked(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var out []Item
	for _, name := range names {
		it := newItem(item(clip(name)), "")
		it.reject("not asked for")
		out = append(out, *it)
	}
	return out
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "text"
	case bool:
		return "true/false"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	if _, ok := number(v); ok {
		return "a number"
	}
	return fmt.Sprintf("a %T", v)
}

func head(data []byte) []byte { return data[:min(len(data), 512)] }

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// earthRadiusM is the mean Earth radius (IUGG).
const earthRadiusM = 6371008.8

// distanceM is the great-circle (haversine) distance in metres.
func distanceM(a, b GeoPoint) float64 {
	rad := func(d float64) float64 { return d * math.Pi / 180 }
	dLat, dLon := rad(b.Lat-a.Lat), rad(b.Lon-a.Lon)
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(rad(a.Lat))*math.Cos(rad(b.Lat))*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(h)))
}

// formatDistance writes metres as "80 m" or, from 1 km, "5.0 km".
func formatDistance(m float64) string {
	if math.Round(m) >= 1000 {
		return fmt.Sprintf("%.1f km", m/1000)
	}
	return fmt.Sprintf("%.0f m", m)
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
