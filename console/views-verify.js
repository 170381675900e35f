// "Verify a file": the browser hashes the file (it is never uploaded) and asks which events
// record that hash. "Verify a receipt": a file, its event and the event's receipt checked in
// the browser against the log's published key, nothing uploaded.

import { h, clear, field, section, status, time, uuidOf, errorText, put, replace } from './dom.js';
import { api, logKeys } from './api.js';
import { canHash, sha256Hex, dropZone } from './files.js';
import { logState } from './evidence.js';

// Put a dropped File into a file input, so the input shows what will be checked.
function setFile(input, file) {
  const transfer = new DataTransfer();
  transfer.items.add(file);
  input.files = transfer.files;
}

// A form that hashes one local file and hands the hash to `judge`, which returns the verdict
// element. Shared with the public page, whose judge compares against the asset's events.
export function fileCheckForm({ title, intro, judge }) {
  const input = h('input', { type: 'file', name: 'file', required: true, dataset: { testid: 'verify-file' } });
  const hashOut = h('p', { class: 'meta', dataset: { testid: 'verify-hash' } });
  const verdict = h('div', { dataset: { testid: 'verdict-box' }, 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', dataset: { testid: 'verify-submit' } }, 'Check file');
  const form = h('form', { class: 'card', 'aria-labelledby': 'verify-title' },
    h('h2', { id: 'verify-title' }, title),
    h('p', {}, intro),
    dropZone('Drop a file here, or choose one:', (files) => { setFile(input, files[0]); check(); },
      field('File to check', input)),
    button, hashOut, verdict);
  let run = 0;
  const check = async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    const mine = ++run;
    button.disabled = true;
    clear(verdict);
    hashOut.textContent = `Hashing ${file.name} in this browser…`;
    try {
      const hash = await sha256Hex(file);
      if (mine !== run) return;
      hashOut.textContent = `SHA-256 of ${file.name}, computed in this browser: `;
      put(hashOut, h('code', { class: 'hash' }, hash));
      const out = await judge(hash, file);
      if (mine === run) replace(verdict, out);
    } catch (err) {
      if (mine === run) replace(verdict, h('p', { class: 'verdict bad', dataset: { testid: 'verdict', verdict: 'error' } }, `Could not check: ${errorText(err)}`));
    } finally {
      button.disabled = false;
    }
  };
  input.addEventListener('change', check);
  form.addEventListener('submit', (e) => { e.preventDefault(); check(); });
  if (!canHash()) put(verdict, h('p', { class: 'result bad' }, 'This browser hashes files only on a secure page (HTTPS or localhost).'));
  return form;
}

export function verifyFilePage(root) {
  put(root, 
    h('h1', {}, 'Verify a file'),
    fileCheckForm({
      title: 'Is this file recorded?',
      intro: 'Only the SHA-256 is sent to the server; the file stays on this machine.',
      judge: lookupVerdict,
    }));
}

async function lookupVerdict(hash) {
  const answer = await api('/archivist/v1/blobs:lookup', { query: { hash } });
  const found = answer.events || [];
  if (!found.length) {
    return h('div', { class: 'verdict bad', dataset: { testid: 'verdict', verdict: 'not-recorded' } },
      h('p', { class: 'big' }, 'Not recorded in this tenant'),
      h('p', {}, 'No event of your tenant attaches a file with this SHA-256. Any change to a file, even one byte, changes its hash.'));
  }
  const items = found.map(({ event, attachments }) => {
    const assetUuid = uuidOf(event.asset_identity), eventUuid = uuidOf(event.identity);
    const assetName = h('span', { dataset: { asset: assetUuid || '' } }, assetUuid || 'asset-free event');
    return h('li', { class: 'policy', dataset: { testid: 'verdict-event', event: eventUuid || '' } },
      h('p', {}, 'Event ', h('code', { class: 'id' }, eventUuid || event.identity), ' on ',
        assetUuid ? h('a', { href: `#/assets/${assetUuid}` }, assetName) : assetName, ', ',
        time(event.timestamp_committed || event.created_at)),
      h('p', { class: 'meta' }, (attachments || []).map((a, i) => [i ? '; ' : '', 'as ', h('code', {}, a.attribute),
        a.file_name ? [' (', a.file_name, ')'] : ''])),
      logState(event));
  });
  const box = h('div', { class: 'verdict ok', dataset: { testid: 'verdict', verdict: 'recorded' } },
    h('p', { class: 'big' }, `Recorded in ${found.length} ${found.length === 1 ? 'event' : 'events'}`),
    found.length >= 100 ? h('p', { class: 'muted' }, 'Showing the newest 100.') : null,
    h('ul', { class: 'plain' }, items));
  nameAssets(box);
  return box;
}

// Fill in the assets' names, a few requests at most, after the verdict is on screen.
function nameAssets(box) {
  const spans = [...box.querySelectorAll('span[data-asset]')].filter((s) => s.dataset.asset);
  const unique = [...new Set(spans.map((s) => s.dataset.asset))].slice(0, 10);
  for (const uuid of unique) {
    api(`/archivist/v2/assets/${uuid}`).then((asset) => {
      const name = asset.attributes && asset.attributes.arc_display_name;
      if (typeof name !== 'string') return;
      for (const s of spans) if (s.dataset.asset === uuid) s.textContent = name;
    }, () => { /* the uuid stays */ });
  }
}

export function receiptPage(root) {
  const receipt = h('input', { type: 'file', name: 'receipt', accept: '.cbor,.cose,application/cose,application/cbor', required: true, dataset: { testid: 'receipt-file' } });
  const event = h('input', { type: 'file', name: 'event', accept: '.json,application/json', required: true, dataset: { testid: 'receipt-event' } });
  const file = h('input', { type: 'file', name: 'file', dataset: { testid: 'receipt-document' } });
  const verdict = h('div', { 'aria-live': 'polite', dataset: { testid: 'receipt-verdict-box' } });
  const button = h('button', { type: 'submit', dataset: { testid: 'receipt-submit' } }, 'Verify');

  // Dropped files are sorted by what they are: .cbor/.cose the receipt, the JSON holding a
  // log entry the event, anything else the file.
  const sort = async (files) => {
    let gotEvent = false;
    for (const f of files) {
      if (/\.(cbor|cose)$/i.test(f.name)) { setFile(receipt, f); continue; }
      if (!gotEvent && /\.json$/i.test(f.name)) {
        try {
          const parsed = JSON.parse(await f.text());
          if (parsed && parsed.merklelog_entry) { setFile(event, f); gotEvent = true; continue; }
        } catch { /* not an event: the file itself */ }
      }
      setFile(file, f);
    }
  };

  const form = h('form', { class: 'card', 'aria-labelledby': 'receipt-title' },
    h('h2', { id: 'receipt-title' }, 'Check a file, its event and its receipt'),
    h('p', {}, 'Everything is checked in this browser against the log\'s published key; nothing is uploaded.'),
    dropZone('Drop the three files here, or choose each:', sort,
      field('Receipt (.cbor)', receipt),
      field('Event (.json)', event),
      field('File (optional)', file, 'Checked against the hashes the event records.')),
    button, verdict);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!receipt.files.length || !event.files.length) { status('Choose a receipt and an event.', 'bad'); return; }
    button.disabled = true;
    replace(verdict, h('p', { class: 'muted' }, 'Checking…'));
    try {
      const [{ verifyReceipt }, keys] = await Promise.all([import('./verify.js'), logKeys()]);
      let eventJson;
      try {
        eventJson = JSON.parse(await event.files[0].text());
      } catch (err) {
        throw new Error(`the event file is not JSON: ${errorText(err)}`);
      }
      const result = await verifyReceipt({
        receipt: new Uint8Array(await receipt.files[0].arrayBuffer()),
        event: eventJson,
        publicKeyPem: keys,
        file: file.files.length ? new Uint8Array(await file.files[0].arrayBuffer()) : undefined,
      });
      replace(verdict, receiptVerdict(result));
    } catch (err) {
      replace(verdict, h('p', { class: 'verdict bad', dataset: { testid: 'receipt-verdict', ok: 'false' } }, `Could not check: ${errorText(err)}`));
    } finally {
      button.disabled = false;
    }
  });

  put(root, h('h1', {}, 'Verify what you were sent'), form,
    section('What is checked', {}, h('ul', {},
      h('li', {}, 'The event\'s leaf is recomputed from its JSON.'),
      h('li', {}, 'The receipt\'s path leads from that leaf to a peak of the log.'),
      h('li', {}, 'The peak is signed by the log\'s key (fetched from this server, which you can pin).'),
      h('li', {}, 'The file\'s SHA-256 is one the event records.'))));
}

function receiptVerdict(result) {
  return h('div', { class: `verdict ${result.ok ? 'ok' : 'bad'}`, dataset: { testid: 'receipt-verdict', ok: String(Boolean(result.ok)) } },
    h('p', { class: 'big' }, result.ok ? 'Verified' : 'Not verified'),
    h('p', {}, result.reason || ''),
    h('ul', { class: 'checks' }, (result.checks || []).map((c) =>
      h('li', { class: c.ok ? 'ok' : 'bad', dataset: { testid: 'receipt-check', ok: String(Boolean(c.ok)) } },
        h('strong', {}, `${c.ok ? '✓' : '✗'} ${c.name}`), ': ', c.detail || ''))));
}
