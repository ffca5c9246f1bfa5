// Package storetest is the contract every issuer.Store implementation passes: the PostgreSQL
// store and the embedded store run the same suite, so the issuer can rely on one behaviour.
//
// Beyond the interface's comments, the suite pins down: times come back in UTC, kept to the
// microsecond; empty lists and byte slices come back nil; look-ups of lists return an empty list,
// not ErrNotFound; audit pages are newest first by (At, ID) with opaque cursors; an audit event
// without an ID is given one; revoking a revoked key keeps the first time; closing a closed status
// event keeps the first time; a closed store answers with ErrStoreUnavailable.
package storetest

import (
	"sync"
	"testing"

	"github.com/sedcc/dcc/issuer"
)

// Run runs the contract suite against the stores open makes.
//
// open must return a store over storage of the test's own, registering its own cleanup: empty on
// the first call within a test; a later call within the same test, made after the suite has
// closed the earlier store, must open the same storage again, as a restarted process would.
// Reopenable builds such a function.
func Run(t *testing.T, open func(t *testing.T) issuer.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) issuer.Store)
	}{
		{"RecordAndLookUp", testRecordAndLookUp},
		{"RecordWithoutCertificate", testRecordWithoutCertificate},
		{"RecordAudit", testRecordAudit},
		{"PurgeRequests", testPurgeRequests},
		{"DuplicateIdentifierWritesNothing", testDuplicateIdentifier},
		{"DuplicateRequestIDWritesNothing", testDuplicateRequestID},
		{"DuplicateUVCIWritesNothing", testDuplicateUVCI},
		{"ConcurrentRecords", testConcurrentRecords},
		{"CertificatesBySubject", testCertificatesBySubject},
		{"AuditFilters", testAuditFilters},
		{"AuditPaging", testAuditPaging},
		{"PurgeAudit", testPurgeAudit},
		{"PurgeAuditBatches", testPurgeAuditBatches},
		{"Principals", testPrincipals},
		{"APIKeys", testAPIKeys},
		{"ClientCerts", testClientCerts},
		{"Reopen", testReopen},
		{"PingAndClose", testPingAndClose},
		{"StatusEvents", testStatusEvents},
		{"StatusEventsPersist", testStatusEventsPersist},
		{"Revocations", testRevocations},
		{"ConcurrentRevocations", testConcurrentRevocations},
		{"SigningCertificates", testSigningCertificates},
		{"QueueSlots", testQueueSlots},
		{"ConcurrentQueueSlots", testConcurrentQueueSlots},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open)
		})
	}
}

// Reopenable turns a pair of functions into Run's open: newStorage makes a test's storage (a
// directory, a database URL) on the test's first call and is not called again for that test;
// openStorage opens a store over it on every call.
func Reopenable[S any](newStorage func(t *testing.T) S, openStorage func(t *testing.T, storage S) issuer.Store) func(t *testing.T) issuer.Store {
	var mu sync.Mutex
	made := map[*testing.T]S{}
	return func(t *testing.T) issuer.Store {
		t.Helper()
		mu.Lock()
		storage, ok := made[t]
		mu.Unlock()
		if !ok {
			storage = newStorage(t)
			mu.Lock()
			made[t] = storage
			mu.Unlock()
			t.Cleanup(func() {
				mu.Lock()
				delete(made, t)
				mu.Unlock()
			})
		}
		return openStorage(t, storage)
	}
}
