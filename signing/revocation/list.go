package revocation

import (
	"bytes"
	"encoding/base64"
	"slices"
	"sort"
	"time"
)

// Revoked is one revoked certificate as the list needs it: the kid of the DSC that signed it,
// when it expires (after which verifiers refuse it anyway), and its three hashes.
type Revoked struct {
	KID     []byte
	Expires time.Time
	Hashes  Hashes
}

// List is the revocation list document (JSON; schema docs/revocation-list.schema.json). Its
// batches have the shape of the DCC gateway's revocation batches: one per kid and hash type.
type List struct {
	// Country is the issuing country (ISO 3166-1 alpha-2).
	Country string `json:"country"`
	// LastUpdated is the time of the newest revocation in the list (zero time when empty), so
	// the document changes only when its content does.
	LastUpdated time.Time `json:"lastUpdated"`
	Batches     []Batch   `json:"batches"`
}

// Batch holds the hashes of one type of the certificates one DSC signed.
type Batch struct {
	Country string `json:"country"`
	// Expires is the latest expiry of the batch's certificates: after it the batch may be
	// deleted.
	Expires  time.Time `json:"expires"`
	KID      string    `json:"kid"` // base64
	HashType HashType  `json:"hashType"`
	Entries  []Entry   `json:"entries"`
}

// Entry is one hash (base64 in JSON, 16 bytes).
type Entry struct {
	Hash []byte `json:"hash"`
}

// Build makes the list of the revoked certificates: per kid (in byte order) one batch of each
// hash type (SIGNATURE, UCI, COUNTRYCODEUCI), entries in byte order. The result depends only on
// its arguments.
func Build(country string, lastUpdated time.Time, revoked []Revoked) List {
	byKID := map[string][]Revoked{}
	for _, r := range revoked {
		byKID[string(r.KID)] = append(byKID[string(r.KID)], r)
	}
	kids := make([]string, 0, len(byKID))
	for k := range byKID {
		kids = append(kids, k)
	}
	sort.Strings(kids)
	out := List{Country: country, LastUpdated: lastUpdated.UTC(), Batches: []Batch{}}
	for _, k := range kids {
		group := byKID[k]
		var expires time.Time
		for _, r := range group {
			if r.Expires.After(expires) {
				expires = r.Expires
			}
		}
		for _, t := range HashTypes {
			entries := make([]Entry, 0, len(group))
			for _, r := range group {
				entries = append(entries, Entry{Hash: r.Hashes.Of(t)})
			}
			slices.SortFunc(entries, func(a, b Entry) int { return bytes.Compare(a.Hash, b.Hash) })
			entries = slices.CompactFunc(entries, func(a, b Entry) bool { return bytes.Equal(a.Hash, b.Hash) })
			out.Batches = append(out.Batches, Batch{
				Country: country, Expires: expires.UTC(), KID: base64.StdEncoding.EncodeToString([]byte(k)),
				HashType: t, Entries: entries,
			})
		}
	}
	return out
}

// Contains reports whether the list names a certificate signed under kid by any of its hashes.
func (l List) Contains(kid []byte, h Hashes) bool {
	k := base64.StdEncoding.EncodeToString(kid)
	for _, b := range l.Batches {
		if b.KID != k {
			continue
		}
		want := h.Of(b.HashType)
		for _, e := range b.Entries {
			if bytes.Equal(e.Hash, want) {
				return true
			}
		}
	}
	return false
}
