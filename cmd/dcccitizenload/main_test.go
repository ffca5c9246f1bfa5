package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	o, err := parse(nil, io.Discard)
	if err != nil || o.clients != 64 || o.conns != 5000 || o.serve != "" {
		t.Fatalf("defaults %+v %v", o, err)
	}
	for _, bad := range [][]string{{"--clients", "0"}, {"--hold", "0s"}, {"--measure", "1h"}} {
		if _, err := parse(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestEchoAndLoad: the echo server answers a JSON body of exactly the size asked for, and the
// load counts its answers and reads the server's memory.
func TestEchoAndLoad(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveEcho(ctx, 1912, pw) }()
	var r ready
	if err := json.NewDecoder(pr).Decode(&r); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + r.Addr + r.Path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(body) != 1912 || r.Size != 1912 || !json.Valid(body) || !bytes.HasPrefix(body, []byte(`{"pad":"`)) {
		t.Fatalf("body of %d bytes (ready says %d), valid JSON %v", len(body), r.Size, json.Valid(body))
	}
	res := load(ctx, "http://"+r.Addr+r.Path, "", 4, 300*time.Millisecond, 1)
	if res.ok == 0 || res.errs != 0 || len(res.lat) != int(res.ok) || res.pct(0.99) < res.pct(0.5) {
		t.Fatalf("load result %+v", res)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
