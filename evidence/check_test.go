package evidence

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/evidence/evidencetest"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
)

var (
	site        = GeoPoint{Lat: 38.7223, Lon: -9.1393}
	windowStart = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	windowEnd   = time.Date(2026, 5, 4, 17, 0, 0, 0, time.UTC)
	onSite      = time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC)
)

// north returns the point m metres north of p (negative: south).
func north(p GeoPoint, m float64) GeoPoint {
	p.Lat += m / (earthRadiusM * 2 * 3.141592653589793 / 360)
	return p
}

// fixture is a good submission of task-1 by ana, its uploads stored.
type fixture struct {
	s     *Store
	spec  Spec
	sub   Submission
	photo []byte
}

func newFixture(t *testing.T, s *Store) *fixture {
	t.Helper()
	photoAt := north(site, 20)
	photo := evidencetest.JPEG(photoAt.Lat, photoAt.Lon, onSite)
	ci := north(site, 10)
	ci.At, ci.AccuracyM = onSite.Add(-5*time.Minute), 8
	return &fixture{
		s:     s,
		spec:  goodSpec(),
		photo: photo,
		sub: Submission{
			TaskID:    "task-1",
			WorkerID:  "ana",
			CheckIn:   &ci,
			Photos:    map[string]string{"front": put(t, s, "task-1", "photo:front", "ana", photo).SHA256},
			Documents: map[string]string{"contract": put(t, s, "task-1", "document:contract", "ana", evidencetest.PDF()).SHA256},
			Signature: &Signature{SHA256: put(t, s, "task-1", "signature", "ana", evidencetest.PNG()).SHA256, TypedName: "Ana Ferreira"},
			Answers:   map[string]any{"meter-reading": 1234.5, "door-ok": true, "notes": "all fine"},
		},
	}
}

// usePhoto uploads b as task-1's front photo by ana and submits it.
func (f *fixture) usePhoto(t *testing.T, b []byte) {
	f.sub.Photos["front"] = put(t, f.s, "task-1", "photo:front", "ana", b).SHA256
}

func photoAt(p GeoPoint, at time.Time) []byte { return evidencetest.JPEG(p.Lat, p.Lon, at) }

