// Tests for verify.js: `node --test console/verify.test.mjs`. Known answers from the Rust
// crate's tests, a small log built and signed here (node:crypto, independent of verify.js),
// and, with ATTACHD_VERIFY_FIXTURES=DIR (see make-verify-fixtures.sh), receipts attachd made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { decodeCbor, eventLeaf, sha256Hex, verifyReceipt } from './verify.js';

const hex = (s) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const toHex = (b) => Buffer.from(b).toString('hex');
const utf8 = (s) => new TextEncoder().encode(s);
const clone = (v) => JSON.parse(JSON.stringify(v));
const failedAt = (r) => r.checks.find((c) => !c.ok)?.name;

// ---- a CBOR encoder, only for building receipts here -----------------------------------------
function cbor(v) {
  const head = (major, n) => {
    n = BigInt(n);
    if (n < 24n) return [(major << 5) | Number(n)];
    const size = n < 256n ? 1 : n < 65536n ? 2 : n < 1n << 32n ? 4 : 8;
    const out = [(major << 5) | (24 + Math.log2(size))];
    for (let i = size - 1; i >= 0; i--) out.push(Number((n >> BigInt(8 * i)) & 255n));
    return out;
  };
  if (typeof v === 'number' || typeof v === 'bigint') return v < 0 ? head(1, -1n - BigInt(v)) : head(0, v);
  if (v === null) return [0xf6];
  if (v instanceof Uint8Array) return [...head(2, v.length), ...v];
  if (typeof v === 'string') return [...head(3, utf8(v).length), ...utf8(v)];
  if (Array.isArray(v)) return [...head(4, v.length), ...v.flatMap(cbor)];
  if (v instanceof Map) return [...head(5, v.size), ...[...v].flatMap(([k, x]) => [...cbor(k), ...cbor(x)])];
  return [...head(6, v.tag), ...cbor(v.value)];
}
const encode = (v) => Uint8Array.from(cbor(v));

// ---- CBOR -------------------------------------------------------------------------------------
test('decodeCbor reads RFC 8949 examples', () => {
  const cases = [
    ['00', 0n], ['1818', 24n], ['1bffffffffffffffff', (1n << 64n) - 1n], ['20', -1n],
    ['3bffffffffffffffff', -(1n << 64n)], ['6449455446', 'IETF'], ['62c3bc', 'ü'], ['f4', false], ['f5', true],
    ['f6', null], ['f7', undefined], ['f93c00', 1], ['f97bff', 65504], ['f90001', 5.960464477539063e-8],
    ['f9fc00', -Infinity], ['fa47c35000', 100000], ['fb3ff199999999999a', 1.1],
  ];
  for (const [input, want] of cases) assert.deepEqual(decodeCbor(hex(input)), want, input);
  assert.deepEqual(decodeCbor(hex('4401020304')), hex('01020304'));
  assert.deepEqual(decodeCbor(hex('8301820203820405')), [1n, [2n, 3n], [4n, 5n]]);
  assert.deepEqual(decodeCbor(hex('a201020304')), new Map([[1n, 2n], [3n, 4n]]));
  assert.deepEqual(decodeCbor(hex('c11a514b67b0')), { tag: 1n, value: 1363896240n });
  assert.equal(decodeCbor(new ArrayBuffer(1)), 0n);
});

test('decodeCbor refuses what it must, with an Error', () => {
  const bad = {
    '5f42010243030405ff': /indefinite/, '9f01ff': /indefinite/, 'bf0102ff': /indefinite/, 'ff': /break/,
    '0000': /after the item/, '18': /truncated/, '4401': /past the end/, '1c': /reserved/,
    'a201010102': /duplicate/, '62c328': /UTF-8/, '5bffffffffffffffff': /past the end/,
    '9b0000000100000000': /past the end/, 'f820': /simple/, '': /truncated/,
  };
  for (const [input, why] of Object.entries(bad)) assert.throws(() => decodeCbor(hex(input)), why, input);
  assert.throws(() => decodeCbor('00'), /expected bytes/);
  const deep = new Uint8Array(200000).fill(0x81);
  assert.throws(() => decodeCbor(deep), /nested deeper/);
});

