package humantask

import (
	"strings"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

func goodInput() Input {
	start := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	return Input{
		TaskID: "idv-1", Title: "Verify identity", Skills: []workforce.Skill{{Name: "id-verification", Level: 3}},
		Place: evidence.GeoPoint{Lat: 38.72, Lon: -9.14}, Start: start, End: start.Add(2 * time.Hour),
		Evidence:    evidence.Spec{Photos: []evidence.PhotoSpec{{Name: "id-document", MaxDistanceM: 100, Required: true}}, Signature: true},
		RequestedBy: "cli:ops",
	}
}

// Bad input is refused naming the field, before anything is routed.
func TestValidateInput(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Input)
		field string
	}{
		{"good", func(*Input) {}, ""},
		{"task id with a space", func(in *Input) { in.TaskID = "a b" }, "taskId"},
		{"no title", func(in *Input) { in.Title = " " }, "title"},
		{"no skills", func(in *Input) { in.Skills = nil }, "skills"},
		{"skill level 9", func(in *Input) { in.Skills[0].Level = 9 }, "skills[0]"},
		{"no place", func(in *Input) { in.Place = evidence.GeoPoint{} }, "place"},
		{"latitude 91", func(in *Input) { in.Place.Lat = 91 }, "place"},
		{"end before start", func(in *Input) { in.End = in.Start.Add(-time.Minute) }, "end"},
		{"negative timeout", func(in *Input) { in.AcceptTimeout = -time.Second }, "acceptTimeout"},
		{"no requester", func(in *Input) { in.RequestedBy = "" }, "requestedBy"},
		{"oversized context", func(in *Input) { in.Context = map[string]string{"note": strings.Repeat("x", 1001)} }, "context"},
		{"bad evidence spec", func(in *Input) { in.Evidence.Photos[0].MaxDistanceM = 0 }, "evidence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := goodInput()
			tt.edit(&in)
			err := validateInput(in)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("valid input refused: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(strings.TrimPrefix(err.Error(), "InvalidInput: "), tt.field) {
				t.Fatalf("error = %v, want it to name %s", err, tt.field)
			}
		})
	}
}
