#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// List a prefix of the bucket (ListObjectsV2, 1,000 keys a page, as the
// tools do), every request SigV4-signed (the proxy verifies them); one key
// a line on stdout. The listing half of bench/ceiling.sh.
//
//   node s3list.js --endpoint http://127.0.0.1:P --bucket B --prefix P/
//                  --key K --secret S [--region us-east-1]
'use strict';
const http = require('http');
const crypto = require('crypto');

const o = { region: 'us-east-1' };
for (let i = 2; i < process.argv.length; i += 2)
  o[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const ep = new URL(o.endpoint);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const EMPTY = crypto.createHash('sha256').update('').digest('hex');

function enc(s, keepSlash) {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9_.~-]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}
const hmac = (k, d) => crypto.createHmac('sha256', k).update(d).digest();

function signedGet(path, query) {
  const amz = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const day = amz.slice(0, 8);
  const q = Object.keys(query).sort().map(k => `${enc(k)}=${enc(query[k])}`).join('&');
  const host = ep.host;
  const creq = ['GET', path, q, `host:${host}\nx-amz-content-sha256:${EMPTY}\nx-amz-date:${amz}\n`,
    'host;x-amz-content-sha256;x-amz-date', EMPTY].join('\n');
  const scope = `${day}/${o.region}/s3/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', amz, scope,
    crypto.createHash('sha256').update(creq).digest('hex')].join('\n');
  let k = hmac('AWS4' + o.secret, day);
  k = hmac(hmac(hmac(k, o.region), 's3'), 'aws4_request');
  const sig = hmac(k, sts).toString('hex');
  return {
    host: ep.hostname, port: ep.port, method: 'GET', agent,
    path: q ? `${path}?${q}` : path,
    headers: {
      host, 'x-amz-date': amz, 'x-amz-content-sha256': EMPTY,
      authorization: `AWS4-HMAC-SHA256 Credential=${o.key}/${scope}, ` +
        `SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${sig}`,
    },
  };
}

function get(path, query, wantBody) {
  return new Promise((resolve, reject) => {
    const req = http.request(signedGet(path, query), res => {
      const chunks = [];
      let n = 0;
      res.on('data', c => { n += c.length; if (wantBody) chunks.push(c); });
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${path}: HTTP ${res.statusCode}`));
        else resolve(wantBody ? Buffer.concat(chunks).toString('utf8') : n);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const unxml = s => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
  .replace(/&apos;/g, "'").replace(/&amp;/g, '&');

async function main() {
  let token = null;
  const out = [];
  for (;;) {
    const q = { 'list-type': '2', prefix: o.prefix, 'max-keys': '1000' };
    if (token) q['continuation-token'] = token;
    const xml = await get(`/${o.bucket}`, q, true);
    for (const m of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) out.push(unxml(m[1]));
    const t = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml);
    if (!/<IsTruncated>true<\/IsTruncated>/.test(xml) || !t) break;
    token = unxml(t[1]);
  }
  process.stdout.write(out.map(k => k + '\n').join(''));
  agent.destroy();
}
main().catch(e => { console.error('s3list:', e.message); process.exit(1); });
