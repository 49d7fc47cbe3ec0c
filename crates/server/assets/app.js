// Tessera's browser page: plain JavaScript, no framework, no build step.
//
// Where the tokens live:
// - the access token only in this module's memory (`session` below): never in Web
//   Storage, a readable cookie or a URL, so a reload forgets it;
// - the refresh token only in the HttpOnly `__Host-tessera_refresh` cookie, which no script
//   can read. POST /v1/token/refresh with that cookie answers a new access token and
//   rotates the cookie (the old refresh token is spent).
//
// Tabs of one browser share that cookie, so their refreshes are coordinated and one tab
// never logs another out:
// 1. within a tab, refresh is single-flight: calls that need one share one request;
// 2. across tabs, a Web Lock ('tessera-refresh') lets one tab refresh at a time, and each
//    new access token is posted on a BroadcastChannel; a tab that gets the lock after
//    another tab refreshed takes that tab's token instead of rotating the cookie again
//    (and if it did rotate again, it presents the already-rotated cookie: still valid);
// 3. what is left (browsers without Web Locks, a request racing a rotation) is covered by
//    the server's grace window: a spent refresh token presented again within seconds gets
//    the same successor instead of revoking the session.
//
// Everything the server sends is displayed with textContent, never parsed as HTML.

const LOCK = 'tessera-refresh';
const channel = 'BroadcastChannel' in globalThis ? new BroadcastChannel('tessera') : null;

const $ = (id) => document.getElementById(id);

/** This tab's login: { token, header, payload, expiresAt } (expiresAt: ms, Date.now()). */
let session = null;
/** This tab's refresh in flight, shared by every call that needs it. */
let refreshing = null;

/** The refresh token is gone (expired, revoked, reused, unknown): log in again. */
class LoginRequired extends Error {
  constructor(code, description) {
    super(description || code);
    this.code = code;
  }
}

/** A call answered an error the page cannot recover from by itself. */
class CallFailed extends Error {
  constructor(res) {
    super(describe(res));
    this.res = res;
  }
}

// ---------------------------------------------------------------- HTTP

/** One JSON call to this origin; the browser attaches the cookie by itself. */
async function request(method, path, { token, json } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new Error(`Could not reach the server (${method} ${path}). Is it running?`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: 'unexpected_answer', error_description: text.slice(0, 200) };
    }
  }
  return {
    method, path, status: res.status, ok: res.ok, data,
    retryAfter: res.headers.get('Retry-After'),
  };
}

/** Runs `fn` holding the cross-tab refresh lock (or alone, without Web Locks). */
function withLock(fn) {
  return navigator.locks ? navigator.locks.request(LOCK, fn) : fn();
}

/**
 * A fresh access token through the cookie. `stale` is the token the server just refused
 * (null on page load): if this tab already holds another one with time to spare (another
 * tab refreshed and broadcast it while we waited for the lock), that one is used. With
 * very short lifetimes (the 2 s of the browser test) there is never time to spare, and
 * the tabs simply take turns, each presenting the cookie the previous one rotated.
 */
