// Package softhsm creates SoftHSM2 tokens for tests: each test gets its own token directory
// (SOFTHSM2_CONF points at a configuration in a temporary directory), an initialised token with
// a user PIN, and nothing left behind.
package softhsm

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	p11 "github.com/miekg/pkcs11"
)

// config is the project's SoftHSM2 configuration: what docs/keys.md recommends and what every
// test token uses.
//
//go:embed softhsm2.conf
var config string

// Config returns the project's SoftHSM2 configuration (softhsm2.conf beside this file) with its
// token directory set to tokenDir.
func Config(tokenDir string) []byte {
	var out strings.Builder
	for line := range strings.Lines(config) {
		if strings.HasPrefix(line, "directories.tokendir") {
			line = "directories.tokendir = " + tokenDir + "\n"
		}
		out.WriteString(line)
	}
	return []byte(out.String())
}

// DefaultModule is where Debian's softhsm2 package installs the PKCS #11 library.
const DefaultModule = "/usr/lib/softhsm/libsofthsm2.so"

// Module returns the SoftHSM2 library path: SOFTHSM2_MODULE when set, DefaultModule otherwise.
// The test fails when the library is missing (.ci/deps.sh installs it).
func Module(t testing.TB) string {
	t.Helper()
	path := os.Getenv("SOFTHSM2_MODULE")
	if path == "" {
		path = DefaultModule
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("SoftHSM2 library %s: %v (install the Debian package softhsm2, as .ci/deps.sh does)", path, err)
	}
	return path
}

// Token is a token made for one test.
type Token struct {
	Module string // library path
	Label  string
	PIN    string // user PIN
	SOPIN  string
	Dir    string // token directory
}

// NewToken points SOFTHSM2_CONF at a fresh configuration for this test and initialises a token
// labelled label with the given user PIN. The library is re-initialised so that it reads the new
// configuration; tokens of earlier tests in the process are gone from then on.
func NewToken(t testing.TB, label, pin string) Token {
	t.Helper()
	module := Module(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, Config(tokens), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	tok := Token{Module: module, Label: label, PIN: pin, SOPIN: "so-" + pin, Dir: tokens}
	if err := tok.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := initToken(module, label, tok.SOPIN, pin); err != nil {
		t.Fatalf("initialise SoftHSM2 token %q: %v", label, err)
	}
	return tok
}

// Reset finalises and initialises the library, as a restart of the HSM client would: every
// session of the process is closed and the configuration and tokens are read again.
func (tk Token) Reset() error {
	lib := p11.New(tk.Module)
	if lib == nil {
		return fmt.Errorf("load %s", tk.Module)
	}
	defer lib.Destroy()
	_ = lib.Finalize()
	if err := lib.Initialize(); err != nil {
		return fmt.Errorf("initialise %s: %w", tk.Module, err)
	}
	return nil
}

// Reinit re-initialises the token as an operator with the SO PIN would: every object in it is
// destroyed and the token comes back empty under the same label and PINs (a new serial number
// and slot). Sessions of the process are closed.
func (tk Token) Reinit() error {
	entries, err := os.ReadDir(tk.Dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(tk.Dir, e.Name())); err != nil {
			return err
		}
	}
	if err := tk.Reset(); err != nil {
		return err
	}
	return initToken(tk.Module, tk.Label, tk.SOPIN, tk.PIN)
}

// CloseAllSessions closes every session of the process on the token, as a token that drops its
// sessions would.
func (tk Token) CloseAllSessions() error {
	lib := p11.New(tk.Module)
	if lib == nil {
		return fmt.Errorf("load %s", tk.Module)
	}
	defer lib.Destroy()
	slot, err := slotOf(lib, tk.Label)
	if err != nil {
		return err
	}
	return lib.CloseAllSessions(slot)
}

func initToken(module, label, soPIN, pin string) error {
	lib := p11.New(module)
	if lib == nil {
		return fmt.Errorf("load %s", module)
	}
	defer lib.Destroy()
	if err := lib.Initialize(); err != nil && err != p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return err
	}
	slots, err := lib.GetSlotList(true)
	if err != nil {
		return err
	}
	free := -1
	for _, s := range slots {
		info, err := lib.GetTokenInfo(s)
		if err != nil {
			return err
		}
		if info.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
			free = int(s)
			break
		}
	}
	if free < 0 {
		return fmt.Errorf("no free slot in %d slots", len(slots))
	}
	if err := lib.InitToken(uint(free), soPIN, label); err != nil {
		return fmt.Errorf("init token: %w", err)
	}
	slot, err := slotOf(lib, label)
	if err != nil {
		return err
	}
	sh, err := lib.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return err
	}
	defer lib.CloseSession(sh)
	if err := lib.Login(sh, p11.CKU_SO, soPIN); err != nil {
		return fmt.Errorf("SO login: %w", err)
	}
	if err := lib.InitPIN(sh, pin); err != nil {
		return fmt.Errorf("init PIN: %w", err)
	}
	return lib.Logout(sh)
}

func slotOf(lib *p11.Ctx, label string) (uint, error) {
	slots, err := lib.GetSlotList(true)
	if err != nil {
		return 0, err
	}
	for _, s := range slots {
		info, err := lib.GetTokenInfo(s)
		if err == nil && strings.TrimRight(info.Label, " \x00") == label {
			return s, nil
		}
	}
	return 0, fmt.Errorf("token %q not found", label)
}
