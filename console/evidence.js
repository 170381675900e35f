// What the console and the public page both show: attributes, events with their log state,
// and attachments with metadata and a verified download.

import { h, defs, time, formatBytes, uuidOf, errorText, status, put } from './dom.js';
import { api, fetchBlob } from './api.js';
import { canHash, sha256Hex, saveBlob } from './files.js';

export const isAttachment = (v) =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && v.arc_attribute_type === 'arc_attachment'
  && typeof v.arc_blob_identity === 'string';

// Every attachment in `attrs`, at any depth (also inside lists such as arc_attachments).
export function findAttachments(attrs, prefix = '') {
  const found = [];
  const walk = (value, path) => {
    if (isAttachment(value)) { found.push({ path, att: value }); return; }
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
    }
  };
  walk(attrs || {}, prefix);
  return found;
}

// A value as text: strings as they are, anything structured as indented JSON.
export function valueText(value) {
  if (typeof value === 'string') return h('span', { class: 'value' }, value);
  if (isAttachment(value)) return h('span', { class: 'value' }, `attachment: ${value.arc_file_name || value.arc_display_name || value.arc_blob_identity}`);
  if (value !== null && typeof value === 'object') return h('pre', { class: 'value' }, JSON.stringify(value, null, 2));
  return h('span', { class: 'value' }, String(value));
}

export function attributeList(attrs, testid) {
  const entries = Object.entries(attrs || {}).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return h('p', { class: 'muted' }, 'No attributes.');
  const list = defs(entries.map(([k, v]) => [k, valueText(v)]));
  if (testid) list.dataset.testid = testid;
  return list;
}

export function displayName(asset) {
  const name = asset && asset.attributes && asset.attributes.arc_display_name;
  return typeof name === 'string' && name.trim() ? name : '(unnamed asset)';
}

// The event's place in the verifiable log: committed (has an index), confirmed (a seal covers it).
export function logState(event) {
  const entry = event.merklelog_entry || {};
  const commit = entry.commit || null, confirm = entry.confirm || null;
  const parts = [];
  parts.push(commit && commit.index !== undefined
    ? h('span', { class: 'badge ok', dataset: { testid: 'log-commit' } }, `Committed: log index ${commit.index}`)
    : h('span', { class: 'badge warn' }, 'Not committed to the log'));
  if (confirm && confirm.mmr_size) {
    const when = Number(confirm.timestamp);
    parts.push(h('span', { class: 'badge ok', dataset: { testid: 'log-confirm' } }, `Sealed in a log of ${confirm.mmr_size} nodes`),
      Number.isFinite(when) && when > 0 ? [' at ', time(when)] : null);
  } else {
    parts.push(h('span', { class: 'badge warn', dataset: { testid: 'log-confirm' } }, 'Not sealed yet'));
  }
  if (event.confirmation_status) parts.push(h('span', { class: 'badge' }, event.confirmation_status));
  return h('p', { class: 'log' }, parts.map((p, i) => (i ? [' ', p] : p)));
}

// At most four info requests at once, so a page of 50 events does not flood the server.
// A request whose card has left the page (the user moved on) is dropped before it is sent.
const queue = [];
let running = 0;
function limited(task, wanted) {
  return new Promise((resolve, reject) => {
    queue.push({ task, wanted, resolve, reject });
    setTimeout(pump, 0); // after the cards of this render are in the document
  });
}
function pump() {
  while (running < 4 && queue.length) {
    const { task, wanted, resolve, reject } = queue.shift();
    if (!wanted()) { reject(new Error('no longer shown')); continue; }
    running++;
    task().then(resolve, reject).finally(() => { running--; pump(); });
  }
}

const SCAN = {
  NOT_SCANNED: 'Not scanned',
  SCANNED_OK: 'Scanned: clean',
  SCANNED_BAD: 'Scanned: malware found',
};

