// Sign-in: client credentials exchanged for a token, or a token pasted as is. Either way the
// token goes to sessionStorage only.

import { h, field, status, errorText, put } from './dom.js';
import { signInWithClient, signInWithToken } from './api.js';

export function signInPage(root, done) {
  const clientId = h('input', { name: 'client_id', autocomplete: 'username', required: true, spellcheck: 'false', dataset: { testid: 'client-id' } });
  const secret = h('input', { name: 'client_secret', type: 'password', autocomplete: 'current-password', required: true, dataset: { testid: 'client-secret' } });
  const token = h('textarea', { name: 'token', rows: '3', required: true, spellcheck: 'false', autocomplete: 'off', dataset: { testid: 'token' } });

  const submit = (form, action) => form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    status('Signing in…');
    try {
      await action();
      status('Signed in.', 'ok');
      done();
    } catch (err) {
      status(`Sign-in failed: ${errorText(err)}`, 'bad');
      button.disabled = false;
    }
  });

  const credentials = h('form', { class: 'card', 'aria-labelledby': 'signin-client' },
    h('h2', { id: 'signin-client' }, 'With client credentials'),
    field('Client id', clientId),
    field('Client secret', secret, 'From "attachd tenant create" or an app registration.'),
    h('button', { type: 'submit', dataset: { testid: 'sign-in' } }, 'Sign in'));
  submit(credentials, async () => {
    await signInWithClient(clientId.value.trim(), secret.value.trim());
    secret.value = '';
  });

  const pasted = h('form', { class: 'card', 'aria-labelledby': 'signin-token' },
    h('h2', { id: 'signin-token' }, 'With a bearer token'),
    field('Bearer token', token, 'The token itself, or the "Authorization: Bearer …" line of bearer-token.txt.'),
    h('button', { type: 'submit', dataset: { testid: 'sign-in-token' } }, 'Use token'));
  submit(pasted, async () => {
    await signInWithToken(token.value);
    token.value = '';
  });

  put(root, 
    h('h1', {}, 'Sign in'),
    h('p', { class: 'lead' }, 'The token stays in this tab (session storage) and is sent only in request headers.'),
    h('div', { class: 'grid' }, credentials, pasted));
}
