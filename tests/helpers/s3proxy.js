#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// A SigV4-verifying reverse proxy in front of s3rver (which checks the
// access key id but not the signature; see ../shared/FIELD-NOTES.md).
// It does what S3 does before it touches an object: it recomputes the
// AWS Signature Version 4 of every request with the one secret it knows,
// checks the request time against its own clock (15 minutes), the payload
// against x-amz-content-sha256, Content-MD5 and x-amz-checksum-sha256, and
// refuses what does not match with S3's own error codes. What passes is
// forwarded to s3rver without its Authorization header (already checked).
//
// Test hooks (all optional):
//   --log FILE        one line per request:
//                     METHOD KEY?QUERY STATUS BYTES CODE|- UNIX-MS CLIENT-PORT
//   --dump DIR        the body of every object PUT, as DIR/NNNNNN
//                     (and DIR/NNNNNN.key holding the key)
//   --ctl DIR         behaviour switches read per request:
//                       DIR/down         close connections without answering
//                       DIR/fail         JSON {"count":N,"status":503,
//                                        "code":"SlowDown","retryAfter":S,
//                                        "methods":["PUT"]}: fail the next N
//                                        requests (count decremented)
//                       DIR/delay-put    milliseconds to hold each PUT/POST
//                                        before forwarding it
//                       DIR/delay-get    the same for each object GET
//                       DIR/inject.json  [{"key":K,"body":B}]: objects added
//                                        to listings (keys URL-encoded) and
//                                        served by the proxy itself
//                       DIR/chaos.json   rate-based faults, see "Chaos" below
//                     DIR/fail and DIR/chaos.json leave lease objects
//                     (KEY containing ".tenant-init/") alone unless they
//                     say "lease": true: their faults are for the data.
//
// Conditional writes, as S3 and R2 do them (s3rver has none): a PUT with
// If-None-Match: * gets 412 PreconditionFailed when the key exists, one
// with If-Match: ETAG gets 404 NoSuchKey when it does not and 412 when
// its ETag differs. Conditional PUTs of one key are served one at a time.
//                       DIR/raw-listing.json  {"inject":[NAME...]}: listings
//                                        ignore encoding-type=url, as some
//                                        S3-compatibles do: keys raw (only
//                                        & < > " ' escaped), no EncodingType;
//                                        the first page also lists an object
//                                        PREFIX+NAME for each NAME (control
//                                        characters and all), served by the
//                                        proxy itself
//   --fault-log FILE  one line per injected fault (default DIR/chaos.log):
//                     KIND VARIANT METHOD UNIX-MS CLIENT-PORT KEY?QUERY
//   --clock-offset S  the proxy's clock runs S seconds ahead (Date header
//                     and the skew check), to test clock-skew correction
//   --verbose 1       print the canonical request of refused signatures
//
// Chaos: DIR/chaos.json, read per request, e.g.
//   {"rate":0.1,"kinds":["500","503","reset","stall","truncate"],
//    "stallMs":3000,"seed":42,"methods":["PUT","GET"],"retryAfter":1,
//    "variants":["after","late"]}
// makes a share `rate` of the requests (of `methods`, default all) fail
// with one of `kinds` (default all five; repeat a kind to weight it), the
// way S3 and the network between fail (`variants`, when given, limits the
// variants below to those named; a kind left with none injects nothing):
//   500       InternalError; variant "before" (the request is not
//             applied) or "after" (forwarded and applied, then answered
//             500 anyway: a retry must be harmless)
//   503       SlowDown, not applied (Retry-After only if `retryAfter`)
//   reset     a TCP RST: "early" while the request (body) arrives, after
//             a random share of the body, not applied; or "late", after
//             the upstream applied it, so the answer is lost
//   stall     the request held `stallMs` (default 3000), then "answer"
//             (forwarded, succeeds late; applied even when the client
//             gave up meanwhile, as a server that has the whole request
//             does) or "reset" (not applied); or "late": forwarded and
//             applied at once, the answer held `stallMs` (lost if the
//             client is gone by then); for an object GET also "body":
//             headers and half the body, a pause of `stallMs`, then the
//             rest (slow, but complete)
//   truncate  "response": forwarded and applied, then the answer is cut
//             at a random byte -- inside the body when there is one (the
//             Content-Length announced, the socket closed short of it),
//             else inside the status line and headers; "head": the same,
//             always inside the status line and headers; or, for a PUT/POST
//             with a body, "request": a random share of the body read,
//             then 400 RequestTimeout (what S3 answers a client whose
//             body stopped arriving), Connection: close, not applied
// With a `seed` the decision for a request is a function of the seed, the
// request line and how many times that request line was seen, so a run
// that sends the same requests gets the same faults; without one it is
// random. Faults are logged to --fault-log; the --log line of a faulted
// request keeps its seven fields (STATUS 0 when nothing was answered,
// CODE the S3 code sent or Chaos-KIND).
//
// Usage: node s3proxy.js --port P --upstream-port U --access-key K
//                        --secret S [hooks...]
'use strict';

