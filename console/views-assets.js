// The asset list: search by one attribute, page with the server's page tokens, and a small
// form for a new asset.

import { h, clear, field, checkbox, section, status, time, uuidOf, errorText, put, replace } from './dom.js';
import { api, session } from './api.js';
import { displayName } from './evidence.js';

const NAME = /^[A-Za-z0-9_.\-]+$/;

// Page tokens of the list on screen, so "Previous" can go back: [first page '', 2nd, …].
let paging = { key: null, tokens: [''], index: 0 };

export function assetsPage(root, params) {
  const attr = NAME.test(params.get('attr') || '') ? params.get('attr') : 'arc_display_name';
  const value = params.get('value') || '';
  const asked = Number(params.get('size'));
  const pageSize = Number.isInteger(asked) && asked >= 1 && asked <= 100 ? String(asked) : '25';
  const key = `${attr}=${value}&${pageSize}`;
  if (paging.key !== key) paging = { key, tokens: [''], index: 0 };

  const list = h('div', { dataset: { testid: 'asset-list' } }, h('p', { class: 'muted' }, 'Loading…'));
  const prev = h('button', { type: 'button', class: 'secondary', dataset: { testid: 'prev-page' } }, 'Previous page');
  const next = h('button', { type: 'button', class: 'secondary', dataset: { testid: 'next-page' } }, 'Next page');
  const pageInfo = h('span', { class: 'muted' });

  const load = async () => {
    prev.disabled = next.disabled = true;
    const token = paging.tokens[paging.index];
    // A page token carries the whole query; nothing else may be sent beside it.
    const query = token ? { page_token: token } : { page_size: pageSize, ...(value ? { [`attributes.${attr}`]: value } : {}) };
    try {
      const answer = await api('/archivist/v2/assets', { query });
      renderList(list, answer.assets || []);
      paging.tokens[paging.index + 1] = answer.next_page_token || undefined;
      next.disabled = !answer.next_page_token;
      prev.disabled = paging.index === 0;
      pageInfo.textContent = `Page ${paging.index + 1}`;
    } catch (err) {
      replace(list, h('p', { class: 'result bad' }, `Could not list assets: ${errorText(err)}`));
      prev.disabled = paging.index === 0;
    }
  };
  prev.addEventListener('click', () => { paging.index = Math.max(0, paging.index - 1); load(); });
  next.addEventListener('click', () => { if (paging.tokens[paging.index + 1]) { paging.index++; load(); } });

  put(root, 
    h('h1', {}, 'Assets'),
    searchForm(attr, value, pageSize),
    section('Results', { 'aria-busy': 'false' }, list, h('div', { class: 'actions pager' }, prev, pageInfo, next)),
    newAssetForm());
  load();
}

function searchForm(attr, value, pageSize) {
  const attrInput = h('input', { name: 'attr', value: attr, required: true, pattern: '[A-Za-z0-9_.\\-]+', spellcheck: 'false', dataset: { testid: 'search-attr' } });
  const valueInput = h('input', { name: 'value', type: 'search', value, spellcheck: 'false', dataset: { testid: 'search-value' } });
  const sizes = [...new Set(['10', '25', '50', '100', pageSize])].sort((a, b) => a - b);
  const size = h('select', { name: 'size' }, sizes.map((n) => h('option', { value: n, selected: n === pageSize }, n)));
  const form = h('form', { class: 'card search', role: 'search', 'aria-labelledby': 'search-title' },
    h('h2', { id: 'search-title' }, 'Search'),
    h('div', { class: 'row' },
      field('Attribute', attrInput),
      field('Equals', valueInput, 'Exact value; * matches any. Empty lists every asset.'),
      field('Per page', size)),
    h('button', { type: 'submit', dataset: { testid: 'search' } }, 'Search'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams({ attr: attrInput.value.trim(), value: valueInput.value, size: size.value });
    const target = `#/assets?${q}`;
    if (location.hash !== target) { location.hash = target; return; }
    paging.key = null; // the same search again: back to its first page
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  });
  return form;
}

function renderList(list, assets) {
  clear(list);
  if (!assets.length) { put(list, h('p', { class: 'muted', dataset: { testid: 'no-assets' } }, 'No assets match.')); return; }
  const own = (session.claims() || {}).tenant;
  const rows = assets.map((asset) => {
    const uuid = uuidOf(asset.identity);
    const attrs = asset.attributes || {};
    return h('tr', { dataset: { testid: 'asset-row', asset: uuid || '' } },
      h('td', { 'data-label': 'Name' }, uuid ? h('a', { href: `#/assets/${uuid}` }, displayName(asset)) : displayName(asset)),
      h('td', { 'data-label': 'Type' }, typeof attrs.arc_display_type === 'string' ? attrs.arc_display_type : ''),
      h('td', { 'data-label': 'Visibility' }, asset.public ? h('span', { class: 'badge' }, 'Public') : 'Private',
        own && asset.tenant_identity && asset.tenant_identity !== own ? [' ', h('span', { class: 'badge' }, 'Shared with you')] : null),
      h('td', { 'data-label': 'Created' }, time(asset.at_time)));
  });
  put(list, h('table', { class: 'stack' },
    h('caption', { class: 'sr-only' }, 'Assets, newest first'),
    h('thead', {}, h('tr', {}, ['Name', 'Type', 'Visibility', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows)));
}

function newAssetForm() {
  const name = h('input', { name: 'arc_display_name', required: true, maxlength: '256', dataset: { testid: 'new-asset-name' } });
  const type = h('input', { name: 'arc_display_type', maxlength: '256', dataset: { testid: 'new-asset-type' } });
  const pub = checkbox('Public (anyone with its address can read it, without a token)', { name: 'public', dataset: { testid: 'new-asset-public' } });
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-asset-title' },
    h('h2', { id: 'new-asset-title' }, 'New asset'),
    h('div', { class: 'row' }, field('Name', name), field('Type (optional)', type)),
    pub,
    h('button', { type: 'submit', dataset: { testid: 'create-asset' } }, 'Create asset'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    const attributes = { arc_display_name: name.value };
    if (type.value.trim()) attributes.arc_display_type = type.value.trim();
    try {
      const asset = await api('/archivist/v2/assets', {
        method: 'POST',
        json: { behaviours: ['RecordEvidence'], attributes, public: pub.querySelector('input').checked },
      });
      status(`Created "${displayName(asset)}".`, 'ok');
      location.hash = `#/assets/${uuidOf(asset.identity)}`;
    } catch (err) {
      status(`Could not create the asset: ${errorText(err)}`, 'bad');
      button.disabled = false;
    }
  });
  return form;
}
