#!/usr/bin/env node
// Verifies many HC1 strings in one process, for suites that check thousands of certificates
// (starting node once per certificate would dominate their time). Same checks as verify.js.
//
// Usage: node batch.js --cert DSC.pem < hc1-per-line
//
// Prints {"checked":N,"failed":M,"failures":[{"line":L,"error":"..."}]} (at most 20 failures
// listed) and exits 0 when every line verified, 1 otherwise, 2 for usage errors.
'use strict';

const fs = require('fs');
const { verify } = require('./verify');

function main (argv) {
  let certFile;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--cert' && i + 1 < argv.length) certFile = argv[++i];
    else if (argv[i].startsWith('--cert=')) certFile = argv[i].slice(7);
    else {
      process.stderr.write(`batch: unknown argument ${argv[i]}\nusage: node batch.js --cert DSC.pem < hc1-per-line\n`);
      return 2;
    }
  }
  if (!certFile) {
    process.stderr.write('usage: node batch.js --cert DSC.pem < hc1-per-line\n');
    return 2;
  }
  const cert = fs.readFileSync(certFile);
  const lines = fs.readFileSync(0, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const failures = [];
  let failed = 0;
  lines.forEach((hc1, i) => {
    try {
      verify(hc1, cert, {});
    } catch (e) {
      failed++;
      if (failures.length < 20) failures.push({ line: i + 1, error: e.message });
    }
  });
  process.stdout.write(JSON.stringify({ checked: lines.length, failed, failures }) + '\n');
  return failed === 0 && lines.length > 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