const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const opts = {
  host: '127.0.0.1',
  port: 0,
  upstreamPort: 0,
  accessKey: 'S3RVER',
  secret: '',
  log: null,
  dump: null,
  ctl: null,
  faultLog: null,
  clockOffset: 0,
  verbose: false,
};
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i];
  const v = process.argv[i + 1];
  switch (k) {
    case '--port': opts.port = Number(v); break;
    case '--upstream-port': opts.upstreamPort = Number(v); break;
    case '--access-key': opts.accessKey = v; break;
    case '--secret': opts.secret = v; break;
    case '--log': opts.log = v; break;
    case '--dump': opts.dump = v; break;
    case '--ctl': opts.ctl = v; break;
    case '--fault-log': opts.faultLog = v; break;
    case '--clock-offset': opts.clockOffset = Number(v); break;
    case '--verbose': opts.verbose = v === '1'; break;
    default:
      console.error(`s3proxy: unknown option ${k}`);
      process.exit(2);
  }
}
if (!opts.port || !opts.upstreamPort || !opts.secret) {
  console.error('s3proxy: --port, --upstream-port and --secret are required');
  process.exit(2);
}
if (!opts.faultLog && opts.ctl) opts.faultLog = path.join(opts.ctl, 'chaos.log');

const MAX_BODY = 256 * 1024 * 1024;
let dumpSeq = 0;

function now() {
  return Date.now() + opts.clockOffset * 1000;
}