func TestCheck(t *testing.T) {
	cases := []struct {
		name     string
		mod      func(t *testing.T, f *fixture)
		overall  string
		item     string // the item to look at ("" for none)
		verdict  string
		contains string
	}{
		{name: "good submission", mod: func(*testing.T, *fixture) {}, overall: Accepted},
		{name: "answers as decoded from JSON", overall: Accepted, mod: func(t *testing.T, f *fixture) {
			f.sub.Answers = nil
			require.NoError(t, json.Unmarshal([]byte(`{"meter-reading": 17, "door-ok": false}`), &f.sub.Answers))
		}},
		{name: "empty optional text is no answer", overall: Accepted, mod: func(_ *testing.T, f *fixture) { f.sub.Answers["notes"] = "  " }},

		// Check-in.
		{name: "check-in too far", overall: Rejected, item: "check-in", verdict: Rejected,
			contains: "check-in 1.0 km from the site (limit 200 m)",
			mod:      func(_ *testing.T, f *fixture) { *f.sub.CheckIn = north(site, 1000); f.sub.CheckIn.At = onSite }},
		{name: "check-in limit from the spec", overall: Rejected, item: "check-in", verdict: Rejected,
			contains: "check-in 80 m from the site (limit 50 m)",
			mod: func(_ *testing.T, f *fixture) {
				f.spec.CheckInMaxDistanceM = 50
				*f.sub.CheckIn = north(site, 80)
				f.sub.CheckIn.At = onSite
			}},
		{name: "check-in missing", overall: Rejected, item: "check-in", verdict: Rejected, contains: "check-in is required",
			mod: func(_ *testing.T, f *fixture) { f.sub.CheckIn = nil }},
		{name: "check-in after the window", overall: Rejected, item: "check-in", verdict: Rejected,
			contains: "check-in at 2026-05-04 17:01 UTC is outside the task window 2026-05-04 09:00 UTC to 2026-05-04 17:00 UTC",
			mod:      func(_ *testing.T, f *fixture) { f.sub.CheckIn.At = windowEnd.Add(time.Minute) }},
		{name: "check-in without time", overall: Rejected, item: "check-in", verdict: Rejected, contains: "no time",
			mod: func(_ *testing.T, f *fixture) { f.sub.CheckIn.At = time.Time{} }},
		{name: "check-in off the globe", overall: Rejected, item: "check-in", verdict: Rejected, contains: "not a valid latitude",
			mod: func(_ *testing.T, f *fixture) { f.sub.CheckIn.Lat = 91 }},

		// Photos: place, time, reuse.
		{name: "photo 5 km from the site", overall: Rejected, item: "photo:front", verdict: Rejected,
			contains: "photo taken 5.0 km from the site (limit 100 m)",
			mod:      func(t *testing.T, f *fixture) { f.usePhoto(t, photoAt(north(site, 5000), onSite)) }},
		{name: "photo on the other side of the world", overall: Rejected, item: "photo:front", verdict: Rejected,
			contains: "from the site (limit 100 m)",
			mod:      func(t *testing.T, f *fixture) { f.usePhoto(t, photoAt(GeoPoint{Lat: -38.7223, Lon: 170.8607}, onSite)) }},
		{name: "photo without GPS", overall: NeedsReview, item: "photo:front", verdict: NeedsReview, contains: "no GPS in the photo",
			mod: func(t *testing.T, f *fixture) { f.usePhoto(t, evidencetest.NoGPSJPEG(onSite)) }},
		{name: "photo without EXIF", overall: NeedsReview, item: "photo:front", verdict: NeedsReview, contains: "no time in the photo",
			mod: func(t *testing.T, f *fixture) { f.usePhoto(t, evidencetest.PlainJPEG()) }},
		{name: "png photo", overall: NeedsReview, item: "photo:front", verdict: NeedsReview, contains: "no GPS in the photo",
			mod: func(t *testing.T, f *fixture) { f.usePhoto(t, evidencetest.PNG()) }},
		{name: "photo before the window", overall: Rejected, item: "photo:front", verdict: Rejected,
			contains: "photo taken at 2026-05-04 08:00 UTC, outside the task window 2026-05-04 09:00 UTC to 2026-05-04 17:00 UTC (15 min grace)",
			mod:      func(t *testing.T, f *fixture) { f.usePhoto(t, photoAt(site, windowStart.Add(-time.Hour))) }},
		{name: "photo after the window", overall: Rejected, item: "photo:front", verdict: Rejected, contains: "outside the task window",
			mod: func(t *testing.T, f *fixture) { f.usePhoto(t, photoAt(site, windowEnd.Add(16*time.Minute))) }},
		{name: "photo within the grace", overall: Accepted,
			mod: func(t *testing.T, f *fixture) { f.usePhoto(t, photoAt(site, windowStart.Add(-14*time.Minute))) }},
		{name: "photo time with its zone", overall: Accepted, mod: func(t *testing.T, f *fixture) {
			f.usePhoto(t, evidencetest.JPEGWith(evidencetest.Photo{Lat: site.Lat, Lon: site.Lon, TakenAt: onSite.In(time.FixedZone("", 5*3600)), WithOffset: true}))
		}},
		{name: "photo as editing software saves it", overall: Accepted, mod: func(t *testing.T, f *fixture) {
			f.usePhoto(t, evidencetest.JPEGWith(evidencetest.Photo{Lat: site.Lat, Lon: site.Lon, TakenAt: onSite, ValuesFirst: true}))
		}},
		{name: "photo far from the check-in", overall: NeedsReview, item: "photo:front", verdict: NeedsReview,
			contains: "photo taken 590 m from the check-in (limit 500 m)",
			mod: func(t *testing.T, f *fixture) {
				f.spec.Photos[0].MaxDistanceM = 1000
				*f.sub.CheckIn = north(site, 190)
				f.sub.CheckIn.At = onSite
				f.usePhoto(t, photoAt(north(site, -400), onSite))
			}},
		{name: "photo reused from another task", overall: NeedsReview, item: "photo:front", verdict: NeedsReview,
			contains: "the same photo was submitted for task task-0",
			mod:      func(t *testing.T, f *fixture) { put(t, f.s, "task-0", "photo:front", "bruno", f.photo) }},
		{name: "photo reused from two tasks", overall: NeedsReview, item: "photo:front", verdict: NeedsReview,
			contains: "the same photo was submitted for tasks task-0, task-7",
			mod: func(t *testing.T, f *fixture) {
				put(t, f.s, "task-7", "photo:back", "carla", f.photo)
				put(t, f.s, "task-0", "photo:front", "bruno", f.photo)
			}},
		{name: "one file as two photos", overall: NeedsReview, item: "photo:back", verdict: NeedsReview,
			contains: "the same file is also submitted as photo:front",
			mod: func(t *testing.T, f *fixture) {
				f.spec.Photos = append(f.spec.Photos, PhotoSpec{Name: "back", MaxDistanceM: 100})
				f.sub.Photos["back"] = put(t, f.s, "task-1", "photo:back", "ana", f.photo).SHA256
			}},

		// Photos: whose and which bytes.
		{name: "photo uploaded by another worker", overall: Rejected, item: "photo:front", verdict: Rejected,
			contains: "was uploaded by bruno, not by ana who submitted it",
			mod: func(t *testing.T, f *fixture) {
				b := evidencetest.JPEGWith(evidencetest.Photo{Lat: site.Lat, Lon: site.Lon, TakenAt: onSite, Variant: 1})
				f.sub.Photos["front"] = put(t, f.s, "task-1", "photo:front", "bruno", b).SHA256
			}},
		{name: "photo uploaded for another task", overall: Rejected, item: "photo:front", verdict: Rejected,
			contains: "was not uploaded for photo:front of task task-1",
			mod: func(t *testing.T, f *fixture) {
				f.sub.Photos["front"] = put(t, f.s, "task-9", "photo:front", "ana", photoAt(site, onSite)).SHA256
			}},
		{name: "photo uploaded as another item", overall: Rejected, item: "photo:front", verdict: Rejected,
			contains: "was not uploaded for photo:front",
			mod: func(t *testing.T, f *fixture) {
				f.sub.Photos["front"] = put(t, f.s, "task-1", "photo:back", "ana", photoAt(site, onSite)).SHA256
			}},
		{name: "tampered blob", overall: Rejected, item: "photo:front", verdict: Rejected,
			contains: "no longer matches its SHA-256: it was altered after upload",
			mod: func(t *testing.T, f *fixture) {
				require.NoError(t, os.WriteFile(f.s.blobPath(f.sub.Photos["front"]), photoAt(site, onSite.Add(time.Minute)), 0o600))
			}},
		{name: "blob gone", overall: Rejected, item: "photo:front", verdict: Rejected, contains: "missing from the store",
			mod: func(t *testing.T, f *fixture) { require.NoError(t, os.Remove(f.s.blobPath(f.sub.Photos["front"]))) }},
		{name: "not a hash", overall: Rejected, item: "photo:front", verdict: Rejected, contains: "is not the SHA-256 of an upload",
			mod: func(_ *testing.T, f *fixture) { f.sub.Photos["front"] = "../../etc/passwd" }},
		{name: "never uploaded", overall: Rejected, item: "photo:front", verdict: Rejected, contains: "was not uploaded",
			mod: func(_ *testing.T, f *fixture) { f.sub.Photos["front"] = hashOf([]byte("nothing")) }},
		{name: "required photo missing", overall: Rejected, item: "photo:front", verdict: Rejected, contains: "required photo is missing",
			mod: func(_ *testing.T, f *fixture) { delete(f.sub.Photos, "front") }},
		{name: "photo not asked for", overall: Rejected, item: "photo:extra", verdict: Rejected, contains: "not asked for",
			mod: func(t *testing.T, f *fixture) {
				f.sub.Photos["extra"] = put(t, f.s, "task-1", "photo:extra", "ana", photoAt(site, onSite)).SHA256
			}},
		{name: "pdf as a photo", overall: Rejected, item: "photo:front", verdict: Rejected, contains: "the file is application/pdf, not a photo",
			mod: func(t *testing.T, f *fixture) { f.usePhoto(t, evidencetest.PDF()) }},

		// Documents.
		{name: "document of the wrong type", overall: Rejected, item: "document:contract", verdict: Rejected,
			contains: "the file is image/jpeg; the task accepts application/pdf",
			mod: func(t *testing.T, f *fixture) {
				f.sub.Documents["contract"] = put(t, f.s, "task-1", "document:contract", "ana", evidencetest.PlainJPEG()).SHA256
			}},
		{name: "required document missing", overall: Rejected, item: "document:contract", verdict: Rejected, contains: "required document is missing",
			mod: func(_ *testing.T, f *fixture) { f.sub.Documents = nil }},
		{name: "optional document absent", overall: Accepted,
			mod: func(_ *testing.T, f *fixture) { f.spec.Documents[0].Required = false; f.sub.Documents = nil }},

		// Signature.
		{name: "missing required signature", overall: Rejected, item: "signature", verdict: Rejected, contains: "a signature is required",
			mod: func(_ *testing.T, f *fixture) { f.sub.Signature = nil }},
		{name: "signature not a png", overall: Rejected, item: "signature", verdict: Rejected, contains: "the drawn signature is image/jpeg, not a PNG",
			mod: func(t *testing.T, f *fixture) {
				f.sub.Signature.SHA256 = put(t, f.s, "task-1", "signature", "ana", evidencetest.PlainJPEG()).SHA256
			}},
		{name: "signature without drawing", overall: Rejected, item: "signature", verdict: Rejected, contains: "drawn signature is missing",
			mod: func(_ *testing.T, f *fixture) { f.sub.Signature.SHA256 = "" }},
		{name: "signature without typed name", overall: Rejected, item: "signature", verdict: Rejected, contains: "typed name is empty",
			mod: func(_ *testing.T, f *fixture) { f.sub.Signature.TypedName = " " }},
		{name: "signature not asked for", overall: Rejected, item: "signature", verdict: Rejected, contains: "not asked for",
			mod: func(_ *testing.T, f *fixture) { f.spec.Signature = false }},

		// Answers.
		{name: "wrong answer type", overall: Rejected, item: "answer:meter-reading", verdict: Rejected, contains: "the answer must be a number, not text",
			mod: func(_ *testing.T, f *fixture) { f.sub.Answers["meter-reading"] = "1234" }},
		{name: "text for a yes/no", overall: Rejected, item: "answer:door-ok", verdict: Rejected, contains: "must be yes or no",
			mod: func(_ *testing.T, f *fixture) { f.sub.Answers["door-ok"] = "yes" }},
		{name: "number for text", overall: Rejected, item: "answer:notes", verdict: Rejected, contains: "must be text, not a number",
			mod: func(_ *testing.T, f *fixture) { f.sub.Answers["notes"] = 3.0 }},
		{name: "text too long", overall: Rejected, item: "answer:notes", verdict: Rejected, contains: "longer than 4000 bytes",
			mod: func(_ *testing.T, f *fixture) { f.sub.Answers["notes"] = strings.Repeat("x", MaxTextAnswer+1) }},
		{name: "required answer missing", overall: Rejected, item: "answer:door-ok", verdict: Rejected, contains: "required answer is missing",
			mod: func(_ *testing.T, f *fixture) { delete(f.sub.Answers, "door-ok") }},
		{name: "null answer", overall: Rejected, item: "answer:meter-reading", verdict: Rejected, contains: "required answer is missing",
			mod: func(_ *testing.T, f *fixture) { f.sub.Answers["meter-reading"] = nil }},
		{name: "answer not asked", overall: Rejected, item: "answer:foo", verdict: Rejected, contains: "not asked for",
			mod: func(_ *testing.T, f *fixture) { f.sub.Answers["foo"] = 1 }},

		// The submission itself.
		{name: "no worker", overall: Rejected, item: "submission", verdict: Rejected, contains: "no task or no worker",
			mod: func(_ *testing.T, f *fixture) { f.sub.WorkerID = "" }},
		{name: "another worker's submission", overall: Rejected, item: "photo:front", verdict: Rejected, contains: "not by bruno who submitted it",
			mod: func(_ *testing.T, f *fixture) { f.sub.WorkerID = "bruno" }},
	}
	each(t, "evidence_check", func(t *testing.T, e testdb.Engine) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, openStore(t, e))
				tc.mod(t, f)
				v, err := Check(context.Background(), f.s, f.spec, f.sub, site, windowStart, windowEnd)
				require.NoError(t, err)
				assert.Equal(t, tc.overall, v.Overall, "%+v", v)
				if tc.item == "" {
					for _, it := range v.Items {
						assert.Equal(t, Accepted, it.Verdict, "%s: %v", it.Item, it.Reasons)
					}
					return
				}
				it, ok := findItem(v, tc.item)
				require.True(t, ok, "no item %s in %+v", tc.item, v)
				assert.Equal(t, tc.verdict, it.Verdict, "%v", it.Reasons)
				assert.Contains(t, strings.Join(it.Reasons, "\n"), tc.contains)
			})
		}
	})
}