// The download and info routes of an attachment, console or public, asset or event level.
export function attachmentPath({ isPublic, assetUuid, eventUuid, blobUuid }) {
  const base = isPublic ? '/archivist/v2/attachments/publicassets/' : '/archivist/v2/attachments/assets/';
  return `${base}${assetUuid}${eventUuid ? `/events/${eventUuid}` : ''}/${blobUuid}`;
}

// One attachment: name, size, type, SHA-256, scan status, and a Download button.
export function attachmentCard(att, where, { isPublic = false } = {}) {
  const blobUuid = uuidOf(att.arc_blob_identity);
  const fileName = att.arc_file_name || att.arc_display_name || 'attachment';
  const sizeEl = h('span', { dataset: { testid: 'att-size' } }, '…');
  const typeEl = h('span', { dataset: { testid: 'att-mime' } }, '…');
  const scanEl = h('span', { dataset: { testid: 'att-scan' } }, '…');
  const result = h('p', { class: 'result', role: 'status' });
  const card = h('div', { class: 'attachment', dataset: { testid: 'attachment', hash: att.arc_blob_hash_value || '' } },
    h('p', { class: 'att-name' }, h('strong', { dataset: { testid: 'att-name' } }, fileName)),
    defs([
      ['Size', sizeEl],
      ['Type', typeEl],
      ['SHA-256', h('code', { class: 'hash', dataset: { testid: 'att-sha256' } }, att.arc_blob_hash_value || '(none recorded)')],
      ['Scan', scanEl],
      ['Attribute', h('code', {}, where.path)],
    ]),
    result);
  if (!blobUuid) {
    result.textContent = 'This attachment names no blob of this server.';
    return card;
  }
  const path = attachmentPath({ isPublic, blobUuid, assetUuid: where.assetUuid, eventUuid: where.eventUuid });
  limited(() => api(`${path}/info`, { auth: !isPublic }), () => card.isConnected).then((info) => {
    sizeEl.textContent = formatBytes(info.size);
    sizeEl.dataset.bytes = String(info.size);
    typeEl.textContent = info.mime_type || 'unknown';
    const scan = SCAN[info.scanned_status] || info.scanned_status || 'unknown';
    scanEl.textContent = info.scanned_bad_reason ? `${scan} (${info.scanned_bad_reason})` : scan;
    scanEl.className = info.scanned_status === 'SCANNED_BAD' ? 'bad' : '';
  }, (err) => {
    sizeEl.textContent = typeEl.textContent = scanEl.textContent = 'unavailable';
    result.textContent = `Metadata: ${errorText(err)}`;
  });
  const button = h('button', { type: 'button', class: 'secondary', 'aria-label': `Download ${fileName}`, dataset: { testid: 'download' } }, 'Download');
  button.addEventListener('click', async () => {
    button.disabled = true;
    result.className = 'result';
    result.textContent = 'Downloading…';
    try {
      // The server refuses to finish a download whose bytes differ from the recorded hash;
      // the browser checks it again before saving.
      const blob = await fetchBlob(path, { auth: !isPublic });
      if (canHash() && att.arc_blob_hash_value) {
        const got = await sha256Hex(blob);
        if (got !== String(att.arc_blob_hash_value).toLowerCase()) {
          throw new Error(`the bytes received hash to ${got}, not the recorded SHA-256; not saved`);
        }
        result.textContent = `Downloaded ${formatBytes(blob.size)}; SHA-256 matches the record.`;
      } else {
        result.textContent = `Downloaded ${formatBytes(blob.size)} (the server checked its SHA-256).`;
      }
      result.className = 'result ok';
      saveBlob(blob, fileName);
    } catch (err) {
      result.className = 'result bad';
      result.textContent = `Download failed: ${errorText(err)}`;
    } finally {
      button.disabled = false;
    }
  });
  put(card, h('div', { class: 'actions' }, button));
  return card;
}

