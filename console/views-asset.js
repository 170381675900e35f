// One asset: its attributes and attachments, its events newest first, a form that uploads a
// file and records an event attaching it, and the access policies that share it.

import { h, append, clear, field, section, status, uuidOf, errorText, put, replace } from './dom.js';
import { api, uploadBlob } from './api.js';
import { attributeList, attachmentCard, findAttachments, displayName, renderEvents, eventCard, eventActions, logState, olderEventsButton } from './evidence.js';
import { policyList, subjectNames } from './views-sharing.js';

const NAME = /^[A-Za-z][A-Za-z0-9_.\-]*$/;
const PAGE = 50;

export async function assetPage(root, uuid) {
  // The render time the browser test reads: from navigation to the first 50 events on screen.
  delete document.body.dataset.renderMs;
  performance.clearMarks('asset-page-start');
  performance.mark('asset-page-start');
  put(root, h('h1', {}, 'Asset'), h('p', { class: 'muted' }, 'Loading…'));

  let asset, page;
  try {
    [asset, page] = await Promise.all([
      api(`/archivist/v2/assets/${uuid}`),
      api(`/archivist/v2/assets/${uuid}/events`, { query: { page_size: PAGE } }),
    ]);
  } catch (err) {
    replace(root, h('h1', {}, 'Asset'),
      h('p', { class: 'result bad', dataset: { testid: 'asset-error' } },
        err.status === 404 ? 'No such asset, or it is not shared with you.' : `Could not load the asset: ${errorText(err)}`),
      h('p', {}, h('a', { href: '#/assets' }, 'Back to assets')));
    return;
  }

  const events = h('div', { class: 'events', dataset: { testid: 'events' } });
  const older = olderEventsButton(page.next_page_token,
    (token) => api(`/archivist/v2/assets/${uuid}/events`, { query: { page_token: token } }),
    (more) => appendEvents(events, more));

  const visibility = asset.public
    ? [h('span', { class: 'badge' }, 'Public'), ' ',
      h('a', { href: `/archivist/v2/publicassets/${uuid}`, dataset: { testid: 'public-link' } }, 'Open its public evidence page')]
    : h('span', { class: 'badge' }, 'Private');
  const assetAttachments = findAttachments(asset.attributes, 'attributes');

  replace(root,
    h('p', { class: 'crumbs' }, h('a', { href: '#/assets' }, 'Assets'), ' / '),
    h('h1', { dataset: { testid: 'asset-name' } }, displayName(asset)),
    h('p', { class: 'meta' }, h('code', { class: 'id' }, asset.identity), ' ', visibility),
    section('Attributes', {}, attributeList(asset.attributes, 'asset-attributes'),
      assetAttachments.length ? h('div', { class: 'attachments' }, assetAttachments.map((a) =>
        attachmentCard(a.att, { path: a.path, assetUuid: uuid }))) : null),
    attachForm(uuid, events),
    section('Events', { dataset: { testid: 'events-section' } },
      h('p', { class: 'muted' }, 'Newest first.'), events, h('div', { class: 'actions' }, older)),
    sharingSection(uuid, asset));
  appendEvents(events, page.events || []);
  if (!(page.events || []).length) put(events, h('p', { class: 'muted', dataset: { testid: 'no-events' } }, 'No events yet.'));

  // Measured once the events are in the DOM and laid out (the next frame).
  requestAnimationFrame(() => {
    const m = performance.measure('asset-page', 'asset-page-start');
    document.body.dataset.renderMs = m.duration.toFixed(1);
    document.body.dataset.renderedAsset = uuid;
  });
}

function appendEvents(container, list) {
  renderEvents(container, list, { actionsFor: eventActions });
}

