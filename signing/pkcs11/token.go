// Package pkcs11 keeps Document Signer keys in a hardware security module reached through
// PKCS #11: a pooled, self-healing connection to one token, ECDSA P-256 keys behind
// crypto.Signer, and the key ceremony's token operations (generate a key pair inside the token,
// store its DSC beside it, list, retire).
//
// A lost session, a token that was removed or re-initialised, or a library that was finalised
// under the service are repaired on the next use: the connection is rebuilt (initialise, find
// the token by label, log in) at most once per RetryInterval, and every failure to sign wraps
// ErrUnavailable. A wrong PIN is never retried on its own, so the token's PIN counter is not
// run down by a service that restarts its connection.
package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	p11 "github.com/miekg/pkcs11"
)

// ErrUnavailable means the token cannot sign now (not reachable, not answering, session lost, no
// free session). Retrying later may succeed.
var ErrUnavailable = errors.New("pkcs11: signing token unavailable")

// ErrPIN means the token refused the PIN (wrong, expired or locked). Not retried.
var ErrPIN = errors.New("pkcs11: PIN rejected by the token")

// ErrKeyNotFound means there is no object with the label in the token.
var ErrKeyNotFound = errors.New("pkcs11: key not found in the token")

// ErrKeyChanged means the label now names another key pair than the one the Key was loaded with.
var ErrKeyChanged = errors.New("pkcs11: key changed in the token")

