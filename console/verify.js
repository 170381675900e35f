// Offline check that a file is the one an attachd event records, and that the event is in
// the log a pinned key signs: a port of `attachd verify --receipt` (crates/merklelog leaf.rs,
// mmr.rs, receipt.rs; src/cli.rs). No dependencies and no Node-only APIs, so the same file
// runs in the console page and under `node --test`.

// Browsers offer WebCrypto on HTTPS and localhost only: say so rather than fail obscurely.
const subtle = () => {
  if (!globalThis.crypto?.subtle) throw new Error('WebCrypto is unavailable here (browsers offer it on HTTPS and localhost only)');
  return globalThis.crypto.subtle;
};
const encoder = new TextEncoder();
const U64_MAX = (1n << 64n) - 1n;
const MAX_DEPTH = 64; // COSE nests a handful of levels; hostile input must not blow the stack

// ---- CBOR -----------------------------------------------------------------------------------

// Decodes one CBOR item that fills `bytes` exactly. Integers come back as BigInt (exact to
// 64 bits, and never confused with a float such as 3.0), floats as Number, byte strings as
// Uint8Array, maps as Map, tags as {tag, value}. Only Error is thrown.
export function decodeCbor(input) {
  const bytes = toBytes(input);
  if (!bytes) throw new Error('CBOR: expected bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let at = 0;
  const need = (n) => { if (n > bytes.length - at) throw new Error(`CBOR: truncated at byte ${at}`); };
  const arg = (ai) => {
    if (ai < 24) return BigInt(ai);
    if (ai === 31) throw new Error('CBOR: indefinite lengths are not accepted');
    if (ai > 27) throw new Error(`CBOR: reserved additional information ${ai}`);
    const n = 1 << (ai - 24);
    need(n);
    const v = n === 1 ? bytes[at] : n === 2 ? view.getUint16(at) : n === 4 ? view.getUint32(at) : view.getBigUint64(at);
    at += n;
    return BigInt(v);
  };
  // Every item takes at least a byte, so a count beyond what is left is refused before any work.
  const count = (n, perItem) => {
    if (n * BigInt(perItem) > BigInt(bytes.length - at)) throw new Error(`CBOR: a length of ${n} runs past the end`);
    return Number(n);
  };
  const simple = (ai) => {
    const float = (size, read) => (need(size), (at += size), read(at - size));
    if (ai >= 20 && ai <= 23) return [false, true, null, undefined][ai - 20];
    switch (ai) {
      case 25: return float(2, (p) => half(view.getUint16(p)));
      case 26: return float(4, (p) => view.getFloat32(p));
      case 27: return float(8, (p) => view.getFloat64(p));
      case 31: throw new Error('CBOR: unexpected break (indefinite lengths are not accepted)');
      default: throw new Error(`CBOR: unsupported simple value (additional information ${ai})`);
    }
  };
  const item = (depth) => {
    if (depth > MAX_DEPTH) throw new Error(`CBOR: nested deeper than ${MAX_DEPTH}`);
    need(1);
    const major = bytes[at] >> 5, ai = bytes[at] & 31;
    at += 1;
    if (major === 7) return simple(ai);
    const n = arg(ai);
    if (major === 0) return n;
    if (major === 1) return -1n - n;
    if (major === 2 || major === 3) {
      const len = count(n, 1), raw = bytes.slice(at, at + len);
      at += len;
      if (major === 2) return raw;
      try {
        return utf8.decode(raw);
      } catch {
        throw new Error('CBOR: a text string is not UTF-8');
      }
    }
    if (major === 4) return Array.from({ length: count(n, 1) }, () => item(depth + 1));
    if (major === 5) {
      const map = new Map(), seen = new Set();
      for (let k = count(n, 2); k > 0; k--) {
        const key = item(depth + 1), id = keyId(key);
        if (id !== null && seen.has(id)) throw new Error(`CBOR: duplicate map key ${String(key)}`);
        seen.add(id);
        map.set(key, item(depth + 1));
      }
      return map;
    }
    return { tag: n, value: item(depth + 1) };
  };
  const value = item(0);
  if (at !== bytes.length) throw new Error(`CBOR: ${bytes.length - at} bytes after the item`);
  return value;
}

function half(h) {
  const exp = (h >> 10) & 31, mant = h & 1023, sign = h & 0x8000 ? -1 : 1;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (exp === 0 ? mant * 2 ** -24 : (1024 + mant) * 2 ** (exp - 25));
}

// Duplicate keys are refused: which one a reader believes would be a guess. Other keys
// (floats, arrays…) are never labels looked up here.
const keyId = (key) => (typeof key === 'bigint' ? `i${key}` : typeof key === 'string' ? `s${key}`
  : key instanceof Uint8Array ? `b${toHex(key)}` : null);

// ---- bytes ------------------------------------------------------------------------------------

function toBytes(x) {
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  return null;
}

function concat(...parts) {
  const chunks = parts.map((p) => (typeof p === 'string' ? utf8Bytes(p) : p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, c) => (out.set(c, at), at + c.length), 0);
  return out;
}

const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const equal = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
const u64be = (n) => Uint8Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(56 - 8 * i)) & 255n));