function sha256hex(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

function hmac(key, data) {
  return crypto.createHmac('sha256', key).update(data).digest();
}

// RFC 3986 unreserved characters stay, everything else is %XX (uppercase),
// which is how S3 canonicalises both the path and the query.
function uriEncode(s, keepSlash) {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9_.~-]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function uriDecode(s) {
  // decodeURIComponent refuses malformed escapes; S3 answers 400 to those.
  return decodeURIComponent(s);
}

function canonicalPath(rawPath) {
  return rawPath
    .split('/')
    .map(seg => uriEncode(uriDecode(seg), false))
    .join('/');
}

function canonicalQuery(rawQuery) {
  if (!rawQuery) return '';
  const pairs = rawQuery
    .split('&')
    .filter(p => p.length)
    .map(p => {
      const eq = p.indexOf('=');
      const k = eq < 0 ? p : p.slice(0, eq);
      const v = eq < 0 ? '' : p.slice(eq + 1);
      return [uriEncode(uriDecode(k), false), uriEncode(uriDecode(v), false)];
    });
  pairs.sort((a, b) =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

// All values of a header, in order, joined by ',' as SigV4 specifies for
// repeated headers (Node would join with ', ').
function headerValues(rawHeaders, name) {
  const vals = [];
  for (let i = 0; i < rawHeaders.length; i += 2)
    if (rawHeaders[i].toLowerCase() === name)
      vals.push(rawHeaders[i + 1].trim().replace(/\s+/g, ' '));
  return vals;
}

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return NaN;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

class S3Err extends Error {
  constructor(status, code, message, extra) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra || {};
  }
}

function xmlEscape(s) {
  return String(s).replace(/[<>&'"]/g, c => ({
    '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;',
  })[c]);
}

function verify(req, body) {
  const auth = req.headers.authorization;
  if (!auth) throw new S3Err(403, 'AccessDenied', 'Anonymous access denied');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) throw new S3Err(400, 'AuthorizationHeaderMalformed', 'Malformed Authorization header');
  const [, keyId, scopeDate, region, service, signedHeaders, signature] = m;
  if (keyId !== opts.accessKey)
    throw new S3Err(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  if (service !== 's3')
    throw new S3Err(400, 'AuthorizationHeaderMalformed', `service '${service}' is not s3`);

  const dates = headerValues(req.rawHeaders, 'x-amz-date');
  if (dates.length > 1)
    throw new S3Err(400, 'InvalidRequest', 'x-amz-date header repeated');
  const amzDate = dates[0];
  if (!amzDate) throw new S3Err(403, 'AccessDenied', 'x-amz-date missing');
  const t = parseAmzDate(amzDate);
  if (Number.isNaN(t)) throw new S3Err(403, 'AccessDenied', 'x-amz-date malformed');
  if (amzDate.slice(0, 8) !== scopeDate)
    throw new S3Err(403, 'SignatureDoesNotMatch', 'credential scope date differs from x-amz-date');
  if (Math.abs(t - now()) > 15 * 60 * 1000)
    throw new S3Err(403, 'RequestTimeTooSkewed',
      'The difference between the request time and the current time is too large.',
      { RequestTime: amzDate, ServerTime: new Date(now()).toISOString() });

  const payloadHash = (req.headers['x-amz-content-sha256'] || '').trim();
  if (!payloadHash)
    throw new S3Err(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');

  const signed = signedHeaders.split(';');
  if (!signed.includes('host'))
    throw new S3Err(403, 'AccessDenied', 'host must be a signed header');
  const canonHeaders = signed.map(h => {
    const v = headerValues(req.rawHeaders, h);
    if (!v.length) throw new S3Err(403, 'SignatureDoesNotMatch', `signed header ${h} missing`);
    return `${h}:${v.join(',')}\n`;
  }).join('');
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
  let creq;
  try {
    creq = [req.method, canonicalPath(rawPath), canonicalQuery(rawQuery),
      canonHeaders, signedHeaders, payloadHash].join('\n');
  } catch (e) {
    throw new S3Err(400, 'InvalidURI', 'Could not parse the specified URI.');
  }
  const scope = `${scopeDate}/${region}/${service}/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(creq)].join('\n');
  let k = hmac('AWS4' + opts.secret, scopeDate);
  k = hmac(k, region);
  k = hmac(k, service);
  k = hmac(k, 'aws4_request');
  const want = hmac(k, sts).toString('hex');
  if (!crypto.timingSafeEqual(Buffer.from(want), Buffer.from(signature))) {
    if (opts.verbose)
      console.error(`s3proxy: signature mismatch; canonical request:\n${creq}\n`);
    throw new S3Err(403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.');
  }

  // The payload, as S3 checks it.
  if (payloadHash !== 'UNSIGNED-PAYLOAD') {
    if (!/^[0-9a-f]{64}$/.test(payloadHash))
      throw new S3Err(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a hex SHA-256');
    if (sha256hex(body) !== payloadHash)
      throw new S3Err(400, 'XAmzContentSHA256Mismatch',
        "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  const md5 = req.headers['content-md5'];
  if (md5 !== undefined &&
      crypto.createHash('md5').update(body).digest('base64') !== md5.trim())
    throw new S3Err(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
  const cks = req.headers['x-amz-checksum-sha256'];
  if (cks !== undefined &&
      crypto.createHash('sha256').update(body).digest('base64') !== cks.trim())
    throw new S3Err(400, 'BadDigest', 'The x-amz-checksum-sha256 you specified did not match what we received.');
}

function sendError(res, err, resource) {
  const extra = Object.entries(err.extra)
    .map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`).join('');
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${err.code}</Code><Message>${xmlEscape(err.message)}</Message>` +
    `${extra}<Resource>${xmlEscape(resource)}</Resource><RequestId>proxy</RequestId></Error>`;
  const headers = {
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(body),
    Date: new Date(now()).toUTCString(),
  };
  if (err.retryAfter !== undefined) headers['Retry-After'] = String(err.retryAfter);
  res.writeHead(err.status, headers);
  res.end(body);
}

function ctlPath(name) {
  return opts.ctl ? path.join(opts.ctl, name) : null;
}

function readCtl(name) {
  const p = ctlPath(name);
  if (!p) return null;
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (e) {
    return null;
  }
}

function logLine(req, key, status, bytes, code) {
  if (!opts.log) return;
  const q = req.url.indexOf('?');
  const query = q < 0 ? '' : req.url.slice(q);
  fs.appendFileSync(opts.log,
    `${req.method} ${key}${query} ${status} ${bytes} ${code || '-'} ${Date.now()} ${req.socket.remotePort}\n`);
}

// "/bucket/key..." -> [bucket, key]
function splitPath(url) {
  const q = url.indexOf('?');
  const raw = q < 0 ? url : url.slice(0, q);
  let p;
  try {
    p = uriDecode(raw);
  } catch (e) {
    p = raw;
  }
  const m = /^\/([^/]*)\/?(.*)$/s.exec(p);
  return m ? [m[1], m[2]] : ['', ''];
}

function injected() {
  const s = readCtl('inject.json');
  if (!s) return [];
  try {
    return JSON.parse(s);
  } catch (e) {
    return [];
  }
}

function rawListingConfig() {
  const s = readCtl('raw-listing.json');
  if (s === null) return null;
  try {
    const c = JSON.parse(s);
    return { inject: Array.isArray(c.inject) ? c.inject.map(String) : [] };
  } catch (e) {
    return { inject: [] }; // being rewritten: raw keys, nothing added
  }
}

// Objects a raw listing added (key -> body), answered by the proxy.
const rawObjects = new Map();

function contentsXml(keyText, key, body) {
  const etag = crypto.createHash('md5').update(body).digest('hex');
  return `<Contents><Key>${keyText(key)}</Key>` +
    `<LastModified>${new Date(now()).toISOString()}</LastModified>` +
    `<ETag>&quot;${etag}&quot;</ETag><Size>${body.length}</Size>` +
    '<StorageClass>STANDARD</StorageClass></Contents>';
}

// Rewrite a ListObjectsV2 page. By default every key is URL-encoded
// (encoding-type=url), as S3 does when asked -- the only way a listing can
// carry keys with control characters -- and the injected objects are added
// to the last page. With raw (DIR/raw-listing.json) the page is what a
// server that ignores encoding-type=url sends: keys raw, XML-escaped only
// where XML needs it, so a control character goes out as the bare byte
// (which XML 1.0 does not allow), no EncodingType element; and the first
// page (first) lists raw.inject as well.
function rewriteListing(xml, prefix, objs, raw, first) {
  const encoded = /<EncodingType>url<\/EncodingType>/.test(xml);
  const keyText = raw ? k => xmlEscape(k) : k => uriEncode(k, true);
  xml = xml.replace(/<Key>([^<]*)<\/Key>/g, (all, k) => {
    let key = k.replace(/&lt;/g, '<').replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
    if (encoded) key = decodeURIComponent(key.replace(/\+/g, ' '));
    return `<Key>${keyText(key)}</Key>`;
  });
  let add = '';
  if (!/<IsTruncated>true<\/IsTruncated>/.test(xml))
    add += objs.filter(o => o.key.startsWith(prefix))
      .map(o => contentsXml(keyText, o.key, Buffer.from(o.body || ''))).join('');
  if (raw && first) {
    for (const name of raw.inject) {
      const key = prefix + name;
      const body = Buffer.from(`raw-listing object ${JSON.stringify(name)}\n`);
      rawObjects.set(key, body);
      add += contentsXml(keyText, key, body);
    }
  }
  xml = xml.replace('</ListBucketResult>', add + '</ListBucketResult>');
  if (raw)
    xml = xml.replace(/<EncodingType>[^<]*<\/EncodingType>/g, '');
  else if (!encoded)
    xml = xml.replace(/(<ListBucketResult[^>]*>)/, '$1<EncodingType>url</EncodingType>');
  return xml;
}

// ---- chaos ----

const CHAOS_KINDS = ['500', '503', 'reset', 'stall', 'truncate'];
let chaosCache = { text: null, cfg: null };
const chaosSeen = new Map(); // request line -> times seen (for the seed)

function chaosConfig() {
  const s = readCtl('chaos.json');
  if (s === null) return null;
  if (s !== chaosCache.text) {
    let c = null;
    try {
      c = JSON.parse(s);
    } catch (e) {
      c = null; // being rewritten: no faults until it parses
    }
    chaosCache = { text: s, cfg: c };
  }
  return chaosCache.cfg;
}

// A lease object (sync/lease.h): spared by faults not aimed at it.
function isLeaseKey(key) {
  return /(^|\/)\.tenant-init\//.test(key || '');
}

// The fault for a request that just arrived, or null.
function chaosPick(req) {
  const c = chaosConfig();
  if (!c || !(Number(c.rate) > 0)) return null;
  if (isLeaseKey(splitPath(req.url)[1]) && !c.lease) return null;
  if (Array.isArray(c.methods) && !c.methods.includes(req.method)) return null;
  const id = `${req.method} ${req.url}`;
  const n = (chaosSeen.get(id) || 0) + 1;
  chaosSeen.set(id, n);
  const h = c.seed === undefined ? crypto.randomBytes(16)
    : crypto.createHash('sha256').update(`${c.seed}\n${id}\n${n}`).digest();
  const u = i => h.readUInt32BE(4 * i) / 4294967296;
  if (u(0) >= Number(c.rate)) return null;
  const kinds = (Array.isArray(c.kinds) && c.kinds.length ? c.kinds : CHAOS_KINDS)
    .map(String).filter(k => CHAOS_KINDS.includes(k));
  if (!kinds.length) return null;
  const kind = kinds[Math.floor(u(1) * kinds.length)];
  const len = Number(req.headers['content-length'] || 0);
  const objGet = req.method === 'GET' && splitPath(req.url)[1] !== '';
  const variants = {
    '500': ['before', 'after'],
    '503': ['before'],
    reset: ['early', 'late'],
    stall: objGet ? ['answer', 'reset', 'late', 'body'] : ['answer', 'reset', 'late'],
    truncate: len > 0 && (req.method === 'PUT' || req.method === 'POST')
      ? ['response', 'head', 'request'] : ['response', 'head'],
  }[kind].filter(v => !Array.isArray(c.variants) || c.variants.includes(v));
  if (!variants.length) return null;
  return {
    kind,
    variant: variants[Math.floor(u(2) * variants.length)],
    u: u(3), // where to cut
    len,
    stallMs: Number(c.stallMs) > 0 ? Number(c.stallMs) : 3000,
    retryAfter: c.retryAfter,
  };
}

function logFault(req, key, f) {
  if (!opts.faultLog) return;
  const q = req.url.indexOf('?');
  const query = q < 0 ? '' : req.url.slice(q);
  fs.appendFileSync(opts.faultLog,
    `${f.kind} ${f.variant} ${req.method} ${Date.now()} ${req.socket.remotePort} ${key}${query}\n`);
}

// A TCP RST, as a crashed server or a middlebox sends.
function resetSocket(sock) {
  if (typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy();
  else sock.destroy();
}

// Deliver a buffered upstream answer with the fault f applied.
function deliverFault(req, res, key, status, rh, out, f) {
  const hasBody = req.method !== 'HEAD' && out.length > 0;
  switch (f.kind) {
    case '500': {
      // Applied upstream; the client is told it failed.
      const err = new S3Err(500, 'InternalError',
        'We encountered an internal error. Please try again.');
      logLine(req, key, 500, 0, err.code);
      sendError(res, err, req.url);
      return;
    }
    case 'reset':
      logLine(req, key, 0, 0, 'Chaos-reset');
      resetSocket(req.socket);
      return;
    case 'stall': {
      if (f.variant === 'late') {
        // Applied; the answer comes late, if anyone is still there.
        setTimeout(() => {
          if (req.socket.destroyed) return;
          res.writeHead(status, rh);
          res.end(req.method === 'HEAD' ? undefined : out);
          logLine(req, key, status, out.length, 'Chaos-stall');
        }, f.stallMs);
        return;
      }
      // Headers and half the body now, the rest after a pause.
      const half = hasBody ? Math.floor(out.length / 2) : 0;
      res.writeHead(status, rh);
      if (half) res.write(out.subarray(0, half));
      setTimeout(() => {
        if (req.socket.destroyed) return;
        res.end(out.subarray(half));
        logLine(req, key, status, out.length, 'Chaos-stall');
      }, f.stallMs);
      return;
    }
    case 'truncate':
    default: {
      if (f.variant !== 'head' && hasBody && out.length >= 2) {
        // Content-Length announced, fewer bytes sent, connection closed.
        const cut = 1 + Math.floor(f.u * (out.length - 1));
        res.writeHead(status, rh);
        res.write(out.subarray(0, cut), () => req.socket.destroy());
        logLine(req, key, status, cut, 'Chaos-truncate');
        return;
      }
      // "head", or no body to cut: cut the status line and headers.
      const head = Buffer.from(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] || ''}\r\n` +
        Object.entries(rh).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n');
      const cut = 1 + Math.floor(f.u * (head.length - 1));
      req.socket.write(head.subarray(0, cut), () => req.socket.destroy());
      logLine(req, key, 0, 0, 'Chaos-truncate');
    }
  }
}

