package queue

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Sizes of the binding value (the browser's random cookie), of its hash in tickets and passes,
// and of the signature.
const (
	bindingBytes     = 16
	bindingHashBytes = 16
	macBytes         = sha256.Size
)

// Versions of the signed forms; a new layout takes a new version.
const (
	ticketVersion = 1
	passVersion   = 1
)

// ticket: version, number, issued (Unix µs), admission time (Unix µs), binding hash; then the
// HMAC-SHA256 of all of it under the ticket key.
const ticketBody = 1 + 8 + 8 + 8 + bindingHashBytes

// pass: version, number, valid until (Unix µs), binding hash; then the HMAC under the pass key.
const passBody = 1 + 8 + 8 + bindingHashBytes

type ticket struct {
	number  uint64
	issued  time.Time
	admitAt time.Time
	bind    [bindingHashBytes]byte
}

type pass struct {
	number uint64
	until  time.Time
	bind   [bindingHashBytes]byte
}

// strictBase64 decodes cookie values: unpadded base64url whose unused trailing bits are zero, so
// that a value has one spelling only and a signed value cannot be re-spelt.
var strictBase64 = base64.RawURLEncoding.Strict()

// parseBinding reads a binding cookie's value and returns its hash.
func parseBinding(v string) ([bindingHashBytes]byte, bool) {
	if len(v) != base64.RawURLEncoding.EncodedLen(bindingBytes) {
		return [bindingHashBytes]byte{}, false
	}
	raw, err := strictBase64.DecodeString(v)
	if err != nil || len(raw) != bindingBytes {
		return [bindingHashBytes]byte{}, false
	}
	return bindingHash(raw), true
}

// bindingHash is what tickets and passes name: a hash, so that the ticket does not give away
// the binding value itself.
func bindingHash(raw []byte) [bindingHashBytes]byte {
	sum := sha256.Sum256(append([]byte("dcc queue binding\x00"), raw...))
	var h [bindingHashBytes]byte
	copy(h[:], sum[:])
	return h
}

func sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return base64.RawURLEncoding.EncodeToString(m.Sum(body))
}

// verify decodes a signed value of bodyLen bytes and checks its signature in constant time.
func verify(key []byte, v string, bodyLen int) ([]byte, bool) {
	if len(v) != base64.RawURLEncoding.EncodedLen(bodyLen+macBytes) {
		return nil, false
	}
	raw, err := strictBase64.DecodeString(v)
	if err != nil || len(raw) != bodyLen+macBytes {
		return nil, false
	}
	m := hmac.New(sha256.New, key)
	m.Write(raw[:bodyLen])
	if !hmac.Equal(m.Sum(nil), raw[bodyLen:]) {
		return nil, false
	}
	return raw[:bodyLen], true
}

func (q *Queue) sealTicket(t ticket) string {
	b := make([]byte, ticketBody, ticketBody+macBytes)
	b[0] = ticketVersion
	binary.BigEndian.PutUint64(b[1:], t.number)
	binary.BigEndian.PutUint64(b[9:], uint64(t.issued.UnixMicro()))
	binary.BigEndian.PutUint64(b[17:], uint64(t.admitAt.UnixMicro()))
	copy(b[25:], t.bind[:])
	return sign(q.ticketKey, b)
}

// openTicket verifies a ticket for the browser whose binding hash is bind.
func (q *Queue) openTicket(v string, bind [bindingHashBytes]byte, now time.Time) (ticket, Refusal) {
	b, ok := verify(q.ticketKey, v, ticketBody)
	if !ok || b[0] != ticketVersion {
		return ticket{}, Forged
	}
	t := ticket{
		number:  binary.BigEndian.Uint64(b[1:]),
		issued:  time.UnixMicro(int64(binary.BigEndian.Uint64(b[9:]))),
		admitAt: time.UnixMicro(int64(binary.BigEndian.Uint64(b[17:]))),
	}
	copy(t.bind[:], b[25:])
	if !hmac.Equal(t.bind[:], bind[:]) {
		return ticket{}, OtherBrowser
	}
	if now.After(t.admitAt.Add(q.grace)) {
		return ticket{}, Expired
	}
	return t, NotRefused
}

func (q *Queue) sealPass(p pass) string {
	b := make([]byte, passBody, passBody+macBytes)
	b[0] = passVersion
	binary.BigEndian.PutUint64(b[1:], p.number)
	binary.BigEndian.PutUint64(b[9:], uint64(p.until.UnixMicro()))
	copy(b[17:], p.bind[:])
	return sign(q.passKey, b)
}

// openPass verifies a pass for the browser whose binding hash is bind.
func (q *Queue) openPass(v string, bind [bindingHashBytes]byte, now time.Time) (pass, Refusal) {
	b, ok := verify(q.passKey, v, passBody)
	if !ok || b[0] != passVersion {
		return pass{}, Forged
	}
	p := pass{number: binary.BigEndian.Uint64(b[1:]), until: time.UnixMicro(int64(binary.BigEndian.Uint64(b[9:])))}
	copy(p.bind[:], b[17:])
	if !hmac.Equal(p.bind[:], bind[:]) {
		return pass{}, OtherBrowser
	}
	if !now.Before(p.until) {
		return pass{}, Expired
	}
	return p, NotRefused
}