// Config says which token to use.
type Config struct {
	Module string // path of the PKCS #11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
	Token  string // token label
	PIN    string // user PIN

	// Sessions is the number of pooled sessions, which bounds concurrent signatures
	// (default 8).
	Sessions int
	// Wait is how long a signature waits for a free session before it is refused (default 2 s).
	Wait time.Duration
	// Timeout bounds one signature inside the token (default 5 s). A token that does not answer
	// within it makes the signature fail; the session is discarded when the call returns.
	Timeout time.Duration
	// RetryInterval is the least time between two attempts to rebuild a failed connection
	// (default 1 s).
	RetryInterval time.Duration

	Clock func() time.Time
	Log   *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Sessions <= 0 {
		c.Sessions = 8
	}
	if c.Wait <= 0 {
		c.Wait = 2 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = time.Second
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Token is a connection to one token with a pool of logged-in sessions. It is safe for
// concurrent use.
type Token struct {
	cfg  Config
	lib  *p11.Ctx
	sem  chan struct{} // one slot per pooled session
	idle chan session

	mu      sync.Mutex
	ready   bool
	gen     uint64 // connection generation; sessions of older generations are discarded
	slot    uint
	anchor  *p11.SessionHandle // the session that holds the login
	lastErr error
	retryAt time.Time
	pinErr  error // a refused PIN: permanent until Close
	closed  bool
}

type session struct {
	h   p11.SessionHandle
	gen uint64
}

// Open loads the module, finds the token and logs in. A wrong PIN or a missing token is an
// error here, so that a misconfigured service does not start.
func Open(cfg Config) (*Token, error) {
	cfg = cfg.withDefaults()
	if cfg.Module == "" || cfg.Token == "" {
		return nil, errors.New("pkcs11: module path and token label are required")
	}
	lib := p11.New(cfg.Module)
	if lib == nil {
		return nil, fmt.Errorf("pkcs11: cannot load module %s", cfg.Module)
	}
	t := &Token{cfg: cfg, lib: lib, sem: make(chan struct{}, cfg.Sessions), idle: make(chan session, cfg.Sessions)}
	t.mu.Lock()
	err := t.connectLocked()
	t.mu.Unlock()
	if err != nil {
		lib.Destroy()
		return nil, err
	}
	return t, nil
}

// Label is the token label.
func (t *Token) Label() string { return t.cfg.Token }

// Close closes the pooled sessions and unloads the module. The library is not finalised:
// other tokens of the same module in this process keep working.
func (t *Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if t.anchor != nil {
		_ = t.lib.CloseSession(*t.anchor)
	}
	for {
		select {
		case s := <-t.idle:
			_ = t.lib.CloseSession(s.h)
			continue
		default:
		}
		break
	}
	t.lib.Destroy()
	return nil
}

// connectLocked (re)builds the connection: initialise the library, find the token by label,
// log in. t.mu is held.
func (t *Token) connectLocked() error {
	if t.closed {
		return fmt.Errorf("%w: token %q closed", ErrUnavailable, t.cfg.Token)
	}
	if t.pinErr != nil {
		return t.pinErr
	}
	if t.ready {
		return nil
	}
	now := t.cfg.Clock()
	if t.lastErr != nil && now.Before(t.retryAt) {
		return t.lastErr
	}
	err := t.dial()
	if err != nil {
		t.lastErr, t.retryAt = err, now.Add(t.cfg.RetryInterval)
		if errors.Is(err, ErrPIN) {
			t.pinErr = err
		}
		return err
	}
	if t.lastErr != nil {
		t.cfg.Log.Info("signing token reconnected", "token", t.cfg.Token)
	}
	t.ready, t.lastErr = true, nil
	t.gen++
	return nil
}

func (t *Token) dial() error {
	t.anchor = nil
	if err := t.lib.Initialize(); err != nil && !isCode(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return fmt.Errorf("%w: initialise %s: %w", ErrUnavailable, t.cfg.Module, err)
	}
	slot, err := t.findSlot()
	if errors.Is(err, ErrUnavailable) && strings.Contains(err.Error(), "not found") {
		// A token created or re-inserted after the library was initialised is only seen once it
		// re-reads its slots.
		_ = t.lib.Finalize()
		if ierr := t.lib.Initialize(); ierr != nil && !isCode(ierr, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			return fmt.Errorf("%w: initialise %s: %w", ErrUnavailable, t.cfg.Module, ierr)
		}
		slot, err = t.findSlot()
	}
	if err != nil {
		return err
	}
	// Whatever is left of the previous connection goes: its handles are never closed one by one,
	// since after a reset of the library their numbers may belong to new sessions.
	_ = t.lib.CloseAllSessions(slot)
	sh, err := t.lib.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("%w: open session on token %q: %w", ErrUnavailable, t.cfg.Token, err)
	}
	if err := t.lib.Login(sh, p11.CKU_USER, t.cfg.PIN); err != nil && !isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
		_ = t.lib.CloseSession(sh)
		if isCode(err, p11.CKR_PIN_INCORRECT, p11.CKR_PIN_LOCKED, p11.CKR_PIN_EXPIRED, p11.CKR_PIN_INVALID, p11.CKR_PIN_LEN_RANGE) {
			return fmt.Errorf("%w: token %q: %w", ErrPIN, t.cfg.Token, err)
		}
		return fmt.Errorf("%w: log in to token %q: %w", ErrUnavailable, t.cfg.Token, err)
	}
	// The login lasts while the application has a session open with the token: this one is kept
	// for the life of the connection.
	t.slot, t.anchor = slot, &sh
	return nil
}