function forward(req, res, body, key, opts2) {
  const headers = Object.assign({}, req.headers);
  // The proxy is the authority: s3rver would check the request time
  // against its own clock again (which --clock-offset does not move).
  delete headers.authorization;
  delete headers['transfer-encoding'];
  delete headers.expect;
  if (body.length || req.method === 'PUT' || req.method === 'POST')
    headers['content-length'] = String(body.length);
  const up = http.request({
    host: '127.0.0.1',
    port: opts.upstreamPort,
    method: req.method,
    path: req.url,
    headers,
  }, ures => {
    const rh = Object.assign({}, ures.headers);
    // Hop-by-hop headers belong to the proxy -> s3rver connection: Node
    // 18's http.request asks for Connection: close there, and passing it
    // on would close every client connection after one request.
    delete rh.connection;
    delete rh['keep-alive'];
    rh.date = new Date(now()).toUTCString();
    const fault = opts2 && opts2.fault;
    if ((opts2 && opts2.listing) || fault) {
      const chunks = [];
      ures.on('data', c => chunks.push(c));
      ures.on('end', () => {
        let out = Buffer.concat(chunks);
        if (opts2.listing) {
          let xml = out.toString('utf8');
          if (ures.statusCode === 200)
            xml = rewriteListing(xml, opts2.prefix, opts2.objs, opts2.raw,
              opts2.first);
          out = Buffer.from(xml);
        }
        if (req.method !== 'HEAD' && ures.statusCode !== 204 &&
            ures.statusCode !== 304) {
          rh['content-length'] = String(out.length);
          delete rh['transfer-encoding'];
        }
        if (fault) {
          deliverFault(req, res, key, ures.statusCode, rh, out, fault);
          return;
        }
        res.writeHead(ures.statusCode, rh);
        res.end(out);
        logLine(req, key, ures.statusCode, out.length);
      });
      return;
    }
    res.writeHead(ures.statusCode, rh);
    let n = 0;
    ures.on('data', c => { n += c.length; });
    ures.pipe(res);
    ures.on('end', () => logLine(req, key, ures.statusCode, n));
  });
  up.on('error', e => {
    logLine(req, key, 502, 0);
    res.destroy(e);
  });
  up.end(body);
}

