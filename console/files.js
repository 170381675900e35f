// Local file work: hashing in the browser (the file never leaves the machine), saving a
// downloaded Blob, and a drop zone that feeds file inputs.

import { h } from './dom.js';

export function canHash() {
  return Boolean(globalThis.crypto && crypto.subtle);
}

// SHA-256 of a File/Blob/bytes in lowercase hex, as attachd records it.
export async function sha256Hex(data) {
  if (!canHash()) {
    throw new Error('This browser only hashes files on a secure page (HTTPS or localhost).');
  }
  const bytes = data instanceof Blob ? await data.arrayBuffer() : data;
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

// Save a Blob under `name` through an object URL: the token never appears in any URL.
export function saveBlob(blob, name) {
  const objectUrl = URL.createObjectURL(blob);
  const link = h('a', { download: safeFileName(name), class: 'hidden' });
  link.href = objectUrl; // a blob: URL we just made, not data from the server
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(objectUrl), 30_000);
}

// A file name as a save dialog should see it: no path parts, no control characters.
export function safeFileName(name) {
  const base = String(name || 'download').split(/[\\/]/).pop().replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return base && base !== '.' && base !== '..' ? base.slice(0, 200) : 'download';
}

// A labelled drop zone around `inputs`: files dropped on it are handed to `onFiles`.
export function dropZone(label, onFiles, ...inputs) {
  const zone = h('div', { class: 'drop', dataset: { testid: 'drop-zone' } }, h('p', { class: 'hint' }, label), ...inputs);
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (e.dataTransfer && e.dataTransfer.files.length) onFiles([...e.dataTransfer.files]);
  });
  return zone;
}
