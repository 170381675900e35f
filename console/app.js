// The console's entry point: picks the public evidence page (a public asset's own address)
// or the signed-in console (/console/, routed by the #/… fragment), and re-renders on
// navigation. Routes name assets by uuid only; the token is never part of an address.

import { h, clear, status, replace } from './dom.js';
import { session } from './api.js';
import { signInPage } from './views-signin.js';
import { assetsPage } from './views-assets.js';
import { assetPage } from './views-asset.js';
import { verifyFilePage, receiptPage } from './views-verify.js';
import { sharingPage } from './views-sharing.js';
import { publicPage } from './views-public.js';

const PUBLIC = /^\/archivist\/v2\/publicassets\/([0-9a-f-]{36})(?:\/events\/([0-9a-f-]{36}))?\/?$/i;

const ROUTES = [
  { pattern: /^#\/assets\/([0-9a-f-]{36})$/i, nav: '#/assets', view: (root, m) => assetPage(root, m[1].toLowerCase()) },
  { pattern: /^#\/assets(?:\?(.*))?$/, nav: '#/assets', view: (root, m) => assetsPage(root, new URLSearchParams(m[1] || '')) },
  { pattern: /^#\/verify$/, nav: '#/verify', view: (root) => verifyFilePage(root) },
  { pattern: /^#\/receipt$/, nav: '#/receipt', view: (root) => receiptPage(root) },
  { pattern: /^#\/sharing$/, nav: '#/sharing', view: (root) => sharingPage(root) },
];

const NAV = [
  ['#/assets', 'Assets'],
  ['#/verify', 'Verify a file'],
  ['#/receipt', 'Verify a receipt'],
  ['#/sharing', 'Sharing'],
];

const main = () => document.getElementById('main');

// Each render gets a fresh root: a slow view finishing after the user moved on writes into
// a detached element and shows nothing.
function freshRoot() {
  const root = h('div', { class: 'page' });
  replace(main(), root);
  return root;
}

function renderNav(current) {
  const nav = document.getElementById('nav');
  if (!session.token) { nav.hidden = true; clear(nav); return; }
  const claims = session.claims();
  const signOut = h('button', { type: 'button', class: 'link', dataset: { testid: 'sign-out' } }, 'Sign out');
  signOut.addEventListener('click', () => {
    session.clear();
    status('Signed out.');
    route(true);
  });
  replace(nav, h('ul', {},
    NAV.map(([href, label]) => h('li', {}, h('a', { href, 'aria-current': href === current ? 'page' : null }, label))),
    h('li', { class: 'who' }, claims && claims.tenant ? h('span', { class: 'muted' }, String(claims.tenant)) : null, signOut)));
  nav.hidden = false;
}

function route(focus = false) {
  const hash = location.hash && location.hash !== '#' && location.hash !== '#main' ? location.hash : '#/assets';
  const found = ROUTES.map((r) => [r, hash.match(r.pattern)]).find(([, m]) => m);
  if (!session.token) {
    renderNav(null);
    signInPage(freshRoot(), () => route(true));
    return;
  }
  const [r, m] = found || [ROUTES[1], ['#/assets']];
  renderNav(r.nav);
  r.view(freshRoot(), m);
  // After a navigation, focus the content (not a heading a loading view is about to replace),
  // so keyboard and screen-reader users start at the new page.
  if (focus) main().focus();
}

function start() {
  // The skip link moves focus without touching the #/ route.
  document.getElementById('skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    main().focus();
  });
  const isPublic = location.pathname.match(PUBLIC);
  if (isPublic) {
    document.body.classList.add('public');
    publicPage(freshRoot(), isPublic[1].toLowerCase(), isPublic[2] ? isPublic[2].toLowerCase() : null);
    return;
  }
  window.addEventListener('hashchange', () => {
    if (location.hash === '#main') return;
    // A message just set (e.g. "Created …" before moving to the new asset) survives the move.
    if (Date.now() - Number(document.getElementById('status').dataset.at || 0) > 1500) status('');
    route(true);
  });
  window.addEventListener('attachd:signed-out', (e) => {
    status(`Signed out: ${e.detail || 'the server no longer accepts the token'}. Sign in again.`, 'bad');
    route(true);
  });
  route();
}

start();