func findItem(v Verdict, name string) (Item, bool) {
	for _, it := range v.Items {
		if it.Item == name {
			return it, true
		}
	}
	return Item{}, false
}

func TestCheckRecordsWhatItRead(t *testing.T) {
	f := newFixture(t, openStore(t, testdb.Engines("evidence_record")[0]))
	v, err := Check(context.Background(), f.s, f.spec, f.sub, site, windowStart, windowEnd)
	require.NoError(t, err)
	require.Equal(t, Accepted, v.Overall)

	var names []string
	for _, it := range v.Items {
		names = append(names, it.Item)
	}
	assert.Equal(t, []string{"check-in", "photo:front", "document:contract", "signature", "answer:meter-reading", "answer:door-ok", "answer:notes"}, names)

	photo := v.Items[1]
	assert.Equal(t, hashOf(f.photo), photo.SHA256)
	require.NotNil(t, photo.GPS)
	assert.InDelta(t, 20, distanceM(site, *photo.GPS), 0.5)
	require.NotNil(t, photo.TakenAt)
	assert.True(t, onSite.Equal(*photo.TakenAt))
	require.NotNil(t, v.Items[0].GPS)
	assert.Equal(t, *f.sub.CheckIn, *v.Items[0].GPS)
	assert.Equal(t, f.sub.Signature.SHA256, v.Items[3].SHA256)

	// The rejected and the reviewed order the same way; the worst wins.
	f.sub.Answers["door-ok"] = "yes"
	f.usePhoto(t, evidencetest.NoGPSJPEG(onSite))
	v, err = Check(context.Background(), f.s, f.spec, f.sub, site, windowStart, windowEnd)
	require.NoError(t, err)
	assert.Equal(t, Rejected, v.Overall)
	assert.Equal(t, NeedsReview, v.Items[1].Verdict)
	assert.Equal(t, Rejected, v.Items[5].Verdict)
}

