#!/usr/bin/env node
// Independent verifier for EU Digital COVID Certificates in their HC1 form.
//
// It shares no code with the Go implementation of this repository: Base45
// decoding is done by base45-js, CBOR by node-cbor, the COSE_Sign1 signature
// check by cose-js and certificate parsing by node's crypto (OpenSSL).
//
// Usage:
//   node verify.js --cert DSC.pem [--now RFC3339] [--skew SECONDS] [--claims] [HC1]
//
// The HC1 string is read from the last argument, or from stdin when absent.
// On success the DCC payload (claim -260 -> 1) is printed as JSON on stdout
// and the exit status is 0. On failure the reason goes to stderr and the
// exit status is 1 (2 for usage errors). With --claims it prints
// {"iss","iat","exp","kid","alg","payload"} instead of the payload alone.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const zlib = require('zlib');
const base45 = require('base45-js');
const cbor = require('cbor');
const cose = require('cose-js');

const ALG_ES256 = -7;
const ALG_PS256 = -37;
const HDR_ALG = 1;
const HDR_KID = 4;
const TAG_COSE_SIGN1 = 18;
const TAG_CWT = 61;
const CLAIM_ISS = 1;
const CLAIM_EXP = 4;
const CLAIM_IAT = 6;
const CLAIM_HCERT = -260;
const HCERT_EU_DCC = 1;

class VerifyError extends Error {
  constructor (step, message) {
    super(`${step}: ${message}`);
    this.step = step;
  }
}

// Options for node-cbor: maps always as Map (CWT keys are integers), and
// date tags left as the text or number that was encoded, so that the
// printed payload is the one that was signed.
const CBOR_OPTS = {
  preferMap: true,
  tags: {
    0: (v) => v,
    1: (v) => v,
    100: (v) => v,
    1004: (v) => v
  }
};

function decodeOne (buf, step) {
  let items;
  try {
    items = cbor.decodeAllSync(buf, CBOR_OPTS);
  } catch (e) {
    throw new VerifyError(step, `invalid CBOR: ${e.message}`);
  }
  if (items.length !== 1) {
    throw new VerifyError(step, `expected one CBOR item, found ${items.length}`);
  }
  return items[0];
}

// Reads a DSC given as PEM, DER or bare base64 DER.
function loadCertificate (data) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const text = buf.toString('latin1');
  let der;
  const m = text.match(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/);
  if (m) {
    der = Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
  } else if (buf.length > 0 && buf[0] === 0x30) {
    der = buf;
  } else {
    der = Buffer.from(text.replace(/\s+/g, ''), 'base64');
  }
  let cert;
  try {
    cert = new crypto.X509Certificate(der);
  } catch (e) {
    throw new VerifyError('certificate', `cannot parse DSC: ${e.message}`);
  }
  return { der: Buffer.from(cert.raw), cert };
}

function kidOf (der) {
  return crypto.createHash('sha256').update(der).digest().subarray(0, 8);
}

function b64u (s) {
  return Buffer.from(s, 'base64url');
}

function header (h, label) {
  if (h instanceof Map) return h.get(label);
  return undefined;
}

function toJSONValue (v) {
  if (v instanceof Map) {
    const o = {};
    for (const [k, val] of v) o[String(k)] = toJSONValue(val);
    return o;
  }
  if (Array.isArray(v)) return v.map(toJSONValue);
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (v instanceof cbor.Tagged) return toJSONValue(v.value);
  if (typeof v === 'bigint') return Number(v);
  return v;
}

function parseNow (s) {
  if (s === undefined || s === null) return Math.floor(Date.now() / 1000);
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new VerifyError('usage', `invalid --now time ${JSON.stringify(s)}`);
  return Math.floor(t / 1000);
}