func (t *Token) findSlot() (uint, error) {
	slots, err := t.lib.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("%w: list slots: %w", ErrUnavailable, err)
	}
	for _, s := range slots {
		info, err := t.lib.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if strings.TrimRight(info.Label, " \x00") == t.cfg.Token {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w: token %q not found in %s (removed, or not initialised)", ErrUnavailable, t.cfg.Token, t.cfg.Module)
}

// invalidate marks the connection of generation gen broken after err, so that the next use
// rebuilds it.
func (t *Token) invalidate(gen uint64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gen == gen && t.ready {
		t.ready = false
		t.cfg.Log.Warn("signing token connection lost", "token", t.cfg.Token, "err", err)
	}
}

// acquire takes a pooled session, opening one (and rebuilding the connection) when needed.
func (t *Token) acquire(ctx context.Context) (session, error) {
	select {
	case t.sem <- struct{}{}: // a free session: no timer
	default:
		timer := time.NewTimer(t.cfg.Wait)
		defer timer.Stop()
		select {
		case t.sem <- struct{}{}:
		case <-timer.C:
			return session{}, fmt.Errorf("%w: no free session on token %q within %s", ErrUnavailable, t.cfg.Token, t.cfg.Wait)
		case <-ctx.Done():
			return session{}, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}
	t.mu.Lock()
	err := t.connectLocked()
	gen, slot := t.gen, t.slot
	t.mu.Unlock()
	if err != nil {
		<-t.sem
		return session{}, err
	}
	for {
		select {
		case s := <-t.idle:
			if s.gen == gen {
				return s, nil
			}
			continue // closed with its connection
		default:
		}
		break
	}
	h, err := t.lib.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		<-t.sem
		if connectionLost(err) {
			t.invalidate(gen, err)
		}
		return session{}, fmt.Errorf("%w: open session on token %q: %w", ErrUnavailable, t.cfg.Token, err)
	}
	return session{h: h, gen: gen}, nil
}

// release returns a session to the pool, or drops it when its connection is lost or replaced
// (the reconnection closes every session of the slot).
func (t *Token) release(s session, broken bool) {
	t.mu.Lock()
	current := t.gen == s.gen && t.ready && !t.closed
	t.mu.Unlock()
	if !broken && current {
		t.idle <- s
	}
	<-t.sem
}

// withSession runs f on a pooled session. When f fails because the connection was lost, the
// connection is rebuilt and f runs once more.
func (t *Token) withSession(ctx context.Context, f func(session) error) error {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var s session
		s, err = t.acquire(ctx)
		if err != nil {
			return err
		}
		var answered bool
		answered, err = t.call(s, f)
		if !answered {
			// The session is released when the call returns; the token is not asked again now.
			return fmt.Errorf("%w: token %q did not answer within %s", ErrUnavailable, t.cfg.Token, t.cfg.Timeout)
		}
		if err == nil {
			t.release(s, false)
			return nil
		}
		lost := connectionLost(err)
		t.release(s, lost)
		if !lost {
			return err
		}
		t.invalidate(s.gen, err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// call runs f on s, waiting at most Timeout. When the token does not answer in time, it returns
// answered false and the session goes back to the pool (freeing its slot) once f returns.
func (t *Token) call(s session, f func(session) error) (answered bool, err error) {
	done := make(chan error, 1)
	go func() { done <- f(s) }()
	timer := time.NewTimer(t.cfg.Timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return true, err
	case <-timer.C:
		go func() {
			err := <-done
			t.release(s, connectionLost(err))
		}()
		return false, nil
	}
}

// Check reports whether the token answers: it rebuilds the connection when needed and asks
// the token for its state.
func (t *Token) Check(ctx context.Context) error {
	return t.withSession(ctx, func(s session) error {
		_, err := t.lib.GetSessionInfo(s.h)
		return err
	})
}

// connectionLost reports whether err means the session or the whole connection is gone, so
// that a new one may succeed.
func connectionLost(err error) bool {
	return isCode(err, p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED, p11.CKR_DEVICE_REMOVED,
		p11.CKR_DEVICE_ERROR, p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_TOKEN_NOT_RECOGNIZED,
		p11.CKR_CRYPTOKI_NOT_INITIALIZED, p11.CKR_USER_NOT_LOGGED_IN, p11.CKR_OBJECT_HANDLE_INVALID,
		p11.CKR_KEY_HANDLE_INVALID, p11.CKR_SLOT_ID_INVALID, p11.CKR_GENERAL_ERROR, p11.CKR_DEVICE_MEMORY)
}

func isCode(err error, codes ...uint) bool {
	var e p11.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if uint(e) == c {
			return true
		}
	}
	return false
}
