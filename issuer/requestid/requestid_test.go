package requestid

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestHandlerAddsRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewJSONHandler(&buf, nil))).With("component", "x")
	ctx := With(context.Background(), "req-42")
	log.InfoContext(ctx, "one")
	log.InfoContext(ctx, "two", "request_id", "explicit")
	log.Info("three")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"req-42", "explicit", ""}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		got, _ := m["request_id"].(string)
		if got != want[i] {
			t.Errorf("line %d request_id %q, want %q: %s", i, got, want[i], l)
		}
		if strings.Count(l, "request_id") > 1 {
			t.Errorf("line %d has request_id twice: %s", i, l)
		}
	}
}
