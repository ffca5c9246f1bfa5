package embedded

import "testing"

func TestConnectionSettings(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var sync, busy, fk int
	if err := s.writer.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if err := s.writer.QueryRow(`PRAGMA busy_timeout`).Scan(&busy); err != nil {
		t.Fatal(err)
	}
	if err := s.writer.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if sync != 2 { // FULL
		t.Errorf("writer synchronous = %d, want 2 (FULL)", sync)
	}
	if busy != int(BusyTimeout.Milliseconds()) {
		t.Errorf("writer busy_timeout = %d, want %d", busy, BusyTimeout.Milliseconds())
	}
	if fk != 1 {
		t.Errorf("writer foreign_keys = %d, want 1", fk)
	}
	if _, err := s.reader.Exec(`CREATE TABLE x (a INTEGER)`); err == nil {
		t.Error("a reader connection could write")
	}
}