// ---- leaves -----------------------------------------------------------------------------------
const testdata = new URL('../crates/merklelog/src/testdata/', import.meta.url);
const readJson = async (url) => JSON.parse(await readFile(url, 'utf8'));

test("eventLeaf matches veracity's v3 events (leaf.rs)", async () => {
  const first = await readJson(new URL('veracity_assets_v2_event.json', testdata));
  assert.equal(toHex(await eventLeaf(first)), '61e7012a7f14b5467a8654e7ae75c894abcd3992ae30221e98d74d03cc0eca39');
  const pub = await readJson(new URL('veracity_known_good_public_event.json', testdata));
  assert.equal(toHex(await eventLeaf(pub)), 'bfc511ab1b880b24bb2358e07472e3383cdeddfbc4de9d66d652197dfb2b6633');
  const attrs = pub.event_attributes;
  attrs.rc_access_policy_always_read = attrs.arc_access_policy_always_read;
  delete attrs.arc_access_policy_always_read;
  assert.equal(toHex(await eventLeaf(pub)), '3a26f568fdf81842392271c0442d55ac1e2656a3e557a71a0ad58dd37d26c505');
});

test("eventLeaf matches veracity's eventsv1 event", async () => {
  const event = {
    identity: 'events/01947000-3611-7000-8000-000000000000', origin_tenant: 'tenant/112758ce-a8cb-4924-8df8-fcba1e31f8b0',
    merklelog_commit: { index: '0', idtimestamp: '019470003611017900' }, attributes: { foo: 'bar' }, trails: [],
  };
  assert.equal(toHex(await eventLeaf(event)), 'd7bf6bd2860a2838e24788a40976a69f561faf87ca732597ae767371191090fa');
});

test('values DataTrails never stores cannot pass for others, and bad events are refused', async () => {
  const base = { identity: 'assets/x/events/y', tenant_identity: 'tenant/112758ce-a8cb-4924-8df8-fcba1e31f8b0',
    merklelog_entry: { commit: { index: '0', idtimestamp: '010000000000000001' } } };
  const seen = new Set();
  for (const attrs of [{ k: '1' }, { k: 1 }, { k: 1.5 }, { k: true }, { k: null }, { k: 'z' }, { k: ['1'] }, {}]) {
    seen.add(toHex(await eventLeaf({ ...base, event_attributes: attrs })));
  }
  assert.equal(seen.size, 8);
  await assert.rejects(eventLeaf({ ...base, operation: 5 }), /operation must be a string/);
  await assert.rejects(eventLeaf({ ...base, event_attributes: [] }), /event_attributes must be an object/);
  await assert.rejects(eventLeaf({ ...base, merklelog_entry: {} }), /index/);
  await assert.rejects(eventLeaf({ ...base, tenant_identity: 'tenant/nope' }), /tenant/);
  await assert.rejects(eventLeaf('nope'), /not a JSON object/);
});

// ---- a log built and signed here (mmr.rs append / inclusion_path, ported independently) ------
const bitLen = (x) => (x === 0 ? 0 : 32 - Math.clz32(x));
const indexHeight = (i) => {
  let pos = i + 1;
  while ((pos & (pos + 1)) !== 0) pos -= (1 << (bitLen(pos) - 1)) - 1;
  return bitLen(pos) - 1;
};
const hashPair = (pos, l, r) => {
  const p = Buffer.alloc(8);
  p.writeBigUInt64BE(BigInt(pos));
  return new Uint8Array(createHash('sha256').update(p).update(l).update(r).digest());
};
function append(nodes, leaf) {
  let height = 0, next = nodes.length + 1;
  nodes.push(leaf);
  while (indexHeight(next) > height) {
    nodes.push(hashPair(next + 1, nodes[next - (2 << height)], nodes[nodes.length - 1]));
    next += 1;
    height += 1;
  }
}
function inclusionPath(size, i) {
  const path = [];
  for (let g = indexHeight(i); ; g++) {
    const peak = i, offset = 2 << g;
    let sibling;
    if (indexHeight(i + 1) > g) sibling = (i += 1) - offset;
    else (sibling = i + offset - 1), (i += offset);
    if (sibling >= size) return { path, peak };
    path.push(sibling);
  }
}