func TestCheckWithoutPhotosNeedsNoCheckIn(t *testing.T) {
	s := openStore(t, testdb.Engines("evidence_nophoto")[0])
	spec := Spec{Questions: []Question{{ID: "ok", Type: QuestionBool, Required: true}}}
	v, err := Check(context.Background(), s, spec, Submission{TaskID: "task-1", WorkerID: "ana", Answers: map[string]any{"ok": true}}, site, windowStart, windowEnd)
	require.NoError(t, err)
	assert.Equal(t, Verdict{Overall: Accepted, Items: []Item{{Item: "answer:ok", Verdict: Accepted}}}, v)
}

// failingSource is a store that is down.
type failingSource struct{ upload Upload }

var errDown = errors.New("database is down")

func (f failingSource) Blob(context.Context, string) (io.ReadCloser, Upload, error) {
	return nil, Upload{}, errDown
}

func (f failingSource) Upload(context.Context, string, string, string) (Upload, error) {
	if f.upload.SHA256 != "" {
		return f.upload, nil
	}
	return Upload{}, errDown
}

func (f failingSource) OtherTasks(context.Context, string, string) ([]string, error) {
	return nil, errDown
}

func TestCheckErrors(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, testdb.Engines("evidence_errors")[0])
	f := newFixture(t, s)

	bad := f.spec
	bad.Photos = []PhotoSpec{{Name: "front"}}
	_, err := Check(ctx, s, bad, f.sub, site, windowStart, windowEnd)
	assert.ErrorContains(t, err, "photos[0].maxDistanceM")
	_, err = Check(ctx, s, f.spec, f.sub, site, windowEnd, windowStart)
	assert.ErrorContains(t, err, "window")
	_, err = Check(ctx, s, f.spec, f.sub, GeoPoint{Lat: 100}, windowStart, windowEnd)
	assert.ErrorContains(t, err, "place")
	_, err = Check(ctx, nil, f.spec, f.sub, site, windowStart, windowEnd)
	assert.Error(t, err)

	// A store that fails is an error, never a verdict on the evidence.
	_, err = Check(ctx, failingSource{}, f.spec, f.sub, site, windowStart, windowEnd)
	assert.ErrorIs(t, err, errDown)
	_, err = Check(ctx, failingSource{upload: Upload{SHA256: f.sub.Photos["front"], UploadedBy: "ana"}}, f.spec, f.sub, site, windowStart, windowEnd)
	assert.ErrorIs(t, err, errDown)
}

func TestFormatDistance(t *testing.T) {
	for m, want := range map[float64]string{0: "0 m", 80.4: "80 m", 999.4: "999 m", 999.6: "1.0 km", 5000: "5.0 km", 12345: "12.3 km"} {
		assert.Equal(t, want, formatDistance(m), "%v", m)
	}
	assert.InDelta(t, 5000, distanceM(site, north(site, 5000)), 0.01)
}