// verify checks an HC1 string against a DSC (PEM/DER Buffer or string).
// opts.now: RFC 3339 time (default: the clock); opts.skew: seconds of clock
// skew allowed for iat (default 300); opts.ignoreTime: skip the exp/iat
// comparison with the clock.
// Returns { payload, iss, iat, exp, kid, alg } or throws VerifyError.
function verify (hc1, certData, opts = {}) {
  const now = parseNow(opts.now);
  const skew = opts.skew === undefined ? 300 : Number(opts.skew);
  const { der, cert } = loadCertificate(certData);

  // 1. Context identifier.
  if (typeof hc1 !== 'string') throw new VerifyError('prefix', 'no HC1 string');
  hc1 = hc1.trim();
  if (!hc1.startsWith('HC1:')) throw new VerifyError('prefix', 'missing "HC1:" prefix');
  const text = hc1.slice(4);

  // 2. Base45.
  if (text.length === 0 || text.length % 3 === 1) {
    throw new VerifyError('base45', `invalid length ${text.length}`);
  }
  let compressed;
  try {
    compressed = base45.decode(text);
  } catch (e) {
    throw new VerifyError('base45', e.message);
  }
  // base45-js does not reject out-of-range triples; a canonical round trip does.
  if (base45.encode(compressed) !== text) {
    throw new VerifyError('base45', 'value out of range');
  }

  // 3. zlib.
  let coseBytes;
  try {
    coseBytes = zlib.inflateSync(compressed);
  } catch (e) {
    throw new VerifyError('zlib', `not zlib-compressed: ${e.message}`);
  }

  // 4. COSE_Sign1 structure.
  let msg = decodeOne(coseBytes, 'cose');
  let cwtTagged = false;
  if (msg instanceof cbor.Tagged && msg.tag === TAG_CWT) {
    msg = msg.value;
    cwtTagged = true;
  }
  if (!(msg instanceof cbor.Tagged) || msg.tag !== TAG_COSE_SIGN1) {
    throw new VerifyError('cose', 'not a COSE_Sign1 message (tag 18)');
  }
  const arr = msg.value;
  if (!Array.isArray(arr) || arr.length !== 4) {
    throw new VerifyError('cose', 'COSE_Sign1 must be an array of 4');
  }
  const [protBytes, unprot, payloadBytes, signature] = arr;
  if (!Buffer.isBuffer(protBytes) || !Buffer.isBuffer(payloadBytes) || !Buffer.isBuffer(signature)) {
    throw new VerifyError('cose', 'protected header, payload and signature must be byte strings');
  }
  if (!(unprot instanceof Map)) {
    throw new VerifyError('cose', 'unprotected header must be a map');
  }
  const prot = protBytes.length === 0 ? new Map() : decodeOne(protBytes, 'cose');
  if (!(prot instanceof Map)) throw new VerifyError('cose', 'protected header must be a map');

  // alg belongs in the protected header; like the EU reference verifiers,
  // an alg in the unprotected header alone is accepted too. Either way it
  // must match the DSC's key type below.
  let alg = header(prot, HDR_ALG);
  if (alg === undefined) alg = header(unprot, HDR_ALG);
  if (alg !== ALG_ES256 && alg !== ALG_PS256) {
    throw new VerifyError('cose', `unsupported or missing alg ${alg} (ES256 -7 and PS256 -37 are supported)`);
  }

  // 5. kid: protected header first, unprotected header as a fallback.
  let kid = header(prot, HDR_KID);
  if (kid === undefined) kid = header(unprot, HDR_KID);
  if (!Buffer.isBuffer(kid)) throw new VerifyError('kid', 'no kid in the COSE headers');
  const want = kidOf(der);
  if (!kid.equals(want)) {
    throw new VerifyError('kid', `kid ${kid.toString('base64')} is not the DSC's ${want.toString('base64')}`);
  }

  // 6. Signature, by cose-js, with the DSC's public key.
  const jwk = cert.publicKey.export({ format: 'jwk' });
  let key;
  if (alg === ALG_ES256) {
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') {
      throw new VerifyError('signature', `ES256 needs a P-256 key, DSC has ${jwk.kty} ${jwk.crv || ''}`);
    }
    if (signature.length !== 64) throw new VerifyError('signature', `ES256 signature of ${signature.length} bytes`);
    key = { x: b64u(jwk.x), y: b64u(jwk.y) };
  } else {
    if (jwk.kty !== 'RSA') throw new VerifyError('signature', `PS256 needs an RSA key, DSC has ${jwk.kty}`);
    key = { n: b64u(jwk.n), e: b64u(jwk.e) };
  }
  // cose-js wants the tagged COSE_Sign1 alone (no outer CWT tag).
  const sign1 = cwtTagged ? cbor.encode(new cbor.Tagged(TAG_COSE_SIGN1, arr)) : coseBytes;
  let signed;
  try {
    signed = cose.sign.verifySync(sign1, { key });
  } catch (e) {
    let note = '';
    // cose-js rebuilds Sig_structure from the decoded protected header; say
    // so when that re-encoding is not the original bytes.
    if (protBytes.length > 0 && !cbor.encode(prot).equals(protBytes)) {
      note = ' (the protected header is not in preferred CBOR encoding, which cose-js re-encodes)';
    }
    throw new VerifyError('signature', e.message + note);
  }
  if (!Buffer.from(signed).equals(payloadBytes)) {
    throw new VerifyError('signature', 'verified payload differs from the message payload');
  }

  // 7. CWT claims.
  const claims = decodeOne(payloadBytes, 'cwt');
  if (!(claims instanceof Map)) throw new VerifyError('cwt', 'claims are not a map');
  const iss = claims.get(CLAIM_ISS);
  const exp = claims.get(CLAIM_EXP);
  const iat = claims.get(CLAIM_IAT);
  if (iss !== undefined && typeof iss !== 'string') throw new VerifyError('cwt', 'iss is not text');
  if (!Number.isInteger(Number(exp))) throw new VerifyError('cwt', 'exp missing or not an integer');
  if (!Number.isInteger(Number(iat))) throw new VerifyError('cwt', 'iat missing or not an integer');
  const hcert = claims.get(CLAIM_HCERT);
  if (!(hcert instanceof Map)) throw new VerifyError('cwt', 'hcert claim (-260) missing');
  const dcc = hcert.get(HCERT_EU_DCC);
  if (!(dcc instanceof Map)) throw new VerifyError('cwt', 'EU DCC (-260 -> 1) missing');

  // 8. Time (opts.ignoreTime is for test vectors that do not test it).
  if (!opts.ignoreTime) {
    // Expired once the clock is past exp; at exp itself the certificate is
    // still valid, as in the EU test vectors and reference verifiers.
    if (now > Number(exp)) {
      throw new VerifyError('expiry', `expired at ${new Date(Number(exp) * 1000).toISOString()}`);
    }
    if (Number(iat) > now + skew) {
      throw new VerifyError('expiry', `issued in the future at ${new Date(Number(iat) * 1000).toISOString()}`);
    }
  }

  return {
    payload: toJSONValue(dcc),
    iss,
    iat: Number(iat),
    exp: Number(exp),
    kid: kid.toString('base64'),
    alg: alg === ALG_ES256 ? 'ES256' : 'PS256'
  };
}

