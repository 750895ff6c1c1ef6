package evidence

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func goodSpec() Spec {
	return Spec{
		Photos:    []PhotoSpec{{Name: "front", Prompt: "The front door", MaxDistanceM: 100, Required: true}},
		Documents: []DocumentSpec{{Name: "contract", Types: []string{TypePDF}, Required: true}},
		Signature: true,
		Questions: []Question{
			{ID: "meter-reading", Prompt: "Meter reading", Type: QuestionNumber, Required: true},
			{ID: "door-ok", Prompt: "Door intact?", Type: QuestionBool, Required: true},
			{ID: "notes", Prompt: "Notes", Type: QuestionText},
		},
	}
}

func TestValidateSpec(t *testing.T) {
	require.NoError(t, ValidateSpec(goodSpec()))
	require.NoError(t, ValidateSpec(Spec{}), "an empty spec asks for nothing")

	cases := []struct {
		name  string
		mod   func(*Spec)
		field string
	}{
		{"photo without name", func(s *Spec) { s.Photos[0].Name = "" }, "photos[0].name"},
		{"photo name with capitals", func(s *Spec) { s.Photos[0].Name = "Front" }, "photos[0].name"},
		{"photo name with a path", func(s *Spec) { s.Photos[0].Name = "../front" }, "photos[0].name"},
		{"photo name too long", func(s *Spec) { s.Photos[0].Name = "a23456789012345678901234567890123456789012" }, "photos[0].name"},
		{"photo name twice", func(s *Spec) { s.Photos = append(s.Photos, PhotoSpec{Name: "front", MaxDistanceM: 1}) }, "photos[1].name"},
		{"document named as a photo", func(s *Spec) { s.Documents[0].Name = "front" }, "documents[0].name"},
		{"zero distance", func(s *Spec) { s.Photos[0].MaxDistanceM = 0 }, "photos[0].maxDistanceM"},
		{"negative distance", func(s *Spec) { s.Photos[0].MaxDistanceM = -5 }, "photos[0].maxDistanceM"},
		{"NaN distance", func(s *Spec) { s.Photos[0].MaxDistanceM = math.NaN() }, "photos[0].maxDistanceM"},
		{"negative check-in distance", func(s *Spec) { s.CheckInMaxDistanceM = -1 }, "checkInMaxDistanceM"},
		{"unknown document type", func(s *Spec) { s.Documents[0].Types = []string{TypePDF, "application/zip"} }, "documents[0].types[1]"},
		{"question without id", func(s *Spec) { s.Questions[1].ID = "" }, "questions[1].id"},
		{"question id twice", func(s *Spec) { s.Questions[2].ID = "door-ok" }, "questions[2].id"},
		{"unknown question type", func(s *Spec) { s.Questions[0].Type = "date" }, "questions[0].type"},
		{"prompt too long", func(s *Spec) { s.Questions[0].Prompt = string(make([]byte, 1001)) }, "questions[0].prompt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := goodSpec()
			tc.mod(&s)
			err := ValidateSpec(s)
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "want *FieldError, got %T: %v", err, err)
			assert.Equal(t, tc.field, fe.Field, fe.Error())
		})
	}
}