function refresh(stale) {
  refreshing ??= withLock(async () => {
    if (session && session.token !== stale && freshFor(1500)) {
      log('Another tab had just refreshed: using its access token.');
      return session.token;
    }
    const res = await request('POST', '/v1/token/refresh');
    if (res.ok) {
      adopt(res.data.access_token, Date.now() + res.data.expires_in * 1000, true);
      log('Refreshed through the cookie: a new access token, and the refresh token rotated.');
      return session.token;
    }
    if (res.data?.login_required) throw new LoginRequired(res.data.error, res.data.error_description);
    throw new CallFailed(res);
  }).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/**
 * A call with the access token. On `token_expired` (or `invalid_token`: a revoked session,
 * a retired key) it refreshes through the cookie and retries once.
 */
async function authed(method, path) {
  if (!session) throw new LoginRequired('invalid_refresh_token');
  const used = session.token;
  let res = await request(method, path, { token: used });
  const error = res.data?.error;
  if (res.status === 401 && (error === 'token_expired' || error === 'invalid_token')) {
    log(`${method} ${path} answered ${error}: refreshing through the cookie, then retrying.`);
    const fresh = await refresh(used);
    res = await request(method, path, { token: fresh });
    res.refreshed = true;
  }
  return res;
}

// ---------------------------------------------------------------- tokens

/** base64url (no padding) → UTF-8 text. */
function base64urlText(segment) {
  if (!/^[A-Za-z0-9_-]*$/.test(segment)) throw new Error('not base64url');
  const b64 = segment.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((segment.length + 3) % 4);
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

/** Header and payload of a compact JWS. Decoding is not verifying: anyone can do this. */
function decodeJwt(token) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('not a compact JWS');
  return { header: JSON.parse(base64urlText(parts[0])), payload: JSON.parse(base64urlText(parts[1])) };
}

/**
 * Makes `token` this tab's access token. `expiresAt` is counted from when it arrived, on
 * this machine's clock, so a skewed clock does not matter. `announce` posts it to the
 * other tabs.
 */
function adopt(token, expiresAt, announce) {
  const { header, payload } = decodeJwt(token);
  session = { token, header, payload, expiresAt };
  if (announce) channel?.postMessage({ type: 'token', token, expiresAt });
  if (!$('app').hidden) renderToken();
}

/**
 * True when the server will still accept the token `ms` from now. `exp` is in whole
 * seconds, so the server may see it expire up to a second before `expiresAt`.
 */
function freshFor(ms) {
  return session !== null && session.expiresAt - 1000 - Date.now() > ms;
}

channel?.addEventListener('message', ({ data: m }) => {
  if (m?.type === 'token' && typeof m.token === 'string' && typeof m.expiresAt === 'number') {
    if (session && m.expiresAt <= session.expiresAt) return;
    const before = session?.payload.sid;
    try {
      adopt(m.token, m.expiresAt, false);
    } catch {
      return;
    }
    if (before !== session.payload.sid || $('app').hidden) {
      log('Another tab logged in: showing its session.');
      enter();
    }
  } else if (m?.type === 'logout' && session && (m.all || m.sid === session.payload.sid)) {
    log(m.all ? 'Another tab logged out everywhere.' : 'Another tab logged out.');
    endSession(m.all ? 'You logged out everywhere (in another tab).' : 'You logged out (in another tab).');
  }
});

// ---------------------------------------------------------------- actions

async function submitAuth(event) {
  event.preventDefault();
  const form = event.currentTarget;
  if (form.dataset.busy === 'true') return;
  const signup = event.submitter?.value === 'signup';
  const username = form.elements.username.value;
  const password = form.elements.password.value;
  form.dataset.busy = 'true';
  notice('');
  try {
    if (signup) {
      const res = await request('POST', '/v1/users', { json: { username, password } });
      if (res.status !== 201) throw new CallFailed(res);
      log(`Signed up: new user ${short(res.data.id)}`);
    }
    // Under the lock, so that no refresh of another tab lands its cookie after ours.
    const res = await withLock(() => request('POST', '/v1/login', { json: { username, password } }));
    if (!res.ok) throw new CallFailed(res);
    adopt(res.data.access_token, Date.now() + res.data.expires_in * 1000, true);
    form.reset();
    log('Logged in: the access token is in this tab\'s memory, the refresh token in an HttpOnly cookie.');
    enter();
  } catch (e) {
    fail(e);
  } finally {
    form.dataset.busy = 'false';
  }
}

async function callMe() {
  const box = $('me-result');
  box.hidden = false;
  box.dataset.state = 'pending';
  box.dataset.refreshed = 'false';
  $('me-status').textContent = 'Calling GET /v1/me…';
  $('me-body').textContent = '';
  const res = await authed('GET', '/v1/me');
  box.dataset.state = res.ok ? 'ok' : 'error';
  box.dataset.refreshed = String(Boolean(res.refreshed));
  const status = res.ok ? `${res.status} OK` : `${res.status} ${res.data?.error ?? ''}`;
  $('me-status').textContent = res.refreshed
    ? `${status} · the access token had expired, so the page refreshed it through the cookie and retried`
    : status;
  $('me-body').textContent = JSON.stringify(res.data, null, 2);
  log(`GET /v1/me → ${res.status}${res.refreshed ? ' (after a refresh)' : ''}.`);
}

async function loadSessions() {
  const res = await authed('GET', '/v1/sessions');
  if (!res.ok) throw new CallFailed(res);
  renderSessions(res.data);
}

async function revoke(s) {
  const res = await authed('DELETE', `/v1/sessions/${encodeURIComponent(s.id)}`);
  if (res.status !== 204) throw new CallFailed(res);
  log(`Revoked session ${short(s.id)} (${deviceName(s.user_agent)}).`);
  if (s.current) {
    await logout('You revoked this browser\'s session.');
  } else {
    await loadSessions();
  }
}

async function logout(message = 'You have logged out.') {
  const sid = session?.payload.sid;
  const res = await withLock(() => request('POST', '/v1/logout'));
  // 401: there was no cookie any more; the session is over either way.
  if (!res.ok && res.status !== 401) throw new CallFailed(res);
  channel?.postMessage({ type: 'logout', sid });
  log('Logged out: the session is revoked and the cookie cleared.');
  endSession(message);
}

async function logoutEverywhere() {
  const res = await authed('POST', '/v1/logout/all');
  if (res.status !== 204) throw new CallFailed(res);
  channel?.postMessage({ type: 'logout', all: true });
  log('Logged out everywhere: every session of this user is revoked.');
  endSession('You have logged out on every device.');
}

/** Wires a button to an async action: one run at a time, errors shown. */
function action(button, run) {
  button.addEventListener('click', async () => {
    if (button.getAttribute('aria-busy') === 'true') return;
    button.setAttribute('aria-busy', 'true');
    try {
      await run();
    } catch (e) {
      fail(e);
    } finally {
      button.removeAttribute('aria-busy');
    }
  });
}

const ENDED = {
  refresh_token_revoked: 'This session has ended: it was logged out or revoked, here or on another device.',
  refresh_token_expired: 'This session has expired.',
  refresh_token_reused: 'A spent refresh token of this session was presented again, so the server revoked the session to be safe.',
  invalid_refresh_token: 'This browser has no valid session any more.',
};

function fail(e) {
  if (e instanceof LoginRequired) {
    log(`The refresh answered ${e.code} (login_required): back to the login form.`);
    endSession(`${ENDED[e.code] ?? 'This session has ended.'} Please log in again.`, 'error');
  } else {
    notice(e.message, 'error');
  }
}

/** A human sentence for an error answer. */
function describe(res) {
  const d = res.data ?? {};
  switch (d.error) {
    case 'invalid_credentials':
      return 'Wrong username or password.';
    case 'username_taken':
      return 'That username is taken: log in instead, or choose another.';
    case 'weak_password':
      return `That password is too weak: ${d.error_description}.`;
    case 'rate_limited':
      return `Too many attempts. Try again in ${res.retryAfter ?? 'a few'} seconds.`;
    case 'csrf_failed':
      return `The server refused a cookie request from this page's origin (${location.origin}). `
        + 'Open the page at the server\'s public URL (server.public_url), or add this origin to cors.allowed_origins.';
    case 'unavailable':
      return 'The server\'s database is unavailable. Try again shortly.';
    default:
      return `${res.method} ${res.path} failed: ${res.status} ${d.error ?? ''} ${d.error_description ?? ''}`.trim();
  }
}

// ---------------------------------------------------------------- views

/** Shows the signed-in view for `session`. */
function enter() {
  const fromForm = $('app').hidden;
  $('loading').hidden = true;
  $('auth').hidden = true;
  $('app').hidden = false;
  renderToken();
  if (fromForm) {
    notice('');
    $('me-result').hidden = true;
    $('sessions').replaceChildren();
    moveFocus($('token-title'));
  }
  loadSessions().catch(fail);
}

/** Forgets this tab's token and shows the form, with `message` if any. */
function endSession(message, kind = 'info') {
  session = null;
  $('loading').hidden = true;
  $('app').hidden = true;
  $('auth').hidden = false;
  $('jwt-header').textContent = '';
  $('jwt-payload').textContent = '';
  $('me-body').textContent = '';
  $('sessions').replaceChildren();
  if (message) notice(message, kind);
  moveFocus($('username'));
}

/** Focuses `el` unless the user's focus is still on something visible. */
function moveFocus(el) {
  const active = document.activeElement;
  if (!active || active === document.body || !active.checkVisibility?.()) el.focus();
}

function notice(text, kind = 'info') {
  const el = $('notice');
  el.textContent = text;
  el.className = `notice ${kind}`;
  el.hidden = !text;
}

const CLAIMS = {
  iss: 'issuer: the server that signed it',
  sub: 'subject: an opaque user id, not a name',
  aud: 'audience: the API meant to accept it',
  exp: 'expires',
  nbf: 'not valid before',
  iat: 'issued',
  jti: 'this token\'s unique id',
  sid: 'session: one login on one device',
  scope: 'scopes granted',
  client_id: 'the client it was issued to',
};

function renderToken() {
  if (!session) return;
  const { header, payload } = session;
  $('jwt-header').textContent = JSON.stringify(header, null, 2);
  $('jwt-payload').textContent = JSON.stringify(payload, null, 2);
  for (const [id, value] of [['who-sub', payload.sub], ['who-sid', payload.sid]]) {
    $(id).textContent = short(value);
    $(id).title = String(value ?? '');
  }
  const rows = [];
  for (const [name, value] of Object.entries(payload)) {
    if (!(name in CLAIMS)) continue;
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    const time = ['exp', 'nbf', 'iat'].includes(name) && typeof value === 'number';
    dd.textContent = time ? `${CLAIMS[name]} ${clock(value)}` : CLAIMS[name];
    rows.push(dt, dd);
  }
  $('claims').replaceChildren(...rows);
  tick();
}

/** The countdown, four times a second. */
function tick() {
  if (!session) return;
  const left = (session.expiresAt - Date.now()) / 1000;
  const lifetime = Math.max(1, (session.payload.exp ?? 0) - (session.payload.iat ?? 0));
  const ttl = $('ttl');
  if (left > 0) {
    ttl.textContent = `Expires in ${Math.ceil(left)} s`;
    ttl.dataset.expired = 'false';
  } else {
    ttl.textContent = `Expired ${Math.floor(-left)} s ago · the next call refreshes it`;
    ttl.dataset.expired = 'true';
  }
  $('ttl-bar').style.inlineSize = `${Math.min(100, Math.max(0, (left / lifetime) * 100))}%`;
}

function renderSessions(list) {
  const template = $('session-row').content.firstElementChild;
  const rows = list.map((s, i) => {
    const li = template.cloneNode(true);
    li.dataset.sessionId = s.id;
    li.dataset.current = String(Boolean(s.current));
    const name = li.querySelector('.device-name');
    name.id = `device-${i}`;
    name.textContent = deviceName(s.user_agent);
    name.title = s.user_agent ?? '';
    if (s.current) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'this browser';
      li.querySelector('.device').append(badge);
    }
    const meta = [`Created ${dateTime(s.created_at)}`, `last used ${ago(s.last_used_at)}`];
    if (s.ip) meta.push(s.ip);
    li.querySelector('.session-meta').textContent = meta.join(' · ');
    const button = li.querySelector('.revoke');
    button.setAttribute('aria-describedby', name.id);
    action(button, () => revoke(s));
    return li;
  });
  if (rows.length === 0) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'No live sessions.';
    rows.push(li);
  }
  $('sessions').replaceChildren(...rows);
}

