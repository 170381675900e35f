// Tiny element helpers. Everything that came from a server or a file goes into the page as
// text (textContent, attributes set one by one), never as HTML, so a value such as
// `<img src=x onerror=…>` shows as the characters it is.

// A link target we built ourselves: a console route (#/…) or a path on this server (/…).
// Anything else (javascript:, data:, //other.host) is refused rather than rendered.
export function safeHref(href) {
  if (typeof href === 'string' && (/^#\//.test(href) || /^\/(?!\/)/.test(href))) return href;
  throw new Error(`refusing a link to ${String(href).slice(0, 40)}`);
}

// h('p', {class: 'x', onclick: f}, 'text', child, [more]) → an element.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'href') el.setAttribute('href', safeHref(value));
    else if (key === 'value' || key === 'checked' || key === 'disabled' || key === 'multiple') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

// append/replace with any children: text, elements, nested lists; null and false are skipped.
export const put = (el, ...children) => append(el, children);
export const replace = (el, ...children) => append(clear(el), children);

export function clear(el) {
  el.replaceChildren();
  return el;
}

let ids = 0;
// A labelled control: <div class=field><label for=id>Label</label><input id=id …></div>.
export function field(label, control, hint) {
  control.id ||= `f${++ids}`;
  const hintEl = hint ? h('p', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

// A checkbox with its label after it.
export function checkbox(label, props) {
  const input = h('input', { type: 'checkbox', id: `f${++ids}`, ...props });
  return h('div', { class: 'field check' }, input, h('label', { for: input.id }, label));
}

// "1.5 KB (1,536 bytes)": the human unit and the exact count, in the user's locale.
export function formatBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return 'unknown size';
  const exact = `${n.toLocaleString()} ${n === 1 ? 'byte' : 'bytes'}`;
  if (n < 1024) return exact;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = n / 1024, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  const human = value.toLocaleString(undefined, { maximumFractionDigits: value < 10 ? 1 : 0 });
  return `${human} ${units[unit]} (${exact})`;
}

// A <time> in the user's locale; the machine-readable value stays in datetime.
export function time(value) {
  const date = typeof value === 'number' ? new Date(value) : new Date(String(value || ''));
  if (!value || Number.isNaN(date.getTime())) return h('span', { class: 'muted' }, 'unknown time');
  return h('time', { datetime: date.toISOString() },
    date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }));
}

// The uuid in "assets/<uuid>" or "…/events/<uuid>", or null if it is not one.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function uuidOf(identity) {
  const last = String(identity || '').split('/').pop();
  return UUID.test(last) ? last.toLowerCase() : null;
}
export const isUuid = (s) => UUID.test(String(s));

// Announce a message in the shared live region (and show it).
export function status(message, kind = 'info') {
  const el = document.getElementById('status');
  el.className = `status ${kind}`;
  el.textContent = message;
  el.dataset.at = String(Date.now());
}

// A section with a heading, the page's building block.
export function section(title, props, ...children) {
  return h('section', { class: 'card', ...props }, h('h2', {}, title), ...children);
}

// A <dl> of name → value pairs (values already elements or text).
export function defs(pairs) {
  return h('dl', { class: 'defs' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function errorText(err) {
  return err && err.message ? err.message : String(err);
}
