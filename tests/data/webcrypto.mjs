// SPDX-License-Identifier: MIT
//
// An independent implementation of the stored-key formats in Web Crypto
// (Node's crypto.webcrypto.subtle), for cross-implementation tests:
//
//   node webcrypto.mjs encrypt FORMAT    plaintext on stdin -> blob on stdout
//   node webcrypto.mjs decrypt FORMAT    blob on stdin -> plaintext on stdout
//
// FORMAT: poeclaw (PoeClaw's encryptApiKey/decryptApiKey, verbatim logic),
// pbkdf2 (seed 001's recipe), v1 (DESIGN.md). The secret comes from
// $ENCRYPTION_SECRET, the pbkdf2 salt from $TENANT_API_KEY_SALT
// (default vultrino-salt). Nothing secret is ever printed on stderr.
// Debian 12's Node 18 has no global crypto without a flag; the module's
// webcrypto is the same object on every version.
import { webcrypto as crypto } from 'node:crypto';

const [op, fmt] = process.argv.slice(2);
const secret = process.env.ENCRYPTION_SECRET ?? '';
const salt = process.env.TENANT_API_KEY_SALT || 'vultrino-salt';
const enc = new TextEncoder();
const V1_INFO = enc.encode('tenant-init api-key v1');

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = Buffer.concat(chunks).toString('utf8').replace(/\n$/, '');

const b64 = (bytes) => btoa(String.fromCharCode(...bytes));
const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

async function poeclawKey(usage) {
  // PoeClaw src/auth/session.ts: secret.padEnd(32, '0').slice(0, 32)
  const keyData = enc.encode(secret.padEnd(32, '0').slice(0, 32));
  return crypto.subtle.importKey('raw', keyData, 'AES-GCM', false, [usage]);
}

async function pbkdf2Key(usage) {
  const km = await crypto.subtle.importKey('raw', enc.encode(secret), 'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', salt: enc.encode(salt), iterations: 100000, hash: 'SHA-256' },
    km, { name: 'AES-GCM', length: 256 }, false, [usage]);
}

async function v1Key(saltBytes, usage) {
  const km = await crypto.subtle.importKey('raw', enc.encode(secret), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: saltBytes, info: V1_INFO },
    km, { name: 'AES-GCM', length: 256 }, false, [usage]);
}

async function encrypt() {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  if (fmt === 'v1') {
    const s = crypto.getRandomValues(new Uint8Array(16));
    const key = await v1Key(s, 'encrypt');
    const ct = new Uint8Array(await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: V1_INFO }, key, enc.encode(input)));
    const all = new Uint8Array([...s, ...iv, ...ct]);
    return 'tik1.' + b64(all).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  const key = fmt === 'poeclaw' ? await poeclawKey('encrypt') : await pbkdf2Key('encrypt');
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, enc.encode(input)));
  return b64(new Uint8Array([...iv, ...ct]));
}

async function decrypt() {
  const text = input.trim();
  if (fmt === 'v1') {
    let s = text.slice(5).replace(/-/g, '+').replace(/_/g, '/');
    s += '='.repeat((4 - (s.length % 4)) % 4);
    const all = unb64(s);
    const key = await v1Key(all.slice(0, 16), 'decrypt');
    return new TextDecoder().decode(await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: all.slice(16, 28), additionalData: V1_INFO }, key, all.slice(28)));
  }
  const all = unb64(text);
  const key = fmt === 'poeclaw' ? await poeclawKey('decrypt') : await pbkdf2Key('decrypt');
  return new TextDecoder().decode(await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: all.slice(0, 12) }, key, all.slice(12)));
}

try {
  const out = op === 'encrypt' ? await encrypt() : await decrypt();
  process.stdout.write(out + (op === 'encrypt' ? '\n' : ''));
} catch (e) {
  process.stderr.write(`webcrypto: ${op} ${fmt} failed: ${e.name}\n`);
  process.exit(1);
}
