package chat_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/execution-orchestrator/orchestrator/connectors/chat"
)

func TestParseCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want chat.Command
		ok   bool
	}{
		{"ack ESC-123", chat.Command{Verb: chat.VerbAck, Ref: "ESC-123"}, true},
		{"ACK ESC-123", chat.Command{Verb: chat.VerbAck, Ref: "ESC-123"}, true},
		{"  Ack\tESC-123  \n", chat.Command{Verb: chat.VerbAck, Ref: "ESC-123"}, true},
		{"/ack ESC-123", chat.Command{Verb: chat.VerbAck, Ref: "ESC-123"}, true},
		{"acknowledge TCK-SUP-1", chat.Command{Verb: chat.VerbAck, Ref: "TCK-SUP-1"}, true},
		{"ack customer-escalation-ACC-GLOBEX:TCK-SUP-1", chat.Command{Verb: chat.VerbAck, Ref: "customer-escalation-ACC-GLOBEX:TCK-SUP-1"}, true},
		{"ack esc-7", chat.Command{Verb: chat.VerbAck, Ref: "esc-7"}, true},
		{"resolved ESC-9", chat.Command{Verb: chat.VerbResolved, Ref: "ESC-9"}, true},
		{"Resolve ESC-9", chat.Command{Verb: chat.VerbResolved, Ref: "ESC-9"}, true},
		{"reassign ESC-9 @Noor", chat.Command{Verb: chat.VerbReassign, Ref: "ESC-9", Handle: "@noor"}, true},
		{"REASSIGN ESC-9 @mateo.r", chat.Command{Verb: chat.VerbReassign, Ref: "ESC-9", Handle: "@mateo.r"}, true},

		{"", chat.Command{}, false},
		{"ack", chat.Command{}, false},
		{"ack  ", chat.Command{}, false},
		{"ack ESC-1 please", chat.Command{}, false},
		{"ack ESC-1 ESC-2", chat.Command{}, false},
		{"please ack ESC-1", chat.Command{}, false},
		{"acked ESC-1", chat.Command{}, false},
		{"ack ESC-1.", chat.Command{}, false},
		{"ack -ESC-1", chat.Command{}, false},
		{"ack <script>alert(1)</script>", chat.Command{}, false},
		{"ack ESC-1;rm", chat.Command{}, false},
		{"ack ESC/1", chat.Command{}, false},
		{"ack " + string(make([]byte, 129)), chat.Command{}, false},
		{"reassign ESC-1", chat.Command{}, false},
		{"reassign ESC-1 noor", chat.Command{}, false},
		{"reassign ESC-1 @", chat.Command{}, false},
		{"reassign ESC-1 @noor @eli", chat.Command{}, false},
		{"resolved ESC-1 @noor", chat.Command{}, false},
		{"ack ÉSC-1", chat.Command{}, false},
		{"lol", chat.Command{}, false},
	}
	for _, tc := range tests {
		got, ok := chat.ParseCommand(tc.text)
		assert.Equal(t, tc.ok, ok, "%q", tc.text)
		assert.Equal(t, tc.want, got, "%q", tc.text)
	}
	long := "ack E"
	for range 127 {
		long += "1"
	}
	_, ok := chat.ParseCommand(long)
	assert.True(t, ok, "a 128-character ref is fine")
	_, ok = chat.ParseCommand(long + "1")
	assert.False(t, ok, "129 is too long")
}