function handle(req, res, body, fault) {
  const [bucket, key] = splitPath(req.url);
  const q = req.url.indexOf('?');
  const params = new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1));
  try {
    verify(req, body);
  } catch (e) {
    if (!(e instanceof S3Err)) throw e;
    logLine(req, key, e.status, 0, e.code);
    sendError(res, e, req.url);
    return;
  }
  const fail = readCtl('fail');
  if (fail) {
    let f;
    try {
      f = JSON.parse(fail);
    } catch (e) {
      f = null;
    }
    if (f && f.count > 0 && (!f.methods || f.methods.includes(req.method)) &&
        (!isLeaseKey(key) || f.lease)) {
      f.count--;
      fs.writeFileSync(ctlPath('fail'), JSON.stringify(f));
      const err = new S3Err(f.status || 503, f.code || 'SlowDown', 'Please reduce your request rate.');
      if (f.retryAfter !== undefined) err.retryAfter = f.retryAfter;
      logLine(req, key, err.status, 0, err.code);
      sendError(res, err, req.url);
      return;
    }
  }
  if (fault) {
    const k = fault.kind, v = fault.variant;
    if (k === '503' || (k === '500' && v === 'before')) {
      const err = k === '503'
        ? new S3Err(503, 'SlowDown', 'Please reduce your request rate.')
        : new S3Err(500, 'InternalError', 'We encountered an internal error. Please try again.');
      if (k === '503' && fault.retryAfter !== undefined) err.retryAfter = fault.retryAfter;
      logFault(req, key, fault);
      logLine(req, key, err.status, 0, err.code);
      sendError(res, err, req.url);
      return;
    }
    if (k === 'stall' && (v === 'answer' || v === 'reset')) {
      logFault(req, key, fault);
      setTimeout(() => {
        if (v !== 'reset') {
          forward(req, res, body, key); // answers a gone client harmlessly
        } else if (!req.socket.destroyed) {
          logLine(req, key, 0, 0, 'Chaos-stall');
          resetSocket(req.socket);
        }
      }, fault.stallMs);
      return;
    }
    // The rest act on the upstream's answer (the request is applied).
    logFault(req, key, fault);
  }
  if (opts.dump && req.method === 'PUT' && key && !params.has('partNumber')) {
    const n = String(++dumpSeq).padStart(6, '0');
    fs.writeFileSync(path.join(opts.dump, n + '.key'), key);
    fs.writeFileSync(path.join(opts.dump, n), body);
  }
  const objs = injected();
  const raw = rawListingConfig();
  if ((objs.length || raw || rawObjects.size) && req.method === 'GET') {
    if ((objs.length || raw) && !key && params.get('list-type') === '2') {
      forward(req, res, body, key, {
        listing: true, prefix: params.get('prefix') || '', objs, fault,
        raw, first: !params.has('continuation-token'),
      });
      return;
    }
    const o = objs.find(x => x.key === key) ||
      (rawObjects.has(key) ? { body: rawObjects.get(key) } : null);
    if (o) {
      const b = Buffer.from(o.body || '');
      res.writeHead(200, {
        'Content-Length': b.length,
        ETag: '"' + crypto.createHash('md5').update(b).digest('hex') + '"',
        'Last-Modified': new Date(now()).toUTCString(),
        Date: new Date(now()).toUTCString(),
      });
      res.end(b);
      logLine(req, key, 200, b.length);
      return;
    }
  }
  if (req.method === 'PUT' && key &&
      (req.headers['if-none-match'] !== undefined ||
       req.headers['if-match'] !== undefined)) {
    conditionalPut(req, res, body, key, fault);
    return;
  }
  const writing = req.method === 'PUT' || req.method === 'POST';
  const delay = Number(readCtl(writing ? 'delay-put' : 'delay-get') || 0);
  if (delay > 0 && (writing || (req.method === 'GET' && key))) {
    setTimeout(() => forward(req, res, body, key, { fault }), delay);
    return;
  }
  forward(req, res, body, key, { fault });
}