// serde_json (which wrote the event) cannot hold a lone surrogate; TextEncoder would quietly
// turn one into U+FFFD and hash something else.
function utf8Bytes(text) {
  if (/[\uD800-\uDFFF]/u.test(text)) throw new Error('the event holds a lone UTF-16 surrogate');
  return encoder.encode(text);
}

const sha256 = async (bytes) => new Uint8Array(await subtle().digest('SHA-256', bytes));

// The SHA-256 of `bytes` in lowercase hex, as attachd records a file's hash.
export async function sha256Hex(bytes) {
  const data = toBytes(bytes);
  if (!data) throw new Error('sha256Hex: expected bytes');
  return toHex(await sha256(data));
}

// ---- the event's leaf (leaf.rs) ------------------------------------------------------------

const TEXT_FIELDS = ['identity', 'operation', 'behaviour', 'timestamp_declared', 'timestamp_accepted',
  'timestamp_committed', 'tenant_identity'];
const OBJECT_FIELDS = ['event_attributes', 'asset_attributes', 'principal_accepted', 'principal_declared'];
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
// Own properties only: an event's "constructor" or "__proto__" is data, not the prototype's.
const field = (v, key) => (isObject(v) && Object.hasOwn(v, key) ? v[key] : undefined);
const text = (v) => (typeof v === 'string' ? v : null);
const compareBytes = (a, b) => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
};
// Keys in UTF-8 byte order, as Rust sorts them (JS string order differs above U+FFFF).
const sortedEntries = (obj) =>
  Object.entries(obj).map(([k, v]) => [utf8Bytes(k), k, v]).sort((a, b) => compareBytes(a[0], b[0])).map(([, k, v]) => [k, v]);

// A number as serde_json (which wrote the event) writes it: integers as such, floats as zmij
// does (shortest digits, `.0` on whole values, `e+NN`/`e-NN` outside 1e-5..1e16). After
// JSON.parse a whole float ("2.0") looks like an integer and integers above 2^53 are rounded,
// so events holding such values fail to verify here (never pass falsely); DataTrails itself
// stores strings only.
function numberText(n) {
  if (!Number.isFinite(n)) throw new Error('the event holds a number JSON cannot hold');
  if (Object.is(n, -0)) return '-0.0'; // serde_json reads "-0" as a float
  if (Number.isSafeInteger(n)) return String(n);
  const [mantissa, exp = '0'] = String(Math.abs(n)).split('e');
  const [int, frac = ''] = mantissa.split('.');
  let digits = int + frac, kk = int.length + Number(exp);
  const lead = /^0*/.exec(digits)[0].length;
  digits = digits.slice(lead).replace(/0+$/, '');
  kk -= lead;
  const sign = n < 0 ? '-' : '', len = digits.length;
  if (kk >= len && kk <= 16) return `${sign}${digits}${'0'.repeat(kk - len)}.0`;
  if (kk > 0 && kk <= 16) return `${sign}${digits.slice(0, kk)}.${digits.slice(kk)}`;
  if (kk > -5 && kk <= 0) return `${sign}0.${'0'.repeat(-kk)}${digits}`;
  const e = kk - 1;
  return `${sign}${digits[0]}${len > 1 ? '.' + digits.slice(1) : ''}e${e > 0 ? '+' : ''}${e}`;
}