function usage (msg) {
  if (msg) process.stderr.write(`verify: ${msg}\n`);
  process.stderr.write('usage: node verify.js --cert DSC.pem [--now RFC3339] [--skew SECONDS] [--claims] [HC1]\n');
  process.exit(2);
}

function main (argv) {
  let certFile, now, skew, hc1;
  let claims = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--cert') certFile = val();
    else if (a.startsWith('--cert=')) certFile = a.slice(7);
    else if (a === '--now') now = val();
    else if (a.startsWith('--now=')) now = a.slice(6);
    else if (a === '--skew') skew = val();
    else if (a.startsWith('--skew=')) skew = a.slice(7);
    else if (a === '--claims') claims = true;
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (hc1 === undefined) hc1 = a;
    else usage('more than one HC1 argument');
  }
  if (!certFile) usage('--cert is required');
  if (hc1 === undefined) hc1 = fs.readFileSync(0, 'utf8');
  let certData;
  try {
    certData = fs.readFileSync(certFile);
  } catch (e) {
    usage(`cannot read ${certFile}: ${e.message}`);
  }
  try {
    const res = verify(hc1, certData, { now, skew });
    process.stdout.write(JSON.stringify(claims ? res : res.payload) + '\n');
    return 0;
  } catch (e) {
    process.stderr.write(`verify: INVALID: ${e.message}\n`);
    return 1;
  }
}

module.exports = { verify, VerifyError, kidOf, loadCertificate };

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