/** "Firefox on Windows" from a User-Agent, or the start of it. */
function deviceName(ua) {
  if (!ua) return 'Unknown device';
  const browser = /Edg\//.test(ua) ? 'Edge'
    : /HeadlessChrome\//.test(ua) ? 'Headless Chrome'
      : /(Chrome|Chromium|CriOS)\//.test(ua) ? 'Chrome'
        : /(Firefox|FxiOS)\//.test(ua) ? 'Firefox'
          : /Safari\//.test(ua) ? 'Safari' : null;
  const os = /Android/.test(ua) ? 'Android'
    : /iPhone|iPad/.test(ua) ? 'iOS'
      : /Windows/.test(ua) ? 'Windows'
        : /Mac OS X/.test(ua) ? 'macOS'
          : /CrOS/.test(ua) ? 'ChromeOS'
            : /Linux/.test(ua) ? 'Linux' : null;
  if (browser && os) return `${browser} on ${os}`;
  return browser ?? (ua.length > 40 ? `${ua.slice(0, 40)}…` : ua);
}

// ---------------------------------------------------------------- small helpers

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

function ago(unix) {
  const s = Math.round(unix - Date.now() / 1000);
  const abs = Math.abs(s);
  if (abs < 60) return relative.format(s, 'second');
  if (abs < 3600) return relative.format(Math.round(s / 60), 'minute');
  if (abs < 86400) return relative.format(Math.round(s / 3600), 'hour');
  return relative.format(Math.round(s / 86400), 'day');
}

function clock(unix) {
  return new Date(unix * 1000).toLocaleTimeString();
}

function dateTime(unix) {
  return new Date(unix * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function short(id) {
  const s = String(id ?? '');
  return s.length > 10 ? `${s.slice(0, 8)}…` : s;
}

const MAX_LOG = 12;

function log(text) {
  const li = document.createElement('li');
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  li.append(time, ` ${text}`);
  const list = $('log');
  list.prepend(li);
  while (list.children.length > MAX_LOG) list.lastElementChild.remove();
  $('activity').hidden = false;
}

// ---------------------------------------------------------------- start

$('auth-form').addEventListener('submit', submitAuth);
action($('call-me'), callMe);
action($('reload-sessions'), loadSessions);
action($('logout'), () => logout());
action($('logout-all'), logoutEverywhere);
setInterval(tick, 250);

// After a reload the token is gone from memory: try the cookie once, silently.
refresh(null).then(
  () => {
    log('Restored the session from the refresh cookie.');
    enter();
  },
  (e) => {
    if (e instanceof LoginRequired) {
      endSession(''); // no cookie, or a dead one: just the form, no error
    } else {
      endSession('');
      fail(e);
    }
  },
);
