// Sharing: the tenant's subjects (other tenants, by their keys) and access policies (which
// assets, and which of their attributes and events, those subjects read). Administrators
// only; any token reads its own self subject.

import { h, section, defs, errorText, put, replace } from './dom.js';
import { api } from './api.js';

const SELF = '00000000-0000-0000-0000-000000000000';

// Every page of a list route (policies and subjects are few; stop at 20 pages regardless).
async function all(path, key) {
  const out = [];
  let token = '';
  for (let i = 0; i < 20; i++) {
    const answer = await api(path, { query: token ? { page_token: token } : { page_size: 100 } });
    out.push(...(answer[key] || []));
    token = answer.next_page_token;
    if (!token) break;
  }
  return out;
}

// subjects/<uuid> → display name, for showing who a permission names.
export async function subjectNames() {
  const subjects = await all('/archivist/iam/v1/subjects', 'subjects');
  return new Map(subjects.map((s) => [s.identity, s.display_name || s.identity]));
}

const words = (list, none) => (Array.isArray(list) && list.length ? list.map(String).join(', ') : none);

// A policy's filters as text: each inner list is "a or b", the lists together must all hold.
function filterText(filters) {
  if (!Array.isArray(filters) || !filters.length) return 'no filter';
  return filters.map((f) => `(${words(f && f.or, '?').replace(/, /g, ' or ')})`).join(' and ');
}

function permissionView(permission, names) {
  const subjects = (permission.subjects || []).map((s) => (names.get(s) ? `${names.get(s)} (${s})` : `${s} (not a subject yet)`));
  const read = [...new Set([...(permission.include_attributes || []), ...(permission.asset_attributes_read || [])])];
  return h('li', { dataset: { testid: 'permission' } }, defs([
    ['Subjects', words(subjects, 'none')],
    ['Asset attributes they see', words(read, 'none named')],
    ['Events they see', Array.isArray(permission.event_arc_display_type_read) && permission.event_arc_display_type_read.length
      ? `of type ${words(permission.event_arc_display_type_read)}` : 'every event'],
    permission.behaviours && permission.behaviours.length ? ['Behaviours', words(permission.behaviours)] : null,
  ]));
}

export function policyList(policies, names) {
  return h('ul', { class: 'plain', dataset: { testid: 'policy-list' } }, policies.map((p) =>
    h('li', { class: 'policy', dataset: { testid: 'policy' } },
      h('h3', {}, p.display_name || p.identity),
      p.description ? h('p', {}, p.description) : null,
      h('p', { class: 'meta' }, h('code', { class: 'id' }, p.identity)),
      defs([['Assets', filterText(p.filters)]]),
      h('ul', { class: 'plain permissions' }, (p.access_permissions || []).map((perm) => permissionView(perm, names))))));
}

function subjectList(subjects) {
  if (!subjects.length) return h('p', { class: 'muted' }, 'No subjects yet.');
  return h('ul', { class: 'plain', dataset: { testid: 'subject-list' } }, subjects.map((s) =>
    h('li', { class: 'policy', dataset: { testid: 'subject' } },
      h('h3', {}, s.display_name || '(unnamed subject)'),
      defs([
        ['Identity', h('code', { class: 'id' }, s.identity || '')],
        ['Wallet key', h('code', { class: 'hash' }, words(s.wallet_pub_key, 'none'))],
        ['Tessera key', h('code', { class: 'hash' }, words(s.tessera_pub_key, 'none'))],
      ]))));
}

function refused(err, what) {
  if (err.status === 403) return h('p', { class: 'muted', dataset: { testid: 'not-admin' } }, `Only an administrator token can list ${what}.`);
  return h('p', { class: 'result bad' }, `Could not list ${what}: ${errorText(err)}`);
}

export function sharingPage(root) {
  const self = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const subjects = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const policies = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  put(root, 
    h('h1', {}, 'Sharing'),
    h('p', { class: 'lead' }, 'A tenant shares assets with another by recording it as a subject (by its keys) and naming that subject in an access policy.'),
    section('Your keys', {}, self),
    section('Subjects', { dataset: { testid: 'subjects' } }, subjects),
    section('Access policies', { dataset: { testid: 'policies' } }, policies));

  api(`/archivist/iam/v1/subjects/${SELF}`).then((s) => {
    replace(self, h('p', {}, 'Give these to a tenant that will share with you:'), defs([
      ['Wallet key', h('code', { class: 'hash' }, words(s.wallet_pub_key, 'none'))],
      ['Tessera key', h('code', { class: 'hash' }, words(s.tessera_pub_key, 'none'))],
    ]));
  }, (err) => replace(self, refused(err, 'your keys')));

  let names = new Map();
  all('/archivist/iam/v1/subjects', 'subjects').then((list) => {
    names = new Map(list.map((s) => [s.identity, s.display_name || s.identity]));
    replace(subjects, subjectList(list));
  }, (err) => replace(subjects, refused(err, 'subjects')))
    .then(() => all('/archivist/iam/v1/access_policies', 'access_policies'))
    .then((list) => replace(policies, list.length ? policyList(list, names) : h('p', { class: 'muted' }, 'No access policies yet.')),
      (err) => replace(policies, refused(err, 'access policies')));
}
