// The public evidence page, at a public asset's own address (or one of its events'): read
// without a token. Attributes, events with verified downloads, and "verify a file" against
// the hashes this asset's events record (computed here, compared here).

import { h, section, time, uuidOf, errorText, put, replace } from './dom.js';
import { api } from './api.js';
import { attributeList, attachmentCard, findAttachments, displayName, renderEvents, eventCard, eventActions, logState, olderEventsButton } from './evidence.js';
import { fileCheckForm } from './views-verify.js';

const PAGE = 50;
const MAX_EVENTS = 5000; // the verify check reads at most this many events

export async function publicPage(root, uuid, eventUuid) {
  delete document.body.dataset.renderMs;
  performance.clearMarks('asset-page-start');
  performance.mark('asset-page-start');
  const base = `/archivist/v2/publicassets/${uuid}`;
  put(root, h('h1', {}, 'Public evidence'), h('p', { class: 'muted' }, 'Loading…'));

  let asset, page, single = null;
  try {
    [asset, page, single] = await Promise.all([
      api(base, { auth: false }),
      api(`${base}/events`, { auth: false, query: { page_size: PAGE } }),
      eventUuid ? api(`${base}/events/${eventUuid}`, { auth: false }) : null,
    ]);
  } catch (err) {
    replace(root, h('h1', {}, 'Public evidence'),
      h('p', { class: 'result bad', dataset: { testid: 'public-error' } },
        err.status === 404 ? 'There is no public asset (or event) at this address.' : `Could not load it: ${errorText(err)}`));
    return;
  }

  const actionsFor = (event) => eventActions(event, { isPublic: true });
  const events = h('div', { class: 'events', dataset: { testid: 'events' } });
  const older = olderEventsButton(page.next_page_token,
    (token) => api(`${base}/events`, { auth: false, query: { page_token: token } }),
    (more) => renderEvents(events, more, { isPublic: true, actionsFor }));

  const assetAttachments = findAttachments(asset.attributes, 'attributes');
  replace(root, 
    h('p', { class: 'banner' }, 'Public evidence page: read-only, anyone with this address sees it.'),
    h('h1', { dataset: { testid: 'asset-name' } }, displayName(asset)),
    h('p', { class: 'meta' }, h('code', { class: 'id' }, asset.identity), ' · recorded by ',
      h('code', { class: 'id' }, asset.tenant_identity || 'unknown tenant'), ' · created ', time(asset.at_time)),
    single ? section('This event', { dataset: { testid: 'single-event' } },
      eventCard(single, { isPublic: true, actions: actionsFor(single) }),
      h('p', {}, h('a', { href: base }, 'All events of this asset'))) : null,
    section('Attributes', {}, attributeList(asset.attributes, 'asset-attributes'),
      assetAttachments.length ? h('div', { class: 'attachments' }, assetAttachments.map((a) =>
        attachmentCard(a.att, { path: a.path, assetUuid: uuid }, { isPublic: true }))) : null),
    fileCheckForm({
      title: 'Verify a file against this asset',
      intro: 'The file is hashed in this browser and compared with the SHA-256 of every file this asset\'s events record. Nothing is sent.',
      judge: (hash) => judgeAgainstAsset(base, asset, hash),
    }),
    section('Events', { dataset: { testid: 'events-section' } }, h('p', { class: 'muted' }, 'Newest first.'), events, h('div', { class: 'actions' }, older)),
    h('p', { class: 'muted' }, 'The owner can open this asset ', h('a', { href: `/console/#/assets/${uuid}` }, 'in the console'), '.'));
  renderEvents(events, page.events || [], { isPublic: true, actionsFor });
  if (!(page.events || []).length) put(events, h('p', { class: 'muted' }, 'No events yet.'));
  document.title = `${displayName(asset)} · attachd`;

  requestAnimationFrame(() => {
    const m = performance.measure('public-page', 'asset-page-start');
    document.body.dataset.renderMs = m.duration.toFixed(1);
    document.body.dataset.renderedAsset = uuid;
  });
}

// Every event of the asset (all pages, up to MAX_EVENTS), fetched once per check.
async function allEvents(base) {
  const out = [];
  let token = '';
  do {
    const answer = await api(`${base}/events`, { auth: false, query: token ? { page_token: token } : { page_size: 200 } });
    out.push(...(answer.events || []));
    token = answer.next_page_token || '';
  } while (token && out.length < MAX_EVENTS);
  return { events: out, complete: !token };
}

async function judgeAgainstAsset(base, asset, hash) {
  const { events, complete } = await allEvents(base);
  const matches = [];
  for (const event of events) {
    const found = [
      ...findAttachments(event.event_attributes, 'event_attributes'),
      ...findAttachments(event.asset_attributes, 'asset_attributes'),
    ].filter((a) => String(a.att.arc_blob_hash_value || '').toLowerCase() === hash);
    if (found.length) matches.push({ event, found });
  }
  const onAsset = findAttachments(asset.attributes, 'attributes').filter((a) => String(a.att.arc_blob_hash_value || '').toLowerCase() === hash);
  if (!matches.length && !onAsset.length) {
    return h('div', { class: 'verdict bad', dataset: { testid: 'verdict', verdict: 'not-recorded' } },
      h('p', { class: 'big' }, 'Not recorded on this asset'),
      h('p', {}, `None of the ${events.length} events of this asset records a file with this SHA-256.`),
      complete ? null : h('p', { class: 'muted' }, `Only the newest ${events.length} events were compared.`));
  }
  return h('div', { class: 'verdict ok', dataset: { testid: 'verdict', verdict: 'recorded' } },
    h('p', { class: 'big' }, matches.length
      ? `Recorded in ${matches.length} ${matches.length === 1 ? 'event' : 'events'} of this asset`
      : 'Recorded in this asset\'s attributes'),
    h('ul', { class: 'plain' },
      matches.map(({ event, found }) => h('li', { class: 'policy', dataset: { testid: 'verdict-event', event: uuidOf(event.identity) || '' } },
        h('p', {}, 'Event ', h('code', { class: 'id' }, uuidOf(event.identity) || ''), ', ', time(event.timestamp_committed)),
        h('p', { class: 'meta' }, found.map((a, i) => [i ? '; ' : '', 'as ', h('code', {}, a.path),
          a.att.arc_file_name ? [' (', String(a.att.arc_file_name), ')'] : ''])),
        logState(event))),
      onAsset.map((a) => h('li', { class: 'policy' }, 'Asset attribute ', h('code', {}, a.path)))));
}
