package keys

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPrivate(t *testing.T) {
	cases := []struct {
		name          string
		dirMode, mode os.FileMode
		wantFix       string // "" when the file is accepted
	}{
		{"owner only", 0o700, 0o600, ""},
		{"owner read-only", 0o755, 0o400, ""},
		{"group readable", 0o700, 0o640, "chmod 600"},
		{"world readable", 0o755, 0o644, "chmod 600"},
		{"world writable only", 0o700, 0o602, "chmod 600"},
		{"directory others may write", 0o777, 0o600, "chmod o-w"},
		{"sticky shared directory", 0o1777, 0o600, "chmod o-w"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "secret")
			if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			// Chmod, not the create mode: the umask must not decide the case.
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.dirMode); err != nil {
				t.Fatal(err)
			}
			err := CheckPrivate(path)
			switch {
			case tc.wantFix == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantFix != "" && err == nil:
				t.Fatal("accepted")
			case tc.wantFix != "" && !strings.Contains(err.Error(), tc.wantFix) || tc.wantFix != "" && !strings.Contains(err.Error(), dir):
				t.Fatalf("the error does not name the file and the fix %q: %v", tc.wantFix, err)
			}
		})
	}
}

func TestLoadRefusesAKeyOthersCanRead(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Generate(dir, Options{Country: "SE"}); err != nil {
		t.Fatal(err)
	}
	keyPath, certPath := filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile)
	if _, _, err := Load(keyPath, certPath); err != nil {
		t.Fatalf("a fresh key is refused: %v", err)
	}
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(keyPath, certPath); err == nil || !strings.Contains(err.Error(), "chmod 600 "+keyPath) {
		t.Fatalf("a 0644 key: %v", err)
	}
	if _, _, err := LoadOrCreate(dir, Options{Country: "SE"}); err == nil {
		t.Fatal("LoadOrCreate accepted a 0644 key")
	}
}
