package pkcs11

/*
#cgo linux LDFLAGS: -ldl
#cgo freebsd LDFLAGS: -ldl
#cgo noescape ecdsa_sign
#cgo nocallback ecdsa_sign
#include <dlfcn.h>
#include <stdlib.h>

// The few PKCS #11 (v2.40) types the signing call needs, laid out as pkcs11t.h and pkcs11.h
// declare them on Unix (natural alignment, no packing).
typedef unsigned long ck_ulong;
typedef struct { unsigned char major, minor; } ck_version;
typedef struct { ck_ulong mechanism; void *parameter; ck_ulong parameter_len; } ck_mechanism;
typedef ck_ulong (*ck_any)(void);
typedef struct {
	ck_version version;
	ck_any before_sign_init[42]; // C_Initialize to C_DigestFinal, in pkcs11f.h's order
	ck_ulong (*C_SignInit)(ck_ulong session, ck_mechanism *mechanism, ck_ulong key);
	ck_ulong (*C_Sign)(ck_ulong session, unsigned char *data, ck_ulong data_len,
	                   unsigned char *signature, ck_ulong *signature_len);
} ck_function_list;
typedef ck_ulong (*ck_get_function_list)(ck_function_list **list);

#define CKM_ECDSA_ 0x1041UL

// ecdsa_open takes a reference to the module the binding has loaded under the same path
// (RTLD_NOLOAD: never a second copy, whose sessions would be others) and returns its function
// list, or NULL.
static void *ecdsa_open(const char *module, ck_function_list **list) {
	void *h = dlopen(module, RTLD_LAZY | RTLD_NOLOAD);
	if (h == NULL) return NULL;
	ck_get_function_list get = (ck_get_function_list)dlsym(h, "C_GetFunctionList");
	if (get == NULL || get(list) != 0 || *list == NULL) {
		dlclose(h);
		return NULL;
	}
	return h;
}

static void ecdsa_close(void *h) { dlclose(h); }

#define CKR_BUFFER_TOO_SMALL_ 0x150UL

// ecdsa_sign signs the digest with CKM_ECDSA in one crossing from Go: C_SignInit, then one C_Sign
// into the caller's buffer of *sig_len bytes (a P-256 signature is 64). A token that wants a
// larger buffer leaves its operation active (PKCS #11 5.2): it is finished into a buffer of the
// size asked, so that the session can sign again, and CKR_BUFFER_TOO_SMALL is returned with
// *sig_len the size the token gave.
static ck_ulong ecdsa_sign(ck_function_list *f, ck_ulong session, ck_ulong key,
                           unsigned char *digest, ck_ulong digest_len,
                           unsigned char *sig, ck_ulong *sig_len) {
	ck_mechanism m = { CKM_ECDSA_, NULL, 0 };
	ck_ulong rv = f->C_SignInit(session, &m, key);
	if (rv != 0) return rv;
	ck_ulong cap = *sig_len;
	rv = f->C_Sign(session, digest, digest_len, sig, sig_len);
	if (rv == CKR_BUFFER_TOO_SMALL_ && *sig_len > cap) {
		ck_ulong want = *sig_len;
		unsigned char *big = malloc(want);
		if (big != NULL) {
			f->C_Sign(session, digest, digest_len, big, &want);
			free(big);
		}
		return CKR_BUFFER_TOO_SMALL_;
	}
	return rv;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	p11 "github.com/miekg/pkcs11"
)

// ecdsaSigner calls C_SignInit and C_Sign of the module directly: one cgo crossing and no
// allocation per signature, where the binding makes three crossings (C_SignInit, and C_Sign
// twice: once for the length, once for the signature) and copies through C memory.
type ecdsaSigner struct {
	handle unsafe.Pointer
	list   *C.ck_function_list
}

func openECDSASigner(module string) (*ecdsaSigner, error) {
	path := C.CString(module)
	defer C.free(unsafe.Pointer(path))
	var list *C.ck_function_list
	h := C.ecdsa_open(path, &list)
	if h == nil {
		return nil, fmt.Errorf("pkcs11: no function list in module %s", module)
	}
	return &ecdsaSigner{handle: h, list: list}, nil
}

func (e *ecdsaSigner) close() { C.ecdsa_close(e.handle) }

// sign signs the 32-byte digest with the P-256 key h on session s into sig (r||s).
func (e *ecdsaSigner) sign(s p11.SessionHandle, h p11.ObjectHandle, digest []byte, sig *[64]byte) (int, error) {
	n := C.ck_ulong(len(sig))
	rv := C.ecdsa_sign(e.list, C.ck_ulong(s), C.ck_ulong(h),
		(*C.uchar)(unsafe.Pointer(&digest[0])), C.ck_ulong(len(digest)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &n)
	if rv == C.CKR_BUFFER_TOO_SMALL_ {
		return 0, fmt.Errorf("%w: the token's signature is %d bytes, want %d (not a P-256 key)", p11.Error(rv), n, len(sig))
	}
	if rv != 0 {
		return 0, p11.Error(rv)
	}
	return int(n), nil
}