// The current ETag of key upstream (null: no such object).
function headEtag(req, cb) {
  const up = http.request({
    host: '127.0.0.1', port: opts.upstreamPort, method: 'HEAD',
    path: req.url.split('?')[0],
  }, ures => {
    ures.resume();
    cb(null, ures.statusCode === 200 ? String(ures.headers.etag || '') : null);
  });
  up.on('error', e => cb(e));
  up.end();
}

const condQueue = new Map(); // key -> waiting conditional PUTs

function condNext(key) {
  const q = condQueue.get(key);
  q.shift();
  if (q.length) q[0]();
  else condQueue.delete(key);
}

function conditionalPut(req, res, body, key, fault) {
  const run = () => headEtag(req, (err, etag) => {
    if (err) {
      logLine(req, key, 502, 0);
      res.destroy(err);
      condNext(key);
      return;
    }
    const inm = req.headers['if-none-match'];
    const im = req.headers['if-match'];
    let e = null;
    if (inm !== undefined && inm.trim() === '*' && etag !== null)
      e = new S3Err(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    else if (im !== undefined && etag === null)
      e = new S3Err(404, 'NoSuchKey', 'The specified key does not exist.');
    else if (im !== undefined && im.trim() !== etag)
      e = new S3Err(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    if (e) {
      logLine(req, key, e.status, 0, e.code);
      sendError(res, e, req.url);
      condNext(key);
      return;
    }
    res.on('close', () => condNext(key));
    forward(req, res, body, key, { fault });
  });
  if (!condQueue.has(key)) condQueue.set(key, []);
  const q = condQueue.get(key);
  q.push(run);
  if (q.length === 1) run();
}

// Faults that strike while the request (body) is still arriving.
function earlyFault(req, res, fault) {
  const key = splitPath(req.url)[1];
  logFault(req, key, fault);
  if (fault.kind === 'reset') {
    logLine(req, key, 0, 0, 'Chaos-reset');
    resetSocket(req.socket);
    return;
  }
  // The body stopped arriving: S3 gives up on it with RequestTimeout.
  const err = new S3Err(400, 'RequestTimeout',
    'Your socket connection to the server was not read from or written to within the timeout period.');
  logLine(req, key, 400, 0, err.code);
  res.setHeader('Connection', 'close');
  res.on('finish', () => req.socket.destroy());
  sendError(res, err, req.url);
}

const server = http.createServer((req, res) => {
  if (readCtl('down') !== null) {
    req.socket.destroy();
    return;
  }
  const fault = chaosPick(req);
  let cutAt = -1; // body bytes after which an early fault strikes
  if (fault && ((fault.kind === 'reset' && fault.variant === 'early') ||
                (fault.kind === 'truncate' && fault.variant === 'request')))
    cutAt = Math.floor(fault.u * fault.len);
  if (cutAt === 0) {
    earlyFault(req, res, fault);
    return;
  }
  const chunks = [];
  let size = 0;
  let stopped = false;
  req.on('data', c => {
    if (stopped) return;
    size += c.length;
    if (size > MAX_BODY) {
      stopped = true;
      req.socket.destroy();
      return;
    }
    chunks.push(c);
    if (cutAt > 0 && size >= cutAt) {
      stopped = true;
      earlyFault(req, res, fault);
    }
  });
  req.on('end', () => {
    if (stopped) return;
    try {
      handle(req, res, Buffer.concat(chunks), fault);
    } catch (e) {
      console.error('s3proxy:', e);
      res.writeHead(500);
      res.end();
    }
  });
});
server.keepAliveTimeout = 30000;
server.listen(opts.port, opts.host, () => {
  console.log(`s3proxy: listening on ${opts.host}:${opts.port} -> ${opts.upstreamPort}`);
});