// Bencode as leaf.rs: true/false as i1e/i0e, null as z, a number as n<len>:<text>.
function bencode(value, out) {
  const str = (s) => {
    const b = utf8Bytes(s);
    out.push(`${b.length}:`, b);
  };
  if (typeof value === 'string') str(value);
  else if (typeof value === 'boolean') out.push(value ? 'i1e' : 'i0e');
  else if (value === null) out.push('z');
  else if (typeof value === 'number') out.push('n'), str(numberText(value));
  else if (Array.isArray(value)) out.push('l'), value.forEach((v) => bencode(v, out)), out.push('e');
  else if (isObject(value)) out.push('d'), sortedEntries(value).forEach(([k, v]) => (str(k), bencode(v, out))), out.push('e');
  else throw new Error(`the event holds a value JSON has no form for (${typeof value})`);
}

// DataTrails' v3 event hash fields: absent text fields as "", absent objects left out.
function v3Bencode(event) {
  const fields = {};
  for (const name of TEXT_FIELDS) {
    let value = field(event, name) ?? '';
    if (typeof value !== 'string') throw new Error(`${name} must be a string`);
    if (name === 'identity' && value.startsWith('public')) value = value.slice(6); // a public asset's events hash as its own
    fields[name] = value;
  }
  for (const name of OBJECT_FIELDS) {
    const value = field(event, name) ?? null;
    if (value !== null && !isObject(value)) throw new Error(`${name} must be an object`);
    if (value !== null) fields[name] = value;
  }
  const out = [];
  bencode(fields, out);
  return concat(...out);
}

