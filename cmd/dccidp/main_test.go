package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	c, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.listen != "127.0.0.1:8091" || c.issuer != "http://127.0.0.1:8091" || c.clientID != "dcc-web" || c.audience != "dcc-citizen" {
		t.Errorf("defaults %+v", c)
	}
	env := map[string]string{"DCC_OIDC_ISSUER": "http://idp.test", "DCC_OIDC_PNR_CLAIM": "pnr"}
	c, err = parseConfig([]string{"--listen", "127.0.0.1:0"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.issuer != "http://idp.test" || c.pnrClaim != "pnr" || c.listen != "127.0.0.1:0" {
		t.Errorf("from the environment %+v", c)
	}
	if _, err := parseConfig([]string{"extra"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("a stray argument was accepted")
	}
}

// TestServes: the command serves discovery naming its issuer and a JWKS with one key, and stops
// when told.
func TestServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, config{listen: "127.0.0.1:0", issuer: "http://idp.test", clientID: "dcc-web", audience: "dcc-citizen",
			pnrClaim: "pnr", tokenTTL: time.Minute}, slog.New(slog.DiscardHandler), ready)
	}()
	addr := <-ready
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	resp, err := http.Get("http://" + addr + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if err != nil || disc.Issuer != "http://idp.test" || disc.JWKSURI != "http://idp.test/jwks" {
		t.Fatalf("discovery %+v, %v", disc, err)
	}
	var jwks struct{ Keys []map[string]any }
	resp, err = http.Get("http://" + addr + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if err != nil || len(jwks.Keys) != 1 || jwks.Keys[0]["kty"] != "EC" || jwks.Keys[0]["d"] != nil {
		t.Fatalf("JWKS %+v, %v", jwks, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stopped with %v", err)
	}
}
