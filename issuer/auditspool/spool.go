// Package auditspool keeps audit events durably on local disk while the store cannot take them,
// and gives them back in the order they came once it can.
//
// The spool is one append-only file of framed records (length, CRC-32C, JSON event) and a small
// file holding how far the store has taken them. Every append is fsynced before it returns, so an
// event the spool accepted survives a crash of the process. The file is bounded: an append that
// would pass the bound is refused and its events counted as dropped, never silently lost. A torn
// record at the end (a crash in the middle of an append) is cut off when the spool is opened.
package auditspool

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/sedcc/dcc/issuer"
)

// File names inside the spool directory.
const (
	DataFile     = "audit.spool"
	PositionFile = "audit.spool.pos"
)

// DefaultMaxBytes bounds the spool file when Options.MaxBytes is zero.
const DefaultMaxBytes = 64 << 20

// maxRecord bounds one framed event; anything larger at open is taken as a torn tail.
const maxRecord = 1 << 20

// ErrFull is returned when an append would pass the spool's bound; its events were dropped.
var ErrFull = errors.New("audit spool full")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Stats describe the spool for metrics and the status page.
type Stats struct {
	Pending  int    // events waiting for the store
	Bytes    int64  // size of the spool file
	MaxBytes int64  // its bound
	Spooled  uint64 // events ever accepted since the process started
	Replayed uint64 // events handed to the store since the process started
	Dropped  uint64 // events refused at the bound (or on a write error) since the process started
	// Full is true from a refused append until the spool has been emptied.
	Full bool
}

// Spool is the append-only file. It is safe for concurrent use.
type Spool struct {
	dir      string
	maxBytes int64

	mu      sync.Mutex
	f       *os.File // data file, opened read-write
	pos     *os.File // position file
	size    int64    // bytes of valid records in f
	read    int64    // offset up to which the store has taken the events
	pending int      // events between read and size
	full    bool
	stats   Stats
}

// Open opens (or creates) the spool in dir, cutting off a torn last record. maxBytes 0 means
// DefaultMaxBytes.
func Open(dir string, maxBytes int64) (*Spool, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit spool: create %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, DataFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	pf, err := os.OpenFile(filepath.Join(dir, PositionFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	s := &Spool{dir: dir, maxBytes: maxBytes, f: f, pos: pf}
	if err := s.load(); err != nil {
		f.Close()
		pf.Close()
		return nil, err
	}
	return s, nil
}

// load reads the position and scans the records after it, truncating a torn tail.
func (s *Spool) load() error {
	var b [8]byte
	n, err := s.pos.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("audit spool: read position: %w", err)
	}
	if n == 8 {
		s.read = int64(binary.BigEndian.Uint64(b[:]))
	}
	st, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	if s.read > st.Size() {
		// The data file was emptied after everything was replayed, before the position was reset.
		s.read = 0
	}
	// Records before the position were taken by the store; validate those after it.
	r := bufio.NewReader(io.NewSectionReader(s.f, s.read, st.Size()-s.read))
	off := s.read
	for {
		_, n, err := readRecord(r)
		if err != nil {
			break
		}
		off += n
		s.pending++
	}
	if off < st.Size() {
		if err := s.f.Truncate(off); err != nil {
			return fmt.Errorf("audit spool: cut torn record: %w", err)
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("audit spool: %w", err)
		}
	}
	s.size = off
	if s.pending == 0 && s.size > 0 {
		return s.resetLocked()
	}
	return nil
}

// readRecord reads one framed record and returns its payload and framed length.
func readRecord(r io.Reader) ([]byte, int64, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || n > maxRecord {
		return nil, 0, fmt.Errorf("record length %d", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, 0, err
	}
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
		return nil, 0, errors.New("record checksum mismatch")
	}
	return payload, int64(8 + n), nil
}

func frame(ev issuer.AuditEvent) ([]byte, error) {
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode audit event %s: %w", ev.ID, err)
	}
	if len(payload) > maxRecord {
		return nil, fmt.Errorf("audit event %s: %d bytes, more than a record holds", ev.ID, len(payload))
	}
	out := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint32(out[:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(out[4:], crc32.Checksum(payload, castagnoli))
	return append(out, payload...), nil
}

// Append writes events durably (fsync) after those already spooled. It returns ErrFull, writing
// none of them, when they would pass the bound; their number is counted as dropped.
func (s *Spool) Append(events []issuer.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	var buf []byte
	for _, ev := range events {
		rec, err := frame(ev)
		if err != nil {
			return err
		}
		buf = append(buf, rec...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size+int64(len(buf)) > s.maxBytes {
		s.full = true
		s.stats.Dropped += uint64(len(events))
		return fmt.Errorf("%w: %d of %d bytes used, %d events dropped", ErrFull, s.size, s.maxBytes, len(events))
	}
	if _, err := s.f.WriteAt(buf, s.size); err != nil {
		return s.failedWrite(len(events), err)
	}
	if err := s.f.Sync(); err != nil {
		return s.failedWrite(len(events), err)
	}
	s.size += int64(len(buf))
	s.pending += len(events)
	s.stats.Spooled += uint64(len(events))
	return nil
}

// failedWrite cuts a partly written append off (the disk may be full) and counts its events.
func (s *Spool) failedWrite(n int, err error) error {
	_ = s.f.Truncate(s.size)
	s.full = true
	s.stats.Dropped += uint64(n)
	return fmt.Errorf("audit spool: write %d events: %w", n, err)
}

// Pending is the number of events waiting for the store.
func (s *Spool) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Stats returns the spool's figures.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Pending, st.Bytes, st.MaxBytes, st.Full = s.pending, s.size, s.maxBytes, s.full
	return st
}

// Peek returns up to max of the oldest pending events and the offset just after them, to be
// passed to Commit once the store has taken them.
func (s *Spool) Peek(max int) ([]issuer.AuditEvent, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := bufio.NewReader(io.NewSectionReader(s.f, s.read, s.size-s.read))
	off := s.read
	var out []issuer.AuditEvent
	for len(out) < max && off < s.size {
		payload, n, err := readRecord(r)
		if err != nil {
			return nil, 0, fmt.Errorf("audit spool: read at %d: %w", off, err)
		}
		var ev issuer.AuditEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, 0, fmt.Errorf("audit spool: decode at %d: %w", off, err)
		}
		out = append(out, ev)
		off += n
	}
	return out, off, nil
}

// Commit records that the store has taken the n events before offset end (as returned by Peek).
// When nothing is left, the files are emptied.
func (s *Spool) Commit(end int64, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if end <= s.read || end > s.size {
		return fmt.Errorf("audit spool: commit to %d outside %d..%d", end, s.read, s.size)
	}
	s.read = end
	s.pending -= n
	s.stats.Replayed += uint64(n)
	if s.read == s.size {
		return s.resetLocked()
	}
	return s.writePos()
}

func (s *Spool) writePos() error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(s.read))
	if _, err := s.pos.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("audit spool: write position: %w", err)
	}
	if err := s.pos.Sync(); err != nil {
		return fmt.Errorf("audit spool: write position: %w", err)
	}
	return nil
}

// resetLocked empties both files once every event was taken. The data file goes first: if the
// process dies in between, a position past the end of the file is read as zero.
func (s *Spool) resetLocked() error {
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("audit spool: empty: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("audit spool: empty: %w", err)
	}
	s.size, s.read, s.pending, s.full = 0, 0, 0, false
	return s.writePos()
}

// Close closes the files; what is pending stays for the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.f.Close(), s.pos.Close())
}