// Go's json.Marshal: compact, keys sorted, <>& U+2028 U+2029 escaped (eventsv1 hashes it).
function goJson(v) {
  if (typeof v === 'string') return goString(v);
  if (Array.isArray(v)) return `[${v.map(goJson).join(',')}]`;
  if (isObject(v)) return `{${sortedEntries(v).map(([k, x]) => `${goString(k)}:${goJson(x)}`).join(',')}}`;
  if (typeof v === 'number') return numberText(v);
  if (typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null'; // an absent field reads as null in serde_json
  throw new Error(`the event holds a value JSON has no form for (${typeof v})`);
}

function goString(s) {
  const named = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };
  let out = '"';
  for (const c of s) {
    const cp = c.codePointAt(0);
    if (Object.hasOwn(named, c)) out += named[c];
    else if (cp < 0x20 || cp === 0x2028 || cp === 0x2029 || '<>&'.includes(c)) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return `${out}"`;
}

function uuidBytes(s) {
  const hyphenated = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const core = s.startsWith('urn:uuid:') ? s.slice(9) : s.startsWith('{') && s.endsWith('}') ? s.slice(1, -1) : s;
  const hex = hyphenated.test(core) ? core.replaceAll('-', '') : core === s && /^[0-9a-f]{32}$/i.test(s) ? s : null;
  return hex && Uint8Array.from(hex.match(/../g), (b) => parseInt(b, 16));
}

// An idtimestamp as the API shows it: optional 0x, the epoch byte, then 8 bytes of id.
function idTimestamp(value) {
  const hex = typeof value === 'string' && value.startsWith('0x') ? value.slice(2) : value;
  return typeof hex === 'string' && /^[0-9a-f]{18}$/i.test(hex) ? BigInt(`0x${hex.slice(2)}`) : null;
}

// The event's claimed place in its tenant's log and its recomputed leaf (verify.rs EventEntry).
async function eventEntry(event) {
  if (!isObject(event)) throw new Error('the event is not a JSON object');
  const identity = text(field(event, 'identity'));
  if (identity === null) throw new Error('the event has no identity');
  const free = identity.startsWith('events/');
  const commit = free ? field(event, 'merklelog_commit') : field(field(event, 'merklelog_entry'), 'commit');
  const tenant = text(field(event, free ? 'origin_tenant' : 'tenant_identity'));
  if (!tenant?.startsWith('tenant/')) throw new Error('the event names no tenant');
  const tenantId = uuidBytes(tenant.slice(7));
  if (!tenantId) throw new Error(`the event's tenant is not a uuid: ${tenant}`);
  const indexText = text(field(commit, 'index'));
  if (indexText === null) throw new Error('the event has no merklelog commit index');
  if (!/^\+?[0-9]+$/.test(indexText) || BigInt(indexText) > U64_MAX) {
    throw new Error(`the event's merklelog commit index is not a number: ${indexText}`);
  }
  const id = idTimestamp(field(commit, 'idtimestamp'));
  if (id === null) throw new Error('the event has no valid idtimestamp');
  let leaf;
  if (free) {
    // eventsv1: 0x00, the 24 index extra bytes (0x01, the tenant, zeros), the id, bencoded JSON.
    const json = utf8Bytes(`{"attributes":${goJson(field(event, 'attributes'))},"trails":${goJson(field(event, 'trails'))}}`);
    const extra = new Uint8Array(24);
    extra[0] = 1;
    extra.set(tenantId, 1);
    leaf = await sha256(concat([0], extra, u64be(id), `${json.length}:`, json));
  } else {
    leaf = await sha256(concat([0], u64be(id), v3Bencode(event)));
  }
  return { identity, tenant, index: BigInt(indexText), leaf };
}

// The leaf attachd committed for `event` (its JSON as the API returns it).
export async function eventLeaf(event) {
  return (await eventEntry(event)).leaf;
}

// ---- the files an event records (cli.rs recorded_hashes, blob/references.rs) ----------------

function references(path, value, out) {
  if (Array.isArray(value)) value.forEach((v, i) => references(`${path}[${i}]`, v, out));
  if (!isObject(value)) return;
  if (field(value, 'arc_attribute_type') === 'arc_attachment') {
    const blob = field(value, 'arc_blob_identity'), alg = field(value, 'arc_blob_hash_alg');
    const hash = field(value, 'arc_blob_hash_value');
    const uuid = /^blobs\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
    // No `u` flag: with it /i would fold U+017F into "s" and pass "ſha256".
    if (typeof blob !== 'string' || !uuid.test(blob) || typeof alg !== 'string' || !/^sha256$/i.test(alg)
      || typeof hash !== 'string' || !/^[0-9a-f]{64}$/i.test(hash)) throw new Error(`malformed attachment ${path}`);
    out.push([`the attachment ${path}`, hash.toLowerCase()]);
  } else if (Object.hasOwn(value, 'arc_blob_identity')) {
    throw new Error(`attachment ${path} has no arc_attribute_type`);
  } else {
    for (const [k, v] of Object.entries(value)) references(path ? `${path}.${k}` : k, v, out);
  }
}

function recordedHashes(event) {
  const hashes = [];
  for (const root of ['event_attributes', 'asset_attributes', 'attributes']) {
    const found = [];
    try {
      references(root, field(event, root), found);
      hashes.push(...found);
    } catch {
      // attachd never stored a malformed attachment: its files count for nothing, as in Rust
    }
  }
  const payload = field(field(event, 'event_attributes'), 'scitt_payload_sha256');
  if (typeof payload === 'string') hashes.push(["the signed statement's payload", payload]);
  return hashes;
}

// ---- the receipt (receipt.rs, mmr.rs) -----------------------------------------------------

const get = (map, key) => (map instanceof Map ? map.get(key) : undefined);

function parseReceipt(bytes) {
  let sign1 = decodeCbor(bytes);
  if (isObject(sign1) && 'tag' in sign1) {
    if (sign1.tag !== 18n) throw new Error(`the receipt is tagged ${sign1.tag}, not 18 (COSE_Sign1)`);
    sign1 = sign1.value;
  }
  const [prot, unprot, payload, signature] = Array.isArray(sign1) && sign1.length === 4 ? sign1 : [];
  if (!(prot instanceof Uint8Array) || !(unprot instanceof Map) || !(signature instanceof Uint8Array)
    || !(payload === null || payload instanceof Uint8Array)) throw new Error('not a COSE Sign1 receipt');
  const header = prot.length ? decodeCbor(prot) : new Map();
  if (!(header instanceof Map)) throw new Error('the protected header is not a map');
  if (header.get(1n) !== -35n) throw new Error('the receipt is not signed with ES384');
  const vds = header.get(395n);
  const form = vds === 2n ? 'datatrails' : vds === 3n ? 'draft' : null;
  if (!form) throw new Error('the receipt is not for an MMRIVER log (395 is not 2 or 3)');
  const proofs = get(get(unprot, 396n), -1n);
  if (!Array.isArray(proofs) || proofs.length === 0) throw new Error('the receipt holds no inclusion proof');
  let index, path;
  if (form === 'datatrails') [index, path] = [get(proofs[0], 1n), get(proofs[0], 2n)];
  else if (!(proofs[0] instanceof Uint8Array)) throw new Error('the inclusion proof is not a bstr');
  else {
    const items = decodeCbor(proofs[0]);
    [index, path] = Array.isArray(items) ? items : [];
  }
  if (typeof index !== 'bigint' || index < 0n || index >= U64_MAX) throw new Error('the inclusion proof has no index');
  if (!Array.isArray(path)) throw new Error('the inclusion proof has no path');
  if (!path.every((h) => h instanceof Uint8Array && h.length === 32)) throw new Error('a node of the inclusion path is not 32 bytes');
  if (path.length > 64) throw new Error('the inclusion path is longer than any log');
  // CWT claims (15, or DataTrails' 13) may name the signing key: cnf → COSE_Key x (-2), y (-3).
  const claims = header.has(15n) ? header.get(15n) : header.get(13n);
  const coseKey = get(get(claims, 8n), 1n), x = get(coseKey, -2n), y = get(coseKey, -3n);
  let named = null;
  if (x instanceof Uint8Array && y instanceof Uint8Array && x.length <= 48 && y.length <= 48) {
    named = new Uint8Array(97);
    named[0] = 4;
    named.set(x, 49 - x.length);
    named.set(y, 97 - y.length);
  }
  return { prot, payload, signature, form, index, path, named };
}

const bitLength = (x) => (x === 0n ? 0 : x.toString(2).length);
// The height of the node at 1-based position `pos`: jump left a perfect tree at a time
// until the position is all ones.
function posHeight(pos) {
  while ((pos & (pos + 1n)) !== 0n) pos -= (1n << BigInt(bitLength(pos) - 1)) - 1n;
  return bitLength(pos) - 1;
}
const indexHeight = (i) => posHeight(i + 1n);
// An interior node: SHA-256(u64be(1-based position) ‖ left ‖ right).
const hashPair = (pos, left, right) => sha256(concat(u64be(pos), left, right));

// mmr.rs included_root: the peak that node `index` of value `leaf` and `path` lead to. At each
// step the sibling is on the left when the next index is higher (we are a right child).
async function includedRoot(index, leaf, path) {
  let i = index, root = leaf, g = indexHeight(index);
  for (const sibling of path) {
    const right = indexHeight(i + 1n) > g;
    i += right ? 1n : 2n << BigInt(g);
    if (i >= U64_MAX) throw new Error('the inclusion path runs past any log');
    root = await (right ? hashPair(i + 1n, sibling, root) : hashPair(i + 1n, root, sibling));
    g += 1;
  }
  return root;
}

async function importKey(pem) {
  const match = typeof pem === 'string' && /^-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----$/.exec(pem.trim());
  if (!match) throw new Error('the public key is not PEM (-----BEGIN PUBLIC KEY-----)');
  let der;
  try {
    der = Uint8Array.from(atob(match[1].replace(/\s+/g, '')), (c) => c.charCodeAt(0));
  } catch {
    throw new Error('the public key PEM is not base64');
  }
  const algorithm = { name: 'ECDSA', namedCurve: 'P-384' };
  const key = await subtle().importKey('spki', der, algorithm, true, ['verify']).catch(() => null);
  if (!key) throw new Error('the public key is not an ECDSA P-384 key');
  return { key, raw: new Uint8Array(await subtle().exportKey('raw', key)) };
}

// Whether the receipt's signature verifies with `pem` over the peak; Error says why not.
async function checkSignature(parsed, peak, pem) {
  const { key, raw } = await importKey(pem);
  if (parsed.named && !equal(parsed.named, raw)) {
    // Rust ignores claims whose point is not a P-384 point; one that is must be this key.
    const valid = await subtle().importKey('raw', parsed.named, { name: 'ECDSA', namedCurve: 'P-384' }, false, ['verify'])
      .then(() => true, () => false);
    if (valid) throw new Error('the receipt names another key than the trusted one');
  }
  // Sig_structure = ["Signature1", protected, external_aad h'', payload], CBOR; COSE's raw r‖s
  // is the form WebCrypto verifies.
  const bstr = (n) => (n < 24 ? [0x40 | n] : n < 256 ? [0x58, n] : n < 65536 ? [0x59, n >> 8, n & 255]
    : [0x5a, n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255]);
  const data = concat([0x84, 0x6a], 'Signature1', bstr(parsed.prot.length), parsed.prot, [0x40], bstr(32), peak);
  const good = parsed.signature.length === 96
    && (await subtle().verify({ name: 'ECDSA', hash: 'SHA-384' }, key, parsed.signature, data).catch(() => false));
  if (!good) throw new Error("the receipt's signature does not verify over the peak its path leads to");
}

// Checks that `receipt` (COSE Sign1 bytes, either form) proves `event` (its JSON, parsed) in a
// log signed by `publicKeyPem` (SPKI PEM, or a list of trusted ones), and, given `file`, that
// the event records that file. Never throws: ok:false and the first failed check's reason.
export async function verifyReceipt({ receipt, event, publicKeyPem, file } = {}) {
  const checks = [], result = { ok: false, reason: '', checks, mmrIndex: null, form: null };
  const run = async (name, step) => {
    try {
      const [detail, value] = await step();
      checks.push({ name, ok: true, detail });
      return value;
    } catch (err) {
      checks.push({ name, ok: false, detail: err instanceof Error ? err.message : String(err) });
      return null;
    }
  };
  try {
    const entry = await run('leaf', async () => {
      if (typeof event === 'string') event = JSON.parse(event); // the event's JSON text is welcome too
      const e = await eventEntry(event);
      return [`${e.identity} claims node ${e.index}; its leaf is ${toHex(e.leaf)}`, e];
    });
    const parsed = await run('receipt', async () => {
      const bytes = toBytes(receipt);
      if (!bytes) throw new Error('the receipt is not bytes');
      const r = parseReceipt(bytes);
      result.form = r.form;
      result.mmrIndex = r.index <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(r.index) : String(r.index);
      return [`COSE Sign1, ES384, ${r.form} form, node ${r.index}, ${r.path.length} path nodes`, r];
    });
    const peak = entry && parsed && await run('path', async () => {
      if (parsed.index !== entry.index) {
        throw new Error(`the receipt proves node ${parsed.index}, but the event says it is node ${entry.index}`);
      }
      const root = await includedRoot(parsed.index, entry.leaf, parsed.path);
      // Stricter than Rust, which overwrites it: an attached payload must be that peak.
      if (parsed.payload && !equal(parsed.payload, root)) throw new Error('the receipt carries a payload other than its peak');
      return [`the path leads to peak ${toHex(root)}`, root];
    });
    const signed = peak && await run('signature', async () => {
      const pems = Array.isArray(publicKeyPem) ? publicKeyPem : [publicKeyPem];
      const refusals = [];
      for (const pem of pems) {
        try {
          await checkSignature(parsed, peak, pem);
          return ['the peak is signed by the trusted key', true];
        } catch (err) {
          refusals.push(err.message);
        }
      }
      throw new Error(refusals.join('; ') || 'no public key given');
    });
    let named = '';
    if (file !== undefined && file !== null) {
      await run('file', async () => {
        const bytes = toBytes(file);
        if (!bytes) throw new Error('the file is not bytes');
        const sha = await sha256Hex(bytes);
        const found = recordedHashes(event).find(([, hash]) => hash === sha);
        if (!found) throw new Error(`the file (sha256 ${sha}) is not a file this event records`);
        named = `; the file is ${found[0]} it records (sha256 ${sha})`;
        return [`${found[0]} (sha256 ${sha})`, true];
      });
    }
    const failed = checks.find((c) => !c.ok);
    result.ok = !failed && Boolean(signed);
    result.reason = failed ? `${failed.name}: ${failed.detail}`
      : `${entry.identity} is node ${entry.index} of ${entry.tenant}'s log: the receipt's path leads to a peak signed by the trusted key${named}`;
  } catch (err) {
    result.ok = false;
    result.reason = `unexpected: ${err instanceof Error ? err.message : String(err)}`;
  }
  return result;
}
