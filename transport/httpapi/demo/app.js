// ssehub demo page: one EventSource on GET /events, a form that publishes
// with POST /publish, and a log of what happens to the connection. Plain
// JavaScript with no build step, served by the hub itself (--demo).
//
// The page marks up what it shows with data- attributes (data-state,
// data-id, data-type, data-resumed, data-kind) so that the browser tests in
// cmd/ssehub can read it.
'use strict';

const MAX_EVENTS = 200; // notifications kept on the page, newest first
const PRESENCE_EVERY_MS = 1000; // how often the Online card asks GET /presence
const PRESENCE_SHOWN = 100; // users the Online card lists (one page)

const $ = (id) => document.getElementById(id);

// sub is the current subscription and presence what the Online card
// watches; each Connect replaces both.
let sub = null;
let presence = null;

// split reads a list typed as "a, b c".
function split(s) {
  return s.split(/[\s,]+/).filter(Boolean);
}

// idTime returns the unix milliseconds in an event id ("<ms>-<sequence>"),
// or NaN for an id of another form.
function idTime(id) {
  return /^\d+-\d+$/.test(id) ? Number(id.split('-')[0]) : NaN;
}

function clock(ms) {
  return new Date(ms).toTimeString().slice(0, 8);
}

// Subscription is one EventSource and what the page knows about it.
class Subscription {
  constructor({ topics, events, token }) {
    const q = new URLSearchParams();
    for (const t of topics) q.append('topic', t);
    // EventSource cannot send headers: a token goes in the query (use TLS).
    if (token) q.set('token', token);
    this.url = '/events?' + q;
    this.shownURL = decodeURIComponent(this.url).replace(/token=[^&]*/, 'token=…');
    this.opens = 0; // onopen count: 1 is the first connect, then reconnects
    this.failures = 0; // onerror count since the last open
    this.lastId = '';
    // Browser clock minus hub clock, plus the smallest delivery delay seen:
    // turns an id's time into the browser's time. Null until a live event.
    this.skew = null;
    this.reopenedAt = 0; // browser time of the latest reconnect
    this.listening = new Set(['message', 'ssehub.reset']);

    this.es = new EventSource(this.url);
    this.es.onopen = () => this.opened();
    this.es.onerror = () => this.failed();
    this.es.onmessage = (e) => this.received(e);
    this.es.addEventListener('ssehub.reset', (e) => this.reset(e));
    for (const name of events) this.listen(name);
    setState('connecting', 'connecting');
    log('connect', 'GET ' + this.shownURL);
  }

  close() {
    this.es.close();
  }

  // listen adds a listener for events named name: EventSource passes a
  // named event only to listeners of that name, never to onmessage.
  listen(name) {
    if (this.listening.has(name)) return false;
    this.listening.add(name);
    this.es.addEventListener(name, (e) => this.received(e));
    return true;
  }

  opened() {
    this.opens++;
    // The first error was the loss, each later one a failed attempt.
    const tries = this.failures;
    this.failures = 0;
    if (this.opens === 1) {
      log('open', 'connected');
    } else {
      this.reopenedAt = Date.now();
      log('reconnected', `reconnected (#${this.opens - 1}${tries > 1 ? `, try ${tries}` : ''}), resuming after ${this.lastId || 'nothing received yet'}`);
    }
    setState('open', 'connected', this.opens - 1);
  }

  failed() {
    if (this.es.readyState === EventSource.CLOSED) {
      // An error status or a CORS refusal: EventSource gives up for good.
      this.refused();
      return;
    }
    this.failures++;
    if (this.failures === 1) {
      log('lost', this.opens === 0 ? 'cannot reach the hub; retrying'
        : 'connection lost; reconnecting' + (this.lastId ? ' with Last-Event-ID ' + this.lastId : ''));
    }
    setState('reconnecting', this.failures > 1 ? `reconnecting (try ${this.failures})` : 'reconnecting', this.opens - 1);
  }

  // refused asks the hub again with fetch, which, unlike EventSource, can
  // read the error, and shows why.
  async refused() {
    setState('closed', 'refused', Math.max(this.opens - 1, 0));
    let why = 'the hub refused the stream';
    const ctl = new AbortController();
    try {
      const resp = await fetch(this.url, { signal: ctl.signal, headers: { Accept: 'text/event-stream' } });
      if (resp.ok) {
        why += '; it accepts it now: Connect to try again';
      } else {
        const body = await resp.json();
        why = `refused: ${resp.status} ${body.error.code}: ${body.error.message}`;
        if (resp.status === 401) $('auth').open = true;
      }
    } catch (err) {
      // The hub is gone, or answered something other than JSON.
    } finally {
      ctl.abort(); // never keep a second stream open
    }
    if (sub === this) log('closed', why);
  }

