package workforce

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func validWorker() Worker {
	return Worker{
		ID: "ana-field", Name: "Ana", Email: "ana@field.example.com", Channel: ChannelEmail,
		Skills: []Skill{{Name: "id-verification", Level: 4}, {Name: "delivery", Level: 2}},
		Lat:    38.7, Lon: -9.1, RadiusKm: 15, TimeZone: "Europe/Lisbon",
		Availability: []Window{{Days: []int{1, 2, 3}, Start: "08:00", End: "17:30"}},
		Load:         0, MaxLoad: 3, Active: true,
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(w *Worker)
		field string
	}{
		{"no id", func(w *Worker) { w.ID = "" }, "id"},
		{"upper-case id", func(w *Worker) { w.ID = "Ana" }, "id"},
		{"id starting with a dot", func(w *Worker) { w.ID = ".ana" }, "id"},
		{"id too long", func(w *Worker) { w.ID = strings.Repeat("a", 65) }, "id"},
		{"no name", func(w *Worker) { w.Name = "  " }, "name"},
		{"name with a newline", func(w *Worker) { w.Name = "Ana\nBcc: x" }, "name"},
		{"no email", func(w *Worker) { w.Email = "" }, "email"},
		{"bad email", func(w *Worker) { w.Email = "not-an-address" }, "email"},
		{"email with a display name", func(w *Worker) { w.Email = "Ana <ana@example.com>" }, "email"},
		{"bad phone", func(w *Worker) { w.Phone = "912345678" }, "phone"},
		{"no channel", func(w *Worker) { w.Channel = "" }, "channel"},
		{"unknown channel", func(w *Worker) { w.Channel = "pigeon" }, "channel"},
		{"sms without phone", func(w *Worker) { w.Channel = ChannelSMS }, "phone"},
		{"sms with a short phone", func(w *Worker) { w.Channel, w.Phone = ChannelSMS, "+35191" }, "phone"},
		{"no skills", func(w *Worker) { w.Skills = nil }, "skills"},
		{"bad skill name", func(w *Worker) { w.Skills[1].Name = "Delivery" }, "skills[1].name"},
		{"skill name starting with a digit", func(w *Worker) { w.Skills[0].Name = "1st-aid" }, "skills[0].name"},
		{"skill level 0", func(w *Worker) { w.Skills[1].Level = 0 }, "skills[1].level"},
		{"skill level 6", func(w *Worker) { w.Skills[0].Level = 6 }, "skills[0].level"},
		{"duplicate skill", func(w *Worker) { w.Skills[1].Name = "id-verification" }, "skills[1].name"},
		{"lat over 90", func(w *Worker) { w.Lat = 90.5 }, "lat"},
		{"lon under -180", func(w *Worker) { w.Lon = -181 }, "lon"},
		{"radius 0", func(w *Worker) { w.RadiusKm = 0 }, "radiusKm"},
		{"radius over 500", func(w *Worker) { w.RadiusKm = 501 }, "radiusKm"},
		{"no time zone", func(w *Worker) { w.TimeZone = "" }, "timeZone"},
		{"unknown time zone", func(w *Worker) { w.TimeZone = "Europe/Atlantis" }, "timeZone"},
		{"host time zone", func(w *Worker) { w.TimeZone = "Local" }, "timeZone"},
		{"no availability", func(w *Worker) { w.Availability = nil }, "availability"},
		{"window without days", func(w *Worker) { w.Availability[0].Days = nil }, "availability[0].days"},
		{"day 0", func(w *Worker) { w.Availability[0].Days = []int{1, 0} }, "availability[0].days[1]"},
		{"day 8", func(w *Worker) { w.Availability[0].Days = []int{8} }, "availability[0].days[0]"},
		{"duplicate day", func(w *Worker) { w.Availability[0].Days = []int{2, 3, 2} }, "availability[0].days[2]"},
		{"bad start", func(w *Worker) { w.Availability[0].Start = "8:00" }, "availability[0].start"},
		{"start 24:00", func(w *Worker) { w.Availability[0].Start = "24:00" }, "availability[0].start"},
		{"bad end", func(w *Worker) { w.Availability[0].End = "17:60" }, "availability[0].end"},
		{"end before start", func(w *Worker) { w.Availability[0].End = "07:00" }, "availability[0].end"},
		{"end equal to start", func(w *Worker) { w.Availability[0].End = "08:00" }, "availability[0].end"},
		{"second window", func(w *Worker) {
			w.Availability = append(w.Availability, Window{Days: []int{6}, Start: "10:00", End: "09:00"})
		}, "availability[1].end"},
		{"negative load", func(w *Worker) { w.Load = -1 }, "load"},
		{"max load 0", func(w *Worker) { w.MaxLoad = 0 }, "maxLoad"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := validWorker()
			tc.edit(&w)
			err := Validate(w)
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "want *FieldError, got %T: %v", err, err)
			assert.Equal(t, tc.field, fe.Field, "error: %v", err)
			assert.Equal(t, fe.Field+": "+fe.Message, err.Error())
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	require.NoError(t, Validate(validWorker()))
	sms := validWorker()
	sms.Channel, sms.Phone = ChannelSMS, "+351912345678"
	require.NoError(t, Validate(sms))
	for _, w := range DemoWorkers() {
		assert.NoError(t, Validate(w), w.ID)
	}
}

func TestValidateRequirement(t *testing.T) {
	start := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	ok := Requirement{Skills: []Skill{{Name: "id-verification", Level: 3}}, Lat: LisbonLat, Lon: LisbonLon,
		Start: start, End: start.Add(time.Hour), Exclude: []string{"ana-field"}}
	require.NoError(t, ValidateRequirement(ok))
	cases := []struct {
		name  string
		edit  func(r *Requirement)
		field string
	}{
		{"no skills", func(r *Requirement) { r.Skills = nil }, "skills"},
		{"bad level", func(r *Requirement) { r.Skills[0].Level = 9 }, "skills[0].level"},
		{"bad lat", func(r *Requirement) { r.Lat = -91 }, "lat"},
		{"no start", func(r *Requirement) { r.Start = time.Time{} }, "start"},
		{"end before start", func(r *Requirement) { r.End = start.Add(-time.Minute) }, "end"},
		{"bad exclude", func(r *Requirement) { r.Exclude = []string{"ok", "NOT OK"} }, "exclude[1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			r.Skills = append([]Skill(nil), ok.Skills...)
			tc.edit(&r)
			var fe *FieldError
			require.ErrorAs(t, ValidateRequirement(r), &fe)
			assert.Equal(t, tc.field, fe.Field)
		})
	}
}

func TestDecodeWorker(t *testing.T) {
	w, err := DecodeWorker([]byte(`{"id":"x1","name":"X","skills":[{"name":"a","level":2}]}`))
	require.NoError(t, err)
	assert.Equal(t, "x1", w.ID)
	assert.Equal(t, []Skill{{Name: "a", Level: 2}}, w.Skills)

	cases := []struct {
		name, body, field string
	}{
		{"unknown field", `{"id":"x1","nmae":"X"}`, "nmae"},
		{"unknown nested field", `{"id":"x1","skills":[{"name":"a","lvl":2}]}`, "lvl"},
		{"wrong type", `{"id":"x1","load":"two"}`, "load"},
		{"malformed", `{"id":`, ""},
		{"two objects", `{} {}`, ""},
		{"not an object", `[1]`, ""},
		{"empty", ``, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeWorker([]byte(tc.body))
			require.Error(t, err)
			var fe *FieldError
			if tc.field == "" {
				assert.False(t, errors.As(err, &fe), "a malformed body names no field: %v", err)
				return
			}
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
		})
	}
}
