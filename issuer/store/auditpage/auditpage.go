// Package auditpage holds the paging rules both stores apply to audit searches: the page size and
// the opaque keyset cursor. Events are ordered newest first by (At, ID); a cursor names the last
// event of a page, and the next page starts strictly after it in that order.
package auditpage

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	// DefaultLimit is the page size when a query leaves Limit at zero.
	DefaultLimit = 50
	// MaxLimit caps the page size.
	MaxLimit = 500
)

// ErrInvalidCursor is returned for a cursor that no store produced.
var ErrInvalidCursor = errors.New("invalid audit cursor")

// Size returns the page size for a requested limit: DefaultLimit for zero or less, at most MaxLimit.
func Size(limit int) int {
	switch {
	case limit <= 0:
		return DefaultLimit
	case limit > MaxLimit:
		return MaxLimit
	default:
		return limit
	}
}

// Position is the place of one event in the newest-first order.
type Position struct {
	At time.Time // kept to the microsecond, as the stores keep it
	ID string
}

// Encode returns the opaque cursor for p.
func Encode(p Position) string {
	raw := "v1:" + strconv.FormatInt(p.At.UnixMicro(), 10) + ":" + p.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// Decode parses a cursor made by Encode.
func Decode(cursor string) (Position, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return Position{}, fmt.Errorf("%w: not base64url", ErrInvalidCursor)
	}
	version, rest, ok := strings.Cut(string(raw), ":")
	if !ok || version != "v1" {
		return Position{}, fmt.Errorf("%w: unknown format", ErrInvalidCursor)
	}
	micros, id, ok := strings.Cut(rest, ":")
	if !ok || id == "" {
		return Position{}, fmt.Errorf("%w: missing event id", ErrInvalidCursor)
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("%w: bad time", ErrInvalidCursor)
	}
	return Position{At: time.UnixMicro(us).UTC(), ID: id}, nil
}
