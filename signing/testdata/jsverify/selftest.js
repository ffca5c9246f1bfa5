#!/usr/bin/env node
// Runs verify.js over the EU DCC test vectors (dgc-testdata layout:
// COUNTRY/2DCode/raw/*.json) and checks that it accepts and refuses what the
// vectors' EXPECTEDRESULTS say.
//
// Usage: node selftest.js [--json] [--countries SE,DK,...] TESTDATA_DIR
//
// A vector is used when its EXPECTEDRESULTS decide the outcome of the whole
// chain that verify.js checks:
//   - one of EXPECTEDUNPREFIX, EXPECTEDB45DECODE, EXPECTEDCOMPRESSION,
//     EXPECTEDDECODE, EXPECTEDVERIFY, EXPECTEDEXPIRATIONCHECK is false:
//     the verifier must refuse it;
//   - otherwise EXPECTEDVERIFY is true: the verifier must accept it.
// Other vectors (schema, key usage or picture checks only) are counted as
// not applicable. The time check uses TESTCTX.VALIDATIONCLOCK when the vector
// sets EXPECTEDEXPIRATIONCHECK, and is left out when it does not (the vector
// does not test it, and its clock need not fall inside the validity).
// For accepted vectors with EXPECTEDVALIDJSON true, the payload verify.js
// returns must equal the vector's JSON (key order aside).
// Exit status: 0 when every used vector agrees, 1 otherwise.
'use strict';

const fs = require('fs');
const path = require('path');
const { verify } = require('./verify');

const DEFAULT_COUNTRIES = ['SE', 'DK', 'FI', 'DE', 'NL', 'IS', 'common'];

// Which verifier steps may refuse a vector whose given expectation is false.
const STEPS = {
  EXPECTEDUNPREFIX: ['prefix'],
  EXPECTEDB45DECODE: ['base45'],
  EXPECTEDCOMPRESSION: ['zlib'],
  EXPECTEDDECODE: ['cose', 'cwt'],
  EXPECTEDVERIFY: ['cose', 'kid', 'signature', 'cwt'],
  EXPECTEDEXPIRATIONCHECK: ['expiry']
};

// JSON-semantic equality (key order does not matter).
function sameJSON (a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => sameJSON(x, b[i]));
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return sameJSON(ka, kb) && ka.every((k) => sameJSON(a[k], b[k]));
}

function listVectors (root, country) {
  const dir = path.join(root, country, '2DCode', 'raw');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((f) => path.join(dir, f));
}

function expectation (exp) {
  const failing = Object.keys(STEPS).filter((k) => exp[k] === false);
  if (failing.length > 0) {
    return { valid: false, steps: failing.flatMap((k) => STEPS[k]), failing };
  }
  if (exp.EXPECTEDVERIFY === true) return { valid: true };
  return null;
}

function run (root, countries) {
  const summary = {
    total: 0,
    used: 0,
    expectValid: 0,
    expectInvalid: 0,
    agreed: 0,
    disagreed: 0,
    notApplicable: 0,
    refusedAtOtherStep: 0,
    payloadCompared: 0,
    payloadDiffers: 0,
    byCountry: {},
    disagreements: [],
    otherStep: [],
    payloadDiffs: []
  };
  for (const country of countries) {
    const c = { total: 0, used: 0, agreed: 0, disagreed: 0, notApplicable: 0 };
    summary.byCountry[country] = c;
    for (const file of listVectors(root, country)) {
      const name = path.relative(root, file);
      summary.total++;
      c.total++;
      let v;
      try {
        v = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (e) {
        summary.notApplicable++;
        c.notApplicable++;
        continue;
      }
      const exp = expectation(v.EXPECTEDRESULTS || {});
      const ctx = v.TESTCTX || {};
      if (!exp || typeof v.PREFIX !== 'string' || !ctx.CERTIFICATE) {
        summary.notApplicable++;
        c.notApplicable++;
        continue;
      }
      summary.used++;
      c.used++;
      if (exp.valid) summary.expectValid++;
      else summary.expectInvalid++;

      const timed = typeof (v.EXPECTEDRESULTS || {}).EXPECTEDEXPIRATIONCHECK === 'boolean';
      const opts = timed ? { now: ctx.VALIDATIONCLOCK, skew: 0 } : { ignoreTime: true };
      let ok = false;
      let reason = '';
      let step = '';
      let res;
      try {
        res = verify(v.PREFIX, Buffer.from(ctx.CERTIFICATE, 'base64'), opts);
        ok = true;
      } catch (e) {
        reason = e.message;
        step = e.step || 'internal';
      }
      const desc = ctx.DESCRIPTION || '';
      if (ok === exp.valid) {
        summary.agreed++;
        c.agreed++;
        // The printed payload must be the vector's JSON where the vector
        // says the chain decodes to it.
        if (ok && v.JSON && (v.EXPECTEDRESULTS || {}).EXPECTEDVALIDJSON === true) {
          summary.payloadCompared++;
          if (!sameJSON(res.payload, v.JSON)) {
            summary.payloadDiffers++;
            summary.payloadDiffs.push({ vector: name, description: desc });
          }
        }
        if (!ok && !exp.steps.includes(step)) {
          summary.refusedAtOtherStep++;
          summary.otherStep.push({ vector: name, description: desc, expectedFailing: exp.failing, reason });
        }
      } else {
        summary.disagreed++;
        c.disagreed++;
        summary.disagreements.push({
          vector: name,
          description: desc,
          expected: exp.valid ? 'valid' : 'invalid',
          got: ok ? 'valid' : 'invalid',
          reason
        });
      }
    }
  }
  return summary;
}

function main (argv) {
  let json = false;
  let countries = DEFAULT_COUNTRIES;
  let root;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') json = true;
    else if (a === '--countries') countries = String(argv[++i] || '').split(',').filter(Boolean);
    else if (a.startsWith('--')) {
      process.stderr.write(`selftest: unknown option ${a}\n`);
      return 2;
    } else root = a;
  }
  if (!root) {
    process.stderr.write('usage: node selftest.js [--json] [--countries SE,DK,...] TESTDATA_DIR\n');
    return 2;
  }
  const s = run(root, countries);
  if (json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n');
  } else {
    for (const [country, c] of Object.entries(s.byCountry)) {
      process.stdout.write(`${country}: ${c.total} vectors, ${c.used} used, ${c.agreed} agree, ${c.disagreed} disagree, ${c.notApplicable} not applicable\n`);
    }
    for (const d of s.disagreements) {
      process.stdout.write(`DISAGREE ${d.vector}: expected ${d.expected}, got ${d.got} ${d.reason ? '(' + d.reason + ')' : ''} — ${d.description}\n`);
    }
    for (const d of s.otherStep) {
      process.stdout.write(`note ${d.vector}: refused as expected but at another step (${d.reason}) — ${d.description}\n`);
    }
    for (const d of s.payloadDiffs) {
      process.stdout.write(`PAYLOAD ${d.vector}: printed payload differs from the vector's JSON — ${d.description}\n`);
    }
    process.stdout.write(`payloads compared with the vector's JSON: ${s.payloadCompared}, differing: ${s.payloadDiffers}\n`);
    process.stdout.write(`vectors: ${s.total} total, ${s.used} used (${s.expectValid} expected valid, ${s.expectInvalid} expected invalid), ${s.notApplicable} not applicable\n`);
    process.stdout.write(`${s.agreed - s.payloadDiffers} passed, ${s.disagreed + s.payloadDiffers} failed\n`);
  }
  return s.disagreed === 0 && s.payloadDiffers === 0 && s.used > 0 ? 0 : 1;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}

module.exports = { run };