const newKey = () => {
  const pair = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  return { ...pair, pem: pair.publicKey.export({ type: 'spki', format: 'pem' }) };
};
function makeReceipt({ form, key, peak, index, path, payload = null, named = key, tagged = true }) {
  const jwk = named.publicKey.export({ format: 'jwk' });
  const coseKey = new Map([[1, 2], [-1, 2], [-2, Buffer.from(jwk.x, 'base64url')], [-3, Buffer.from(jwk.y, 'base64url')]]);
  const claims = new Map([[1, 'attachd'], [2, 'test'], [8, new Map([[1, coseKey]])]]);
  const prot = encode(new Map([[1, -35], [4, utf8('attachd:test')], [395, form === 'draft' ? 3 : 2], [15, claims]]));
  const signed = sign('sha384', encode(['Signature1', prot, new Uint8Array(), peak]), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  const proof = form === 'draft' ? encode([index, path]) : new Map([[1, index], [2, path]]);
  const sign1 = [prot, new Map([[396, new Map([[-1, [proof]]])]]), payload, new Uint8Array(signed)];
  return encode(tagged ? { tag: 18, value: sign1 } : sign1);
}

const FILE = utf8('the file an event attaches\n');
const TENANT = 'tenant/f9685c75-12d7-41fe-b53a-1f84fb40a1bf';
function synthEvent(n, index, fileHash) {
  return {
    identity: `assets/a2707b82-3672-4359-9873-e06abaa61c5d/events/00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    operation: 'Record', behaviour: 'RecordEvidence', tenant_identity: TENANT, timestamp_committed: '2026-01-01T00:00:00Z',
    event_attributes: { n: String(n), 'ü<&>': [{ k: 'v' }, 1.5, 7, null, false], arc_attachments: [{
      arc_attribute_type: 'arc_attachment', arc_blob_identity: 'blobs/21ec038c-4f1c-47eb-afa9-8c107d0e1cdd',
      arc_blob_hash_alg: 'sha256', arc_blob_hash_value: fileHash.toUpperCase(), arc_file_name: 'f.txt' }] },
    merklelog_entry: { commit: { index: String(index), idtimestamp: `01${(0xa24360a52200000n + BigInt(n)).toString(16).padStart(16, '0')}` } },
  };
}

async function synthLog(leaves) {
  const fileHash = await sha256Hex(FILE);
  const nodes = [], events = [];
  for (let n = 0; n < leaves; n++) {
    const event = synthEvent(n, nodes.length, fileHash);
    events.push(event);
    append(nodes, await eventLeaf(event));
  }
  const receipt = (n, form, key, options = {}) => {
    const index = Number(events[n].merklelog_entry.commit.index);
    const { path, peak } = inclusionPath(nodes.length, index);
    return makeReceipt({ form, key, peak: nodes[peak], index, path: path.map((j) => nodes[j]), ...options });
  };
  return { events, receipt };
}

test('every leaf of a built log has a verifying receipt in both forms', async () => {
  const key = newKey(), log = await synthLog(11);
  for (let n = 0; n < 11; n++) {
    for (const form of ['datatrails', 'draft']) {
      const r = await verifyReceipt({ receipt: log.receipt(n, form, key), event: log.events[n], publicKeyPem: key.pem, file: FILE });
      assert.ok(r.ok, `${n} ${form}: ${r.reason}`);
      assert.deepEqual([r.form, r.mmrIndex], [form, Number(log.events[n].merklelog_entry.commit.index)]);
      assert.deepEqual(r.checks.map((c) => c.name), ['leaf', 'receipt', 'path', 'signature', 'file']);
    }
  }
});

test('a built log: altered event, path, index, payload, key or file fail', async () => {
  const key = newKey(), other = newKey(), log = await synthLog(7);
  const event = log.events[2];
  for (const form of ['datatrails', 'draft']) {
    const receipt = log.receipt(2, form, key);
    const check = async (options, where, why) => {
      const r = await verifyReceipt({ receipt, event, publicKeyPem: key.pem, ...options });
      assert.equal(r.ok, false, `${form} ${where}`);
      assert.equal(failedAt(r), where, `${form}: ${r.reason}`);
      if (why) assert.match(r.reason, why);
    };
    const altered = clone(event);
    altered.event_attributes.n = 'x';
    await check({ event: altered }, 'signature');
    await check({ publicKeyPem: other.pem }, 'signature', /names another key/);
    await check({ publicKeyPem: 'not a pem' }, 'signature', /not PEM/);
    await check({ file: utf8('another file') }, 'file', /not a file this event records/);
    const moved = clone(event);
    moved.merklelog_entry.commit.index = '4';
    await check({ event: moved }, 'path', /proves node 3, but the event says it is node 4/);
    // Signed by `other` while naming `key`: the signature, not the claims, refuses it.
    const forged = log.receipt(2, form, other, { named: key });
    await check({ receipt: forged }, 'signature', /does not verify/);
    const wrongPeak = log.receipt(2, form, key, { payload: new Uint8Array(32) });
    await check({ receipt: wrongPeak }, 'path', /payload/);
    // A receipt with no claims naming the key, an attached peak, or no tag is still fine.
    const ok = async (options, what) => assert.ok((await verifyReceipt({ receipt, event, publicKeyPem: key.pem, ...options })).ok, what);
    await ok({ publicKeyPem: [other.pem, key.pem] }, 'a list of trusted keys');
    await ok({ receipt: log.receipt(2, form, key, { tagged: false }) }, 'untagged');
    await ok({ event: JSON.stringify(event) }, 'the event as JSON text');
  }
  const tampered = log.receipt(2, 'datatrails', key);
  const path0 = decodeCbor(tampered).value[1].get(396n).get(-1n)[0].get(2n)[0];
  tampered[Buffer.from(tampered).indexOf(Buffer.from(path0)) + 5] ^= 1;
  const r = await verifyReceipt({ receipt: tampered, event, publicKeyPem: key.pem });
  assert.equal(failedAt(r), 'signature', r.reason);
});

test('an attachment list with a malformed attachment records nothing (as Rust drops it)', async () => {
  const key = newKey(), log = await synthLog(3);
  const event = clone(log.events[1]);
  event.event_attributes.arc_attachments.push({ arc_attribute_type: 'arc_attachment', arc_blob_identity: 'blobs/x' });
  const r = await verifyReceipt({ receipt: log.receipt(1, 'draft', key), event, publicKeyPem: key.pem, file: FILE });
  assert.equal(failedAt(r), 'signature'); // the event changed, and
  assert.equal(r.checks.find((c) => c.name === 'file').ok, false); // its attachments no longer count
});

// ---- mutations never throw and never verify ------------------------------------------------
async function mutationsFail(receipt, event, pem, rounds) {
  let seed = 11n;
  for (let round = 0; round < rounds; round++) {
    seed = (seed * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
    const pos = Number((seed >> 33n) % BigInt(receipt.length));
    let mutated = Uint8Array.from(receipt);
    if (round % 3 === 0) mutated[pos] ^= Number((seed >> 8n) & 255n) | 1;
    else if (round % 3 === 1) mutated = mutated.slice(0, pos);
    else mutated = Uint8Array.from([...mutated.slice(0, pos), Number((seed >> 16n) & 255n), ...mutated.slice(pos)]);
    try {
      decodeCbor(mutated);
    } catch (err) {
      assert.ok(err instanceof Error && /^CBOR: /.test(err.message), String(err));
    }
    const r = await verifyReceipt({ receipt: mutated, event, publicKeyPem: pem });
    assert.equal(r.ok, false, `round ${round} at ${pos} verified`);
    assert.equal(typeof r.reason, 'string');
  }
}

test('a built log: mutated receipts never throw and never verify', async () => {
  const key = newKey(), log = await synthLog(9);
  for (const form of ['datatrails', 'draft']) await mutationsFail(log.receipt(4, form, key), log.events[4], key.pem, 600);
  for (const bad of [undefined, null, 'x', 5, new Uint8Array(), {}]) {
    const r = await verifyReceipt({ receipt: bad, event: bad, publicKeyPem: bad, file: bad });
    assert.equal(r.ok, false);
  }
  assert.equal((await verifyReceipt()).ok, false);
});

// ---- receipts attachd made --------------------------------------------------------------------
const dir = process.env.ATTACHD_VERIFY_FIXTURES;
const skip = dir ? false : 'set ATTACHD_VERIFY_FIXTURES to a directory made by console/make-verify-fixtures.sh';
const fixture = async (name, as) => {
  const bytes = await readFile(`${dir}/${name}`).catch((err) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
  return bytes === null ? null : as === 'json' ? JSON.parse(bytes) : as === 'text' ? bytes.toString('utf8') : new Uint8Array(bytes);
};

test('receipts attachd made', { skip }, async (t) => {
  const event = await fixture('event.json', 'json'), pem = await fixture('log.pem', 'text');
  const file = await fixture('file.bin'), manifest = (await fixture('manifest.json', 'json')) ?? {};
  const receipts = { datatrails: await fixture('receipt.cbor'), draft: await fixture('receipt-draft.cbor') };
  assert.ok(event && pem && file && receipts.datatrails, 'event.json, log.pem, file.bin and receipt.cbor are required');
  // Each event's leaf as attachd's :proof route shows it (v3 with numbers and non-BMP keys; eventsv1).
  for (const [name, leaf] of Object.entries(manifest.leaves ?? {})) {
    assert.equal(toHex(await eventLeaf(await fixture(name, 'json'))), leaf, name);
  }
  const { subtle } = globalThis.crypto;
  const pair = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']);
  const spki = Buffer.from(await subtle.exportKey('spki', pair.publicKey)).toString('base64');
  const wrongPem = `-----BEGIN PUBLIC KEY-----\n${spki.match(/.{1,64}/g).join('\n')}\n-----END PUBLIC KEY-----\n`;

  for (const [form, receipt] of Object.entries(receipts)) {
    if (!receipt) {
      t.diagnostic(`no ${form} receipt among the fixtures`);
      continue;
    }
    await t.test(`${form}: genuine, with and without the file`, async () => {
      const bare = await verifyReceipt({ receipt, event, publicKeyPem: pem });
      assert.ok(bare.ok, bare.reason);
      assert.deepEqual([bare.form, bare.mmrIndex], [form, Number(event.merklelog_entry.commit.index)]);
      const withFile = await verifyReceipt({ receipt: receipt.buffer.slice(0), event, publicKeyPem: pem, file: file.buffer.slice(0) });
      assert.ok(withFile.ok, withFile.reason);
      assert.equal(withFile.checks.find((c) => c.name === 'file')?.ok, true);
    });
    await t.test(`${form}: an altered event fails`, async () => {
      for (const alter of [(e) => (e.event_attributes.arc_description = 'altered'), (e) => (e.operation = 'Other'),
        (e) => (e.merklelog_entry.commit.idtimestamp = e.merklelog_entry.commit.idtimestamp.replace(/.$/, (c) => (c === '0' ? '1' : '0')))]) {
        const altered = clone(event);
        alter(altered);
        const r = await verifyReceipt({ receipt, event: altered, publicKeyPem: pem, file });
        assert.equal(r.ok, false);
        assert.ok(['leaf', 'signature'].includes(failedAt(r)), r.reason);
      }
    });
    await t.test(`${form}: an altered path node fails`, async (st) => {
      const sign1 = decodeCbor(receipt).value ?? decodeCbor(receipt);
      const proof = sign1[1].get(396n).get(-1n)[0];
      const path = form === 'draft' ? decodeCbor(proof)[1] : proof.get(2n);
      if (path.length === 0) return st.skip('the event is a peak: its path is empty');
      const tampered = Uint8Array.from(receipt);
      tampered[Buffer.from(tampered).indexOf(Buffer.from(path[0])) + 7] ^= 0x10;
      const r = await verifyReceipt({ receipt: tampered, event, publicKeyPem: pem });
      assert.equal(failedAt(r), 'signature', r.reason);
    });
    await t.test(`${form}: a fresh key fails`, async () => {
      const r = await verifyReceipt({ receipt, event, publicKeyPem: wrongPem, file });
      assert.equal(failedAt(r), 'signature', r.reason);
    });
    await t.test(`${form}: another file fails at "file" only`, async () => {
      const r = await verifyReceipt({ receipt, event, publicKeyPem: pem, file: Uint8Array.from([...file, 0]) });
      assert.equal(r.ok, false);
      assert.deepEqual(r.checks.filter((c) => !c.ok).map((c) => c.name), ['file']);
    });
    await t.test(`${form}: mutated receipts never throw and never verify`, () => mutationsFail(receipt, event, pem, 450));
  }
});
