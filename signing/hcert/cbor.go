package hcert

import (
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// codec holds the CBOR modes: deterministic Core encoding, and a bounded, strict decoding.
type codec struct {
	enc cbor.EncMode
	dec cbor.DecMode
}

func newCodec() (codec, error) {
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return codec{}, fmt.Errorf("cbor encoder: %w", err)
	}
	dec, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   16,
		MaxArrayElements:  4096,
		MaxMapPairs:       4096,
		IndefLength:       cbor.IndefLengthAllowed,
		IntDec:            cbor.IntDecConvertSignedOrFail,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		return codec{}, fmt.Errorf("cbor decoder: %w", err)
	}
	return codec{enc: enc, dec: dec}, nil
}

// codecs builds the CBOR modes once; they are immutable and safe for concurrent use.
var codecs = sync.OnceValues(newCodec)