  received(e) {
    const at = Date.now();
    const ms = idTime(e.lastEventId);
    let resumed = false;
    if (!Number.isNaN(ms)) {
      // After a reconnect the hub first replays what the stream missed,
      // then live events. It does not mark the replay, but ids carry the
      // hub's publish time: published before the stream came back means
      // missed while it was down, and resumed now.
      if (this.reopenedAt && ms + (this.skew ?? 0) < this.reopenedAt) {
        resumed = true;
      } else {
        this.skew = this.skew === null ? at - ms : Math.min(this.skew, at - ms);
      }
    }
    if (e.lastEventId) this.lastId = e.lastEventId;
    addEvent({ id: e.lastEventId, type: e.type, data: e.data, resumed, at });
  }

  reset(e) {
    let detail = e.data;
    try {
      const d = JSON.parse(e.data);
      detail = `history could not fill the gap after ${d.lastEventId} (${d.reason}): reload your state`;
    } catch (err) {
      // Show the data as it came.
    }
    if (e.lastEventId) this.lastId = e.lastEventId;
    log('reset', 'ssehub.reset: ' + detail);
    addEvent({ id: e.lastEventId, type: e.type, data: detail, resumed: false, at: Date.now() });
  }
}

// tokenSubject reads the subject of a JWT, to mark "you" among those
// online. The page does not verify the token: the hub does.
function tokenSubject(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part)).sub || '';
  } catch (err) {
    return '';
  }
}

// Presence asks the hub every PRESENCE_EVERY_MS who follows one topic
// (GET /presence, which needs --presence) and shows it on the Online card.
// Polling keeps the page simple and works for every topic; an app that
// wants pushes follows presence:<topic> with --presence-events instead.
class Presence {
  constructor({ topic, token, me }) {
    this.topic = topic;
    this.me = me;
    this.headers = token ? { Authorization: 'Bearer ' + token } : {};
    this.ctl = new AbortController();
    $('presence-topic').textContent = topic;
    showPresence('loading', 'asking the hub…');
    this.refresh();
  }

  stop() {
    this.ctl.abort();
    clearTimeout(this.timer);
  }

  async get(query) {
    const resp = await fetch('/presence?' + query, { headers: this.headers, signal: this.ctl.signal });
    const body = await resp.json().catch(() => null);
    if (!resp.ok) {
      const e = new Error(body && body.error ? body.error.message : 'HTTP ' + resp.status);
      e.status = resp.status;
      e.code = body && body.error ? body.error.code : '';
      throw e;
    }
    return body;
  }

  async refresh() {
    const q = new URLSearchParams({ topic: this.topic });
    try {
      const counts = await this.get(q);
      q.set('list', 'users');
      q.set('limit', String(PRESENCE_SHOWN));
      const page = await this.get(q);
      this.render(counts, page);
    } catch (err) {
      if (this.ctl.signal.aborted) return;
      if (err.status === 404) {
        showPresence('off', 'Presence is off: start the hub with --presence.');
        return; // it stays off until the hub restarts
      }
      showPresence('error', err.status ? `${err.status} ${err.code}: ${err.message}` : 'the hub is unreachable');
    }
    if (!this.ctl.signal.aborted) this.timer = setTimeout(() => this.refresh(), PRESENCE_EVERY_MS);
  }

  // render shows the counts (every stream, anonymous ones too) and the
  // users with a subject: anonymous streams have none to list.
  render(counts, page) {
    const listed = page.members.reduce((n, m) => n + m.streams, 0);
    let text = `${plural(counts.streams, 'stream')}, ${plural(counts.users, 'user')}`;
    if (!page.cursor && counts.streams > listed) {
      text += ` (${plural(counts.streams - listed, 'anonymous stream')}: connect with a token to show by name)`;
    }
    showPresence('ok', text);
    const s = $('presence-summary');
    s.dataset.streams = String(counts.streams);
    s.dataset.users = String(counts.users);
    $('presence-users').replaceChildren(...page.members.map((m) => {
      const li = document.createElement('li');
      li.dataset.user = m.user;
      li.dataset.streams = String(m.streams);
      li.dataset.me = String(m.user === this.me);
      li.textContent = m.user + (m.user === this.me ? ' (you)' : '');
      if (m.streams > 1) {
        const n = document.createElement('small');
        n.textContent = ` ×${m.streams}`;
        li.append(n);
      }
      return li;
    }));
  }

}