function attachForm(uuid, events) {
  const file = h('input', { type: 'file', name: 'file', required: true, dataset: { testid: 'attach-file' } });
  const attr = h('input', { name: 'attribute', value: 'attachment', required: true, pattern: '[A-Za-z][A-Za-z0-9_.\\-]*', spellcheck: 'false', dataset: { testid: 'attach-attribute' } });
  const kind = h('input', { name: 'arc_display_type', spellcheck: 'false', dataset: { testid: 'attach-type' } });
  const progress = h('progress', { max: '100', value: '0', dataset: { testid: 'upload-progress' } });
  const percent = h('output', { dataset: { testid: 'upload-percent' } }, '');
  const result = h('p', { class: 'result', role: 'status', dataset: { testid: 'attach-result' } });
  // Shown from the first upload on, and left at 100% afterwards as a record of it.
  const progressBox = h('div', { hidden: true }, field('Upload progress', progress), percent);
  const form = h('form', { class: 'card', 'aria-labelledby': 'attach-title', dataset: { testid: 'attach-form' } },
    h('h2', { id: 'attach-title' }, 'Attach a file'),
    h('div', { class: 'row' },
      field('File', file),
      field('Attribute name', attr),
      field('Event type (optional)', kind)),
    progressBox,
    h('button', { type: 'submit', dataset: { testid: 'attach-submit' } }, 'Upload and attach'),
    result);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    if (!NAME.test(attr.value)) { result.textContent = 'The attribute name must be letters, digits, _ . -'; return; }
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    progress.value = 0;
    percent.textContent = '0%';
    progressBox.hidden = false;
    result.className = 'result';
    result.textContent = `Uploading ${chosen.name}…`;
    try {
      const blob = await uploadBlob(chosen, (loaded, total) => {
        const pct = total ? Math.round((loaded / total) * 100) : 100;
        progress.value = pct;
        percent.textContent = `${pct}%`;
      });
      progress.value = 100;
      percent.textContent = '100%';
      result.textContent = 'Uploaded; recording the event…';
      const eventAttributes = {
        [attr.value]: {
          arc_attribute_type: 'arc_attachment',
          arc_blob_identity: blob.identity,
          arc_blob_hash_alg: 'SHA256',
          arc_blob_hash_value: blob.hash.value,
          arc_file_name: chosen.name,
          arc_display_name: chosen.name,
        },
      };
      if (kind.value.trim()) eventAttributes.arc_display_type = kind.value.trim();
      const event = await api(`/archivist/v2/assets/${uuid}/events`, {
        method: 'POST',
        json: { operation: 'Record', behaviour: 'RecordEvidence', event_attributes: eventAttributes },
      });
      const none = events.querySelector('[data-testid=no-events]');
      if (none) none.remove();
      const card = eventCard(event, { actions: eventActions(event) });
      events.prepend(card);
      awaitSeal(card, uuid, uuidOf(event.identity));
      result.className = 'result ok';
      result.textContent = `Attached ${chosen.name} (SHA-256 ${blob.hash.value}) in event ${uuidOf(event.identity)}.`;
      status(`Attached ${chosen.name}.`, 'ok');
      file.value = '';
    } catch (err) {
      result.className = 'result bad';
      result.textContent = `Could not attach: ${errorText(err)}`;
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// A new event is committed at once and sealed within about a second: re-read it until a seal
// covers it, then show that (and offer the sealed JSON to save).
async function awaitSeal(card, assetUuid, eventUuid) {
  for (let i = 0; i < 20 && card.isConnected; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    try {
      const fresh = await api(`/archivist/v2/assets/${assetUuid}/events/${eventUuid}`);
      if (fresh.merklelog_entry && fresh.merklelog_entry.confirm) {
        card.querySelector('.log').replaceWith(logState(fresh));
        card.querySelector(':scope > .actions').replaceWith(h('div', { class: 'actions' }, eventActions(fresh)));
        return;
      }
    } catch { /* try again */ }
  }
}

function sharingSection(uuid, asset) {
  const body = h('div', { dataset: { testid: 'asset-policies' } }, h('p', { class: 'muted' }, 'Loading…'));
  const box = section('Shared with', {}, body);
  if (asset.public) {
    replace(body, h('p', {}, 'This asset is public: anyone with its address reads it, so access policies do not apply to it.'));
    return box;
  }
  Promise.all([
    api(`/archivist/iam/v1/assets/${uuid}/access_policies`),
    subjectNames().catch(() => new Map()),
  ]).then(([answer, names]) => {
    const policies = answer.access_policies || [];
    append(clear(body), [policies.length
      ? [h('p', {}, `${policies.length} access ${policies.length === 1 ? 'policy applies' : 'policies apply'}:`), policyList(policies, names)]
      : h('p', {}, 'No access policy shares this asset: only your tenant reads it.')]);
  }, (err) => {
    replace(body, h('p', { class: 'muted' }, err.status === 403
      ? 'Only an administrator token can see which access policies share this asset.'
      : err.status === 404 ? 'Sharing is not visible for this asset (it is not yours).'
        : `Could not load the access policies: ${errorText(err)}`));
  });
  return box;
}
