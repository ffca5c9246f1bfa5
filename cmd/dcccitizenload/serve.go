package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/admission"
	"github.com/sedcc/dcc/issuer/httpapi"
	"github.com/sedcc/dcc/issuer/idp"
	"github.com/sedcc/dcc/issuer/idtoken"
	"github.com/sedcc/dcc/signing/valueset"
)

const person = "198503122387" // Åsa Öberg of the development population (not a known test identity)

func httpServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
}

// serveUntil serves on ln until ctx ends.
func serveUntil(ctx context.Context, hs *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

// serveCitizen runs the real service with its citizens' routes, issues one certificate and
// prints where to fetch it and with which token.
func serveCitizen(ctx context.Context, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "dcccitizenload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := setup.Defaults()
	cfg.DataDir = dir
	log := slog.New(slog.DiscardHandler)
	st, err := setup.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	signers, tokens, err := setup.Signers(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer tokens.Close()
	subjectKey, err := setup.SubjectKey(cfg)
	if err != nil {
		return err
	}
	reg, err := setup.Register(cfg, log, nil)
	if err != nil {
		return err
	}
	sandboxReg, err := setup.SandboxRegister(cfg, log)
	if err != nil {
		return err
	}
	values, err := valueset.Load()
	if err != nil {
		return err
	}
	svc, err := setup.Issuer(cfg, st, nil, signers, reg, sandboxReg, subjectKey, values, log, time.Now, nil)
	if err != nil {
		return err
	}

	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	issuerURL := "http://" + idpLn.Addr().String()
	provider, err := idp.New(idp.Options{Issuer: issuerURL, TokenTTL: time.Hour})
	if err != nil {
		return err
	}
	go func() { _ = serveUntil(ctx, httpServer(provider), idpLn) }()
	verifier, err := idtoken.New(idtoken.Options{Issuer: issuerURL, Audience: provider.Audience(), ClientID: provider.ClientID()})
	if err != nil {
		return err
	}
	limiter, err := admission.New(admission.Config{Name: "citizen", Limit: cfg.CitizenConcurrency, Queue: cfg.CitizenQueue,
		Wait: cfg.CitizenWait, MaxRetryAfter: cfg.IssueRetryAfterMax})
	if err != nil {
		return err
	}
	citizens, err := httpapi.NewCitizens(httpapi.CitizenOptions{Verifier: verifier, Admission: limiter,
		View:       issuer.NewCitizenView(st, svc, false),
		CacheBytes: int64(cfg.CitizenCacheBytes),
		Web:        &httpapi.WebOptions{Issuer: issuerURL, ClientID: provider.ClientID(), SessionKey: subjectKey}})
	if err != nil {
		return err
	}
	creds := issuer.NewCredentials(st, time.Now, cfg.KeyCacheTTL)
	_, key, err := creds.Add(ctx, issuer.NewPrincipal{Name: "load", Role: issuer.RoleProvider, Environment: issuer.Production,
		Kinds: []issuer.Kind{issuer.KindTest}})
	if err != nil {
		return err
	}
	srv := httpapi.New(httpapi.Options{Issuer: svc, Credentials: creds, Values: values, Log: log, Citizens: citizens})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	go func() { _ = serveUntil(ctx, httpServer(srv.Handler()), ln) }()

	// One certificate, issued as a provider would.
	body := fhirtest.Observation(fhirtest.RAT, fhirtest.Now(time.Now()), fhirtest.PNR(person))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/observation", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("issue: %w", err)
	}
	var issued struct {
		TestProof struct{ Metadata struct{ UVCI string } }
	}
	err = json.NewDecoder(resp.Body).Decode(&issued)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("issue: status %d: %v", resp.StatusCode, err)
	}
	token, err := provider.Mint(idp.Token{PNR: person})
	if err != nil {
		return err
	}
	path := "/api/v1/me/certificates/" + url.PathEscape(issued.TestProof.Metadata.UVCI)
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	fetched, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch: status %d: %v", resp.StatusCode, err)
	}
	if err := json.NewEncoder(stdout).Encode(ready{Addr: ln.Addr().String(), Path: path, Token: token, Size: len(fetched)}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// serveEcho runs a bare echo handler answering a fixed JSON body of size bytes.
func serveEcho(ctx context.Context, size int, stdout io.Writer) error {
	if size < 16 {
		size = 16
	}
	body := append([]byte(`{"pad":"`), bytes.Repeat([]byte{'x'}, size-11)...)
	body = append(body, "\"}\n"...)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/fixed", func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(ready{Addr: ln.Addr().String(), Path: "/fixed", Size: len(body)}); err != nil {
		return err
	}
	return serveUntil(ctx, httpServer(e), ln)
}