// showPresence sets the Online card's state (idle, loading, ok, off or
// error) and its line of text; only ok keeps the list of users.
function showPresence(state, text) {
  $('presence').dataset.state = state;
  $('presence-summary').textContent = text;
  if (state !== 'ok') $('presence-users').replaceChildren();
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function setState(state, text, reconnects = 0) {
  $('state').dataset.state = state;
  $('state').dataset.reconnects = String(reconnects);
  $('state-text').textContent = text;
  const r = $('reconnects');
  r.hidden = reconnects === 0;
  r.textContent = `· ${reconnects} reconnect${reconnects === 1 ? '' : 's'}`;
}

function log(kind, text) {
  const li = document.createElement('li');
  li.dataset.kind = kind;
  const time = document.createElement('time');
  time.textContent = clock(Date.now());
  const span = document.createElement('span');
  span.textContent = text;
  li.append(time, span);
  $('log').prepend(li);
  while ($('log').children.length > MAX_EVENTS) $('log').lastChild.remove();
}

function addEvent({ id, type, data, resumed, at }) {
  const li = document.createElement('li');
  li.className = 'event';
  li.dataset.id = id;
  li.dataset.type = type;
  li.dataset.resumed = String(resumed);
  li.dataset.at = String(at);

  const meta = document.createElement('div');
  meta.className = 'meta';
  const name = document.createElement('span');
  name.className = 'type';
  name.textContent = type;
  meta.append(name);
  if (resumed) {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = 'resumed';
    badge.title = 'published while the stream was down; replayed from history after the reconnect';
    meta.append(badge);
  }
  const time = document.createElement('time');
  time.textContent = clock(at);
  meta.append(time);

  const body = document.createElement('div');
  body.className = 'data';
  body.textContent = data;
  const idLine = document.createElement('div');
  idLine.className = 'id';
  idLine.textContent = 'id ' + (id || '(none)');
  li.append(meta, body, idLine);

  const list = $('events');
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
  $('count').textContent = String(list.children.length);
  $('empty').hidden = true;
}

function connect() {
  disconnect(true);
  const f = $('subscribe');
  const token = f.token.value.trim();
  const topics = split(f.topics.value);
  const user = f.user.value.trim();
  // With a token the hub adds user/<sub> itself, from the token.
  if (user && !token) topics.push('user/' + user);
  const list = $('topic-list');
  list.replaceChildren(...topics.filter((t) => !t.includes('*')).map((t) => new Option(t)));
  sub = new Subscription({ topics, events: split(f.events.value), token });
  // The Online card watches the first topic that is not a pattern, and
  // not the stream's own private topic.
  const watched = topics.find((t) => !t.includes('*') && !t.startsWith('user/'));
  if (watched) presence = new Presence({ topic: watched, token, me: token ? tokenSubject(token) : '' });
}

function disconnect(quiet = false) {
  if (presence) {
    presence.stop();
    presence = null;
    showPresence('idle', 'Connect to see who follows your first topic.');
  }
  if (!sub) return;
  sub.close();
  sub = null;
  if (quiet !== true) {
    log('closed', 'disconnected');
    setState('idle', 'not connected');
  }
}

async function publish(ev) {
  ev.preventDefault();
  const f = ev.target;
  const out = $('publish-result');
  const body = { topic: f.topic.value.trim(), data: f.data.value };
  const name = f.event.value.trim();
  if (name) {
    body.event = name;
    if (sub && sub.listen(name)) log('listen', `listening for "${name}" events too`);
  }
  const headers = { 'Content-Type': 'application/json' };
  const token = $('subscribe').token.value.trim();
  if (token) headers.Authorization = 'Bearer ' + token;
  out.className = '';
  out.textContent = 'publishing…';
  try {
    const resp = await fetch('/publish', { method: 'POST', headers, body: JSON.stringify(body) });
    const res = await resp.json().catch(() => null);
    if (resp.ok) {
      out.className = 'ok';
      out.textContent = 'published ' + res.ids[0];
    } else {
      out.className = 'error';
      out.textContent = res && res.error ? `${resp.status} ${res.error.code}: ${res.error.message}` : `HTTP ${resp.status}`;
    }
  } catch (err) {
    out.className = 'error';
    out.textContent = 'the hub is unreachable: ' + err.message;
  }
}

function clearEvents() {
  $('events').replaceChildren();
  $('count').textContent = '0';
  $('empty').hidden = false;
}

function init() {
  // ?user=bob&topics=news,sports&events=alert fills the form.
  const params = new URLSearchParams(location.search);
  const f = $('subscribe');
  for (const k of ['user', 'topics', 'events']) {
    if (params.has(k)) f.elements[k].value = params.get(k);
  }
  f.addEventListener('submit', (e) => { e.preventDefault(); connect(); });
  $('disconnect').addEventListener('click', () => disconnect());
  $('publish').addEventListener('submit', publish);
  $('clear').addEventListener('click', clearEvents);
  for (const el of document.querySelectorAll('.origin')) el.textContent = location.origin;
  connect();
}

init();