// One event as a card. `actions` (console only) adds buttons such as "Save receipt".
export function eventCard(event, { isPublic = false, actions } = {}) {
  const assetUuid = uuidOf(event.asset_identity);
  const eventUuid = uuidOf(event.identity);
  const ea = event.event_attributes || {};
  const title = typeof ea.arc_display_type === 'string' && ea.arc_display_type
    ? ea.arc_display_type : `${event.operation || 'Event'} · ${event.behaviour || ''}`;
  const attachments = [
    ...findAttachments(ea, 'event_attributes'),
    ...findAttachments(event.asset_attributes, 'asset_attributes'),
  ];
  const plain = Object.fromEntries(Object.entries(ea).filter(([, v]) => !isAttachment(v)));
  const changed = event.asset_attributes && Object.keys(event.asset_attributes).length
    ? [h('h4', {}, 'Asset attributes set'), attributeList(event.asset_attributes)] : null;
  return h('article', { class: 'event', dataset: { testid: 'event', event: eventUuid || '' } },
    h('header', {},
      h('h3', {}, title),
      h('p', { class: 'meta' }, time(event.timestamp_committed || event.timestamp_accepted), ' · ',
        h('code', { class: 'id' }, eventUuid || event.identity || ''))),
    logState(event),
    Object.keys(plain).length ? attributeList(plain, 'event-attributes') : null,
    changed,
    attachments.length ? h('div', { class: 'attachments' }, attachments.map((a) =>
      attachmentCard(a.att, { path: a.path, assetUuid, eventUuid }, { isPublic }))) : null,
    actions ? h('div', { class: 'actions' }, actions) : null);
}

// Buttons on each event: its JSON and its receipt, the pair "verify a receipt" (and
// `attachd verify`) take. A public asset's receipts need no token.
export function eventActions(event, { isPublic = false } = {}) {
  const eventUuid = uuidOf(event.identity), assetUuid = uuidOf(event.asset_identity);
  const saveJson = h('button', { type: 'button', class: 'secondary', dataset: { testid: 'save-event' } }, 'Save event JSON');
  saveJson.addEventListener('click', () => {
    saveBlob(new Blob([JSON.stringify(event, null, 2)], { type: 'application/json' }), `event-${eventUuid}.json`);
  });
  const saveReceipt = h('button', { type: 'button', class: 'secondary', dataset: { testid: 'save-receipt' } }, 'Save receipt');
  saveReceipt.addEventListener('click', async () => {
    saveReceipt.disabled = true;
    try {
      const blob = await fetchBlob(`/archivist/v1/publicscitt/entries/assets_${assetUuid}_events_${eventUuid}/receipt`, { auth: !isPublic });
      saveBlob(blob, `receipt-${eventUuid}.cbor`);
      status('Receipt saved.', 'ok');
    } catch (err) {
      status(`No receipt yet: ${errorText(err)} (the log seals about every second; try again)`, 'bad');
    } finally {
      saveReceipt.disabled = false;
    }
  });
  return [saveJson, saveReceipt];
}

// Render a list of events into `container` in one go (one layout instead of fifty).
export function renderEvents(container, events, options = {}) {
  const fragment = document.createDocumentFragment();
  for (const event of events) fragment.append(eventCard(event, { ...options, actions: options.actionsFor && options.actionsFor(event) }));
  container.append(fragment);
}

// "Load older events": fetches the next page with `load(token)` and appends it with
// `append(events)`; hidden once there is no next page.
export function olderEventsButton(firstToken, load, append) {
  const older = h('button', { type: 'button', class: 'secondary', dataset: { testid: 'older-events' } }, 'Load older events');
  let nextToken = firstToken || '';
  older.hidden = !nextToken;
  older.addEventListener('click', async () => {
    older.disabled = true;
    try {
      const more = await load(nextToken);
      append(more.events || []);
      nextToken = more.next_page_token || '';
      older.hidden = !nextToken;
    } catch (err) {
      status(`Could not load older events: ${errorText(err)}`, 'bad');
    } finally {
      older.disabled = false;
    }
  });
  return older;
}
