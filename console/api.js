// The API client. The bearer token lives in sessionStorage only (gone when the tab closes)
// and travels in the Authorization header, never in a URL.

const KEY = 'attachd.token';
const EXPIRES = 'attachd.expires';

export const session = {
  get token() {
    const token = sessionStorage.getItem(KEY);
    const expires = Number(sessionStorage.getItem(EXPIRES) || 0);
    if (token && expires && Date.now() > expires) { this.clear(); return null; }
    return token;
  },
  set(token, expiresIn) {
    sessionStorage.setItem(KEY, token);
    if (expiresIn) sessionStorage.setItem(EXPIRES, String(Date.now() + expiresIn * 1000));
    else sessionStorage.removeItem(EXPIRES);
  },
  clear() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(EXPIRES);
  },
  // What the token says about itself (a JWT's claims), for display only: the server decides.
  claims() {
    try {
      const part = (this.token || '').split('.')[1];
      return JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/')));
    } catch {
      return null;
    }
  },
};

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// Only this server's API paths are ever fetched.
function url(path, query) {
  if (!/^\/(archivist|verifiabledata)\//.test(path)) throw new Error(`not an API path: ${path}`);
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.append(k, String(v));
  }
  return u;
}

function headers(auth, extra) {
  const out = { Accept: 'application/json', ...extra };
  if (auth) {
    const token = session.token;
    if (!token) throw new ApiError(401, 'Not signed in.');
    out.Authorization = `Bearer ${token}`;
  }
  return out;
}

async function failure(response) {
  let body = null, message = `${response.status} ${response.statusText}`;
  try {
    body = await response.json();
    if (body && typeof body.message === 'string') message = `${body.message} (${response.status})`;
  } catch { /* not JSON */ }
  if (response.status === 401 && session.token) {
    session.clear();
    window.dispatchEvent(new CustomEvent('attachd:signed-out', { detail: message }));
  }
  return new ApiError(response.status, message, body);
}

// JSON in, JSON out. `auth: false` for the public routes and the token endpoint.
export async function api(path, { method = 'GET', query, json, form, auth = true, signal } = {}) {
  const extra = {};
  let body;
  if (json !== undefined) { extra['Content-Type'] = 'application/json'; body = JSON.stringify(json); }
  if (form !== undefined) body = new URLSearchParams(form);
  const response = await fetch(url(path, query), { method, headers: headers(auth, extra), body, signal, credentials: 'omit' });
  if (!response.ok) throw await failure(response);
  return response.json();
}

// The bytes of a download route, as a Blob.
export async function fetchBlob(path, { auth = true, query } = {}) {
  const response = await fetch(url(path, query), { headers: headers(auth, { Accept: '*/*' }), credentials: 'omit' });
  if (!response.ok) throw await failure(response);
  return response.blob();
}

export async function signInWithClient(clientId, clientSecret) {
  const answer = await api('/archivist/iam/v1/appidp/token', {
    method: 'POST', auth: false,
    form: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret },
  });
  if (!answer.access_token) throw new Error('The token endpoint gave no access_token.');
  session.set(answer.access_token, answer.expires_in);
}

// Accepts "eyJ…", "Bearer eyJ…" or the whole "Authorization: Bearer eyJ…" line.
export async function signInWithToken(text) {
  const token = String(text).trim().replace(/^authorization:\s*/i, '').replace(/^bearer\s+/i, '').trim();
  if (!/^[A-Za-z0-9._~+/=-]+$/.test(token)) throw new Error('That does not look like a bearer token.');
  session.set(token, 0);
  const exp = Number((session.claims() || {}).exp);
  if (exp) session.set(token, exp - Date.now() / 1000);
  try {
    await api('/archivist/v2/assets', { query: { page_size: 1 } }); // does the server accept it?
  } catch (err) {
    session.clear();
    throw err;
  }
}

// Upload with progress: fetch() cannot report upload progress, XMLHttpRequest can.
export function uploadBlob(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url('/archivist/v1/blobs'));
    const h = headers(true, {});
    for (const [k, v] of Object.entries(h)) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); });
    xhr.upload.addEventListener('load', () => onProgress(file.size, file.size));
    xhr.addEventListener('load', () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && body) return resolve(body);
      if (xhr.status === 401) {
        session.clear();
        window.dispatchEvent(new CustomEvent('attachd:signed-out', { detail: 'Your session ended.' }));
      }
      const message = body && body.message ? `${body.message} (${xhr.status})` : `upload failed (${xhr.status})`;
      reject(new ApiError(xhr.status, message, body));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'The upload could not reach the server.')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'The upload was cancelled.')));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

// The log's signing keys (current and still trusted), public.
export async function logKeys() {
  const key = await api('/archivist/v1/merklelog/public-key', { auth: false });
  const pems = [key.pem, ...(key.trusted || []).map((t) => t.pem)].filter((p) => typeof p === 'string');
  return [...new Set(pems)];
}
