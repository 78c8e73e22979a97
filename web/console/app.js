/*
 * touchline console: one hand-written script, no framework and nothing fetched from
 * elsewhere. Every value that comes from a record is put on the page as text (textContent
 * and text nodes, never parsed as markup), so a body of "<img src=x onerror=…>" shows as those characters. Text that
 * may be right-to-left is marked dir="auto". The token lives in this tab's sessionStorage and
 * in memory only: it is gone when the tab closes and is never part of the page.
 */
'use strict';

(function () {
  const TOKEN_KEY = 'touchline.token';
  const PAGE = 50;
  const CHANNELS = ['phone', 'sms', 'email', 'chat', 'web', 'social', 'in_person', 'other'];
  const STAGES = { pre_purchase: 'pre-purchase', purchase: 'purchase',
                   post_purchase: 'post-purchase', unstaged: 'no stage' };
  const SVGNS = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);

  let token = sessionStorage.getItem(TOKEN_KEY) || '';

  /* ---------- small DOM helpers: text only ---------- */

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'class') e.setAttribute('class', v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function append(e, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  /* Text that may be in any script: its own direction, isolated from what surrounds it. */
  function bidi(text, cls) {
    return el('bdi', { dir: 'auto', class: cls, text: text });
  }

  /* ---------- time, in the viewer's zone ---------- */

  const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  function timeEl(iso) {
    if (!iso) return el('span', { text: '—' });
    const d = new Date(iso);
    return el('time', { datetime: iso, title: iso, text: dateFmt.format(d) });
  }

  function duration(s) {
    if (s === null || s === undefined) return '—';
    s = Math.round(s);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }

  function pct(x) {
    return x === null || x === undefined ? '—' : (Math.round(x * 1000) / 10) + ' %';
  }

  /* ---------- the API ---------- */

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function authHeaders(extra) {
    const h = Object.assign({ Accept: 'application/json' }, extra || {});
    if (token) h.Authorization = 'Bearer ' + token;
    return h;
  }

  async function api(path) {
    let res;
    try {
      res = await fetch(path, { headers: authHeaders(), cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      throw new ApiError(0, 'network', 'the daemon cannot be reached');
    }
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (!res.ok) {
      const err = body && body.error ? body.error : {};
      if (res.status === 401) showTokenState(false);
      throw new ApiError(res.status, err.code || 'error', err.message || res.statusText);
    }
    if (token) showTokenState(true);
    return body;
  }

  function showError(e) {
    const box = $('error');
    if (!e) {
      box.hidden = true;
      box.textContent = '';
      return;
    }
    box.hidden = false;
    box.textContent = e.status === 401 ? 'The token was refused: ' + e.message
                                       : 'Error: ' + e.message;
  }

  function showTokenState(ok) {
    $('token-state').textContent = ok === null ? '' : ok ? 'token accepted' : 'token refused';
  }

  /* ---------- routing ---------- */

  const views = ['customer', 'dashboard', 'missed'];
  let dashboard = null;
  let missed = null;

  function route() {
    const parts = location.hash.replace(/^#\/?/, '').split('/');
    const view = views.includes(parts[0]) ? parts[0] : 'customer';
    for (const v of views) {
      $('view-' + v).hidden = v !== view;
      const a = $('nav-' + v);
      if (v === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    showError(null);
    if (view !== 'customer') customer.close();
    if (view !== 'dashboard') dashboard.stop();
    if (view !== 'missed') missed.stop();
    if (view === 'customer') {
      const id = parts[1] ? decodeURIComponent(parts[1]) : null;
      if (id) customer.open(id);
      else customer.close();
    } else if (view === 'dashboard') {
      dashboard.start();
    } else {
      missed.start();
    }
  }

  /* ---------- live streams: Server-Sent Events read with fetch() ---------- */

  /*
   * EventSource cannot send an Authorization header, so the stream is read with fetch()
   * and parsed here (the text/event-stream format: "event:"/"data:" lines, a blank line ends
   * an event, ":" lines are comments). On any end it reconnects after a growing pause;
   * onopen runs on every (re)connection so the caller can catch up on what it missed.
   */
  function openStream(path, handlers) {
    const ctl = new AbortController();
    let pause = 500;
    let closed = false;

    async function run() {
      while (!closed) {
        try {
          const res = await fetch(path, {
            headers: authHeaders({ Accept: 'text/event-stream' }),
            cache: 'no-store', credentials: 'omit', signal: ctl.signal });
          if (!res.ok) {
            let msg = res.statusText;
            try { msg = (await res.json()).error.message; } catch (e) { /* keep statusText */ }
            handlers.onstate(false, msg);
            if (res.status === 401 || res.status === 404) {
              if (res.status === 401) showTokenState(false);
              return;
            }
          } else {
            pause = 500;
            await readEvents(res.body, handlers);
            handlers.onstate(false, 'reconnecting');
          }
        } catch (e) {
          if (closed) return;
          handlers.onstate(false, 'reconnecting');
        }
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 10000);
      }
    }

    async function readEvents(body, h) {
      const reader = body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      let ev = { event: 'message', data: [] };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        let nl;
        while ((nl = buf.search(/\r?\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + (buf[nl] === '\r' ? 2 : 1));
          if (line === '') {
            if (ev.data.length > 0) h.onevent(ev.event, ev.data.join('\n'));
            ev = { event: 'message', data: [] };
          } else if (line.startsWith(':')) {
            continue;
          } else {
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (field === 'event') ev.event = val;
            else if (field === 'data') ev.data.push(val);
          }
        }
      }
    }

    run();
    return { close() { closed = true; ctl.abort(); } };
  }

  /* ---------- lookup ---------- */

  const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
  /* Digits of any script (\p{Nd}: ASCII, Persian, Arabic-Indic, fullwidth) and the
     separators people write in phone numbers. */
  const PHONEISH = /^[\s+\-().\p{Nd}]+$/u;

  function guessKind(v) {
    if (UUID.test(v)) return 'id';
    if (PHONEISH.test(v)) return 'phone';
    if (v.includes('@') && !v.includes(':')) return 'email';
    if (/^[a-z0-9_-]+:/i.test(v)) return 'chat';
    return 'web';
  }

  async function lookup(kind, value) {
    value = value.trim();
    if (value === '') return;
    const status = $('lookup-status');
    status.textContent = 'Looking up…';
    showError(null);
    let k = kind === 'auto' ? guessKind(value) : kind;
    try {
      let profile;
      if (k === 'id') {
        profile = await api('/v1/customers/' + encodeURIComponent(value));
      } else {
        try {
          profile = await api('/v1/customers?' + k + '=' + encodeURIComponent(value));
        } catch (e) {
          /* "provider:handle" may as well be "system:id". */
          if (kind !== 'auto' || k !== 'chat' || e.status !== 404) throw e;
          k = 'external';
          profile = await api('/v1/customers?external=' + encodeURIComponent(value));
        }
      }
      status.textContent = '';
      location.hash = '#/customer/' + profile.id;
    } catch (e) {
      status.textContent = e.status === 404 ? 'No customer with ' + k + ' ' + value : '';
      if (e.status !== 404) showError(e);
    }
  }

  /* ---------- the customer screen ---------- */

  const customer = {
    id: null,
    items: new Map(),
    cursor: null,
    stream: null,
    refreshTimer: null,

    async open(id) {
      if (this.id === id) return;
      this.close();
      this.id = id;
      this.items = new Map();
      this.cursor = null;
      $('timeline-items').replaceChildren();
      $('customer').hidden = true;
      $('tz-note').textContent = 'times in ' + zone;
      try {
        /* The context names the survivor of a merged-away id: go on under that id. */
        const ctx = await api('/v1/customers/' + encodeURIComponent(id) + '/context');
        if (this.id !== id) return;
        if (ctx.customer.id !== id) {
          history.replaceState(null, '', '#/customer/' + ctx.customer.id);
          this.id = id = ctx.customer.id;
        }
        renderContext(ctx);
        await Promise.all([this.loadPage(null), this.loadJourney()]);
      } catch (e) {
        if (this.id !== id) return;
        showError(e);
        return;
      }
      if (this.id !== id) return;
      $('customer').hidden = false;
      this.listen();
    },

    close() {
      if (this.stream) this.stream.close();
      this.stream = null;
      this.id = null;
      clearTimeout(this.refreshTimer);
      $('customer').hidden = true;
      $('live-state').textContent = '';
    },

    async loadContext() {
      const id = this.id;
      const ctx = await api('/v1/customers/' + encodeURIComponent(id) + '/context');
      if (this.id !== id) return;
      renderContext(ctx);
    },

    async loadJourney() {
      const id = this.id;
      let j;
      try {
        j = await api('/v1/customers/' + encodeURIComponent(id) + '/journey');
      } catch (e) {
        /* A daemon without the analytics endpoints: the screen goes on without the map. */
        if (e.status === 404 && e.message === 'no such endpoint') {
          $('journey').hidden = true;
          return;
        }
        throw e;
      }
      if (this.id !== id) return;
      renderJourney(j);
    },

    /* One page older than the cursor (null: the newest), merged into what is shown. */
    async loadPage(cursor) {
      const id = this.id;
      let path = '/v1/customers/' + encodeURIComponent(id) + '/timeline?limit=' + PAGE;
      if (cursor) path += '&before=' + encodeURIComponent(cursor);
      const page = await api(path);
      if (this.id !== id) return;
      for (const it of page.items) this.add(it, false);
      if (cursor !== null || this.cursor === null) {
        this.cursor = page.next_cursor;
        $('timeline-more').hidden = !page.next_cursor;
      }
    },

    add(item, fresh) {
      if (this.items.has(item.id)) return;
      this.items.set(item.id, item);
      const li = renderItem(item);
      if (fresh) li.classList.add('fresh');
      /* Newest first, ties by id, as the API orders them. */
      const list = $('timeline-items');
      let before = null;
      for (const other of list.children) {
        const o = this.items.get(other.dataset.id);
        if (o.occurred_at < item.occurred_at ||
            (o.occurred_at === item.occurred_at && o.id < item.id)) {
          before = other;
          break;
        }
      }
      list.insertBefore(li, before);
    },

    listen() {
      const id = this.id;
      this.stream = openStream('/v1/customers/' + encodeURIComponent(id) + '/stream', {
        onstate: (up, why) => {
          const s = $('live-state');
          s.textContent = up ? '● live' : '○ ' + why;
          s.classList.toggle('on', up);
        },
        onevent: (type, data) => {
          if (this.id === null) return;
          let msg;
          try { msg = JSON.parse(data); } catch (e) { return; }
          if (type === 'ready') {
            $('live-state').textContent = '● live';
            $('live-state').classList.add('on');
            /* Records committed before the stream was open are on the first page. */
            this.catchUp();
          } else if (type === 'interaction') {
            this.add(msg, true);
            this.refreshSoon();
          } else if (type === 'merged') {
            location.hash = '#/customer/' + msg.into;
          } else if (type === 'resync') {
            this.catchUp();
          }
        },
      });
    },

    catchUp() {
      this.loadPage(null).catch(showError);
      this.refreshSoon();
    },

    /* The context and the journey follow new records, at most every half second. */
    refreshSoon() {
      clearTimeout(this.refreshTimer);
      this.refreshTimer = setTimeout(() => {
        if (this.id === null) return;
        this.loadContext().catch(showError);
        this.loadJourney().catch(showError);
      }, 500);
    },
  };

  function renderItem(it) {
    const arrow = it.direction === 'outbound' ? '→ out' : it.direction === 'internal' ? '↔ internal' : '← in';
    const meta = el('div', { class: 'meta' },
      timeEl(it.occurred_at),
      el('span', { class: 'badge ' + (CHANNELS.includes(it.channel) ? it.channel : 'other'), text: it.channel }),
      el('span', { text: arrow }),
      it.status ? el('span', { text: it.status }) : null,
      it.duration_s !== undefined ? el('span', { text: duration(it.duration_s) }) : null,
      it.agent ? el('span', {}, 'agent ', bidi(it.agent)) : null,
      it.stage ? el('span', { text: STAGES[it.stage] || it.stage }) : null,
      it.sentiment ? el('span', { class: 'sent-' + it.sentiment, text: it.sentiment }) : null,
      it.score !== undefined ? el('span', { text: 'score ' + it.score + '/10' }) : null,
      it.thread ? el('span', {}, 'thread ', bidi(it.thread)) : null,
      el('span', { class: 'tags' }, 'via ', bidi(it.source)));
    return el('li', { 'data-id': it.id },
      meta,
      it.subject ? el('p', { class: 'subject', dir: 'auto', text: it.subject }) : null,
      it.body ? el('p', { class: 'body', dir: 'auto', text: it.body }) : null,
      it.tags && it.tags.length ? el('p', { class: 'tags' }, it.tags.map((t) => ['#', bidi(t), ' '])) : null);
  }

  function renderContext(ctx) {
    const c = ctx.customer;
    $('ctx-name').textContent = c.name || 'Unnamed customer';
    const facts = [
      ['Customer id', el('code', { text: c.id })],
      ['Last contact', ctx.last_contact_at
        ? el('span', {}, timeEl(ctx.last_contact_at), ' (' + duration(ctx.seconds_since_last_contact) + ' ago)')
        : '—'],
      ['Last 7 days', ctx.last_7_days.contacts + ' contacts on ' + ctx.last_7_days.channels + ' channels'],
      ['Stage', ctx.stage ? STAGES[ctx.stage.value] || ctx.stage.value : '—'],
      ['Sentiment', ctx.sentiment ? el('span', { class: 'sent-' + ctx.sentiment.value, text: ctx.sentiment.value }) : '—'],
      ['Score', ctx.score ? ctx.score.value + '/10' : '—'],
    ];
    $('ctx-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
    $('ctx-identities').replaceChildren(...c.identities.map((i) =>
      el('li', {}, i.kind + ' ', bidi(i.value))));
    const pend = $('ctx-pending');
    pend.replaceChildren();
    if (ctx.pending) {
      for (const m of ctx.pending.missed_calls) {
        pend.append(el('p', { class: 'pending' + (m.breached ? ' breached' : '') },
          'Missed call (' + m.status + ') ', timeEl(m.occurred_at), ', waiting ' + duration(m.age_s)));
      }
      for (const u of ctx.pending.unanswered) {
        pend.append(el('p', { class: 'pending' }, 'Unanswered ' + u.channel + ' ', timeEl(u.occurred_at),
          ', waiting ' + duration(u.age_s), u.subject ? [': ', bidi(u.subject)] : null));
      }
    }
    const threads = $('ctx-threads');
    threads.replaceChildren();
    if (ctx.open_threads.length) {
      threads.append(el('h4', { text: 'Open threads' }),
        el('ul', {}, ctx.open_threads.map((t) => el('li', {},
          bidi(t.thread), ' · ' + t.channel + ' · ' + t.records + ' records · last ' + t.last_direction + ' ',
          timeEl(t.last_at), t.subject ? [' · ', bidi(t.subject)] : null))));
    }
  }

  /* The journey map: stages as columns, channels as rows, one dot per touchpoint. */
  function renderJourney(j) {
    const box = $('journey-map');
    $('journey').hidden = false;
    if (!j.touchpoints.length) {
      box.replaceChildren(el('p', { class: 'empty', text: 'No touchpoints yet.' }));
      return;
    }
    const cells = new Map(j.cells.map((c) => [c.channel + '|' + c.stage, c]));
    const head = el('tr', {}, el('th', { scope: 'col', text: 'channel' }),
      j.stages.map((s) => el('th', { scope: 'col', text: STAGES[s] || s })));
    const rows = j.channels.map((ch) => el('tr', { 'data-channel': ch },
      el('th', { scope: 'row' }, el('span', { class: 'badge ' + (CHANNELS.includes(ch) ? ch : 'other'), text: ch })),
      j.stages.map((st) => {
        const c = cells.get(ch + '|' + st);
        if (!c) return el('td', { 'data-stage': st });
        const dots = c.touchpoints.map((i) => {
          const t = j.touchpoints[i];
          const label = dateFmt.format(new Date(t.occurred_at)) + ' · ' + t.direction +
            (t.status ? ' · ' + t.status : '') + (t.sentiment ? ' · ' + t.sentiment : '') +
            (t.score !== null && t.score !== undefined ? ' · score ' + t.score : '') +
            (t.summary ? ' · ' + t.summary : '');
          return el('span', { class: 'tp ' + (t.sentiment || 'none'), role: 'img', 'aria-label': label, title: label });
        });
        const sum = c.count + ' touchpoint' + (c.count === 1 ? '' : 's') +
          (c.mean_score !== null && c.mean_score !== undefined ? ' · mean score ' + c.mean_score : '') +
          ' · +' + c.positive + ' =' + c.neutral + ' −' + c.negative;
        return el('td', { 'data-stage': st, 'data-count': c.count }, dots, el('span', { class: 'cell-sum', text: sum }));
      })));
    box.replaceChildren();
    append(box, [el('table', { class: 'journey' },
      el('caption', { class: 'visually-hidden', text: 'Touchpoints by channel and stage' }),
      el('thead', {}, head), el('tbody', {}, rows)),
    j.truncated ? el('p', { class: 'tags', text: 'Only the latest 1000 touchpoints are shown.' }) : null]);
  }

  /* ---------- charts: hand-written SVG ---------- */

  const W = 560;
  const H = 240;
  const M = { top: 16, right: 12, bottom: 36, left: 56 };

  function figure(id, title, ...content) {
    return el('figure', { class: 'chart', id: id }, el('figcaption', { text: title }), content);
  }

  function legend(keys, labels) {
    return el('div', { class: 'legend' }, keys.map((k) => el('span', { class: 'sw-' + k, text: labels ? labels[k] : k })));
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function axes(g, max, fmt) {
    const y0 = H - M.bottom;
    g.append(svg('line', { class: 'axis', x1: M.left, x2: W - M.right, y1: y0, y2: y0 }));
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      const y = y0 - ((y0 - M.top) * i) / 4;
      g.append(svg('line', { class: 'axis', x1: M.left, x2: W - M.right, y1: y, y2: y, 'stroke-dasharray': '2 3' }),
        svg('text', { x: M.left - 4, y: y + 4, 'text-anchor': 'end', text: fmt ? fmt(v) : String(Math.round(v * 100) / 100) }));
    }
  }

  /*
   * Vertical bars: groups along x (label), each a stack (stacked) or a row of bars of
   * series {key, value, title}. Every bar carries its number in data-value and a <title>.
   */
  function barChart(groups, opts) {
    const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.label });
    const max = niceMax(Math.max(0, ...groups.map((g) => opts.stacked
      ? g.series.reduce((a, b) => a + (b.value || 0), 0)
      : Math.max(0, ...g.series.map((b) => b.value || 0)))));
    axes(s, max, opts.axisFmt || opts.fmt);
    const plotW = W - M.left - M.right;
    const plotH = H - M.top - M.bottom;
    const gw = plotW / Math.max(1, groups.length);
    groups.forEach((g, gi) => {
      const x0 = M.left + gi * gw + gw * 0.1;
      const inner = gw * 0.8;
      let stackY = H - M.bottom;
      const n = g.series.length;
      g.series.forEach((b, bi) => {
        const v = b.value || 0;
        const h = (v / max) * plotH;
        const x = opts.stacked ? x0 : x0 + (inner / n) * bi;
        const w = opts.stacked ? inner : inner / n - 1;
        const y = opts.stacked ? stackY - h : H - M.bottom - h;
        if (opts.stacked) stackY -= h;
        const r = svg('rect', { x: x, y: y, width: Math.max(1, w), height: h, class: 'c-' + b.key,
          'data-group': g.label, 'data-key': b.key, 'data-value': b.value === null ? '' : b.value },
        svg('title', { text: g.label + ' · ' + (b.title || b.key) + ': ' + (opts.fmt && b.value !== null ? opts.fmt(b.value) : b.value) }));
        s.append(r);
        if (!opts.stacked && opts.values !== false && b.value !== null) {
          s.append(svg('text', { x: x + w / 2, y: y - 3, 'text-anchor': 'middle', class: 'value',
            text: opts.fmt ? opts.fmt(b.value) : String(b.value) }));
        }
      });
      if (opts.stacked && opts.values !== false) {
        const total = g.series.reduce((a, b) => a + (b.value || 0), 0);
        s.append(svg('text', { x: x0 + inner / 2, y: stackY - 3, 'text-anchor': 'middle', class: 'value', text: String(total) }));
      }
      s.append(svg('text', { x: x0 + inner / 2, y: H - M.bottom + 14, 'text-anchor': 'middle', text: g.label }));
    });
    return s;
  }

  function empty(text) {
    return el('p', { class: 'empty', text: text || 'Nothing in this range.' });
  }

  function secondsFmt(v) {
    return duration(v);
  }

  /* Axis ticks: short. */
  function secondsTick(v) {
    const r = (x) => Math.round(x * 10) / 10;
    if (v < 60) return r(v) + ' s';
    if (v < 3600) return r(v / 60) + ' min';
    if (v < 86400) return r(v / 3600) + ' h';
    return r(v / 86400) + ' d';
  }

  /* Local midnight of an <input type=date> value, as an RFC 3339 instant. */
  function localMidnight(value) {
    const [y, m, d] = value.split('-').map(Number);
    return new Date(y, m - 1, d).toISOString();
  }

  function isoDate(d) {
    return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
  }

  /* Runs jobs (functions returning promises) at most n at a time, in order of results. */
  async function pool(jobs, n) {
    const out = new Array(jobs.length);
    let next = 0;
    async function worker() {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]();
      }
    }
    await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, worker));
    return out;
  }

  /* ---------- supervisor views refresh on any committed record ---------- */

  function liveRefresher(checkbox, state, refresh, everyMs) {
    let stream = null;
    let timer = null;
    let last = 0;
    function schedule() {
      /* At most one refresh every everyMs, however busy ingest is. */
      const wait = Math.max(0, last + everyMs - Date.now());
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        refresh();
      }, wait);
    }
    return {
      start() {
        if (stream || !checkbox.checked) return;
        stream = openStream('/v1/stream', {
          onstate: (up, why) => { state.textContent = up ? '● live' : '○ ' + why; },
          onevent: (type) => {
            if (type === 'ready') state.textContent = '● live';
            if (type === 'activity' || type === 'resync') schedule();
          },
        });
      },
      stop() {
        if (stream) stream.close();
        stream = null;
        clearTimeout(timer);
        timer = null;
        state.textContent = '';
      },
    };
  }

  /*
   * A supervisor's screen: fetch() gets the figures and render() shows them; a load that a
   * newer one overtook shows nothing. With its "refresh live" box ticked it loads again
   * whenever records are committed.
   */
  function supervisorScreen(checkbox, state, fetchFn, renderFn, everyMs, before) {
    let seq = 0;
    const scr = {
      async load() {
        const mine = ++seq;
        showError(null);
        try {
          const data = await fetchFn();
          if (mine === seq) renderFn(data);
        } catch (e) {
          if (mine === seq) showError(e);
        }
      },
      start() {
        if (before) before();
        scr.load();
        scr.live.start();
      },
      stop() {
        scr.live.stop();
      },
    };
    scr.live = liveRefresher(checkbox, state, () => scr.load(), everyMs);
    return scr;
  }

  /* ---------- the dashboard ---------- */

  function defaultRange() {
    if ($('range-since').value) return;
    const until = new Date();
    const since = new Date(until.getTime() - 6 * 86400000);
    $('range-since').value = isoDate(since);
    $('range-until').value = isoDate(until);
  }

  async function fetchDashboard() {
    const since = localMidnight($('range-since').value);
    const untilDay = new Date(localMidnight($('range-until').value));
    const until = new Date(untilDay.getTime() + 86400000).toISOString();
    const q = 'since=' + encodeURIComponent(since) + '&until=' + encodeURIComponent(until);
    const days = [];
    for (let t = new Date(since).getTime(); t < new Date(until).getTime(); t += 86400000) {
      days.push(new Date(t));
    }
    if (days.length < 1 || days.length > 92) {
      throw new ApiError(400, 'invalid_request', 'choose a range of 1 to 92 days');
    }
    const [byChannel, bySource, perDay] = await Promise.all([
      api('/v1/stats?' + q + '&by=channel'),
      api('/v1/stats?' + q + '&by=source'),
      /* Volume per channel per day: one range per local day, each by channel. */
      pool(days.map((d) => () => api('/v1/stats?by=channel&since=' + encodeURIComponent(d.toISOString()) +
        '&until=' + encodeURIComponent(new Date(d.getTime() + 86400000).toISOString()))), 4),
    ]);
    return { byChannel, bySource, days, perDay };
  }

  function group(stats, key) {
    return stats.groups.find((g) => g.key === key) || null;
  }

  function renderDashboard({ byChannel, bySource, days, perDay }) {
    const charts = [];
    const dayLabel = (d) => new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' }).format(d);

    /* 1. Volume per channel per day. */
    const used = CHANNELS.filter((c) => perDay.some((s) => group(s, c)));
    charts.push(figure('chart-volume', 'Interactions per channel per day',
      used.length ? [barChart(days.map((d, i) => ({ label: dayLabel(d),
        series: used.map((c) => ({ key: c, value: (group(perDay[i], c) || { interactions: 0 }).interactions })) })),
      { stacked: true, label: 'Interactions per channel per day' }), legend(used)] : empty()));

    /* 2. Missed calls: the share of inbound calls missed per day, and the time to call back. */
    const missedDays = days.map((d, i) => {
      const p = group(perDay[i], 'phone');
      const t = perDay[i].totals.missed_calls;
      const rate = p && p.inbound > 0 ? Math.round((t.total / p.inbound) * 1000) / 1000 : null;
      return { d, rate, missed: t.total, p50: t.callback_s.p50 };
    });
    const mt = byChannel.totals.missed_calls;
    charts.push(figure('chart-missed', 'Missed-call rate per day and time to call back',
      el('p', { class: 'summary', 'data-total': mt.total, 'data-open': mt.open, 'data-breached': mt.breached },
        mt.total + ' missed calls · ' + mt.reached + ' reached · ' + mt.open + ' open · ' + mt.breached +
        ' over the SLA of ' + duration(byChannel.callback_sla_s) + ' · call back p50 ' + duration(mt.callback_s.p50) +
        ', p90 ' + duration(mt.callback_s.p90)),
      barChart(missedDays.map((m) => ({ label: dayLabel(m.d), series: [
        { key: 'bar', value: m.rate, title: 'missed ' + m.missed + ', rate' }] })),
      { label: 'Missed-call rate per day', fmt: pct }),
      barChart(missedDays.map((m) => ({ label: dayLabel(m.d), series: [
        { key: 'bar', value: m.p50, title: 'call back p50' }] })),
      { label: 'Median time to call back per day', fmt: secondsFmt, axisFmt: secondsTick })));

    /* 3. First response per written channel. */
    const written = ['sms', 'email', 'chat'].map((c) => group(byChannel, c)).filter((g) => g && g.first_response.messages > 0);
    charts.push(figure('chart-first-response', 'First-response time (p50 and p90)',
      written.length ? [barChart(written.map((g) => ({ label: g.key + ' (' + g.first_response.answered + '/' + g.first_response.messages + ')',
        series: [{ key: 'bar', value: g.first_response.response_s.p50, title: 'p50' },
                 { key: 'p90', value: g.first_response.response_s.p90, title: 'p90' }] })),
      { label: 'First-response time', fmt: secondsFmt, axisFmt: secondsTick })] : empty('No inbound sms, email or chat in this range.')));

    /* 4. Repeat contacts within 24 h and 7 d, same and another channel. */
    const rc = byChannel.totals.repeat_contacts;
    charts.push(figure('chart-repeat', 'Repeat contacts (of ' + rc.inbound + ' inbound)',
      barChart([['within 24 h', rc.within_24h], ['within 7 days', rc.within_7d]].map(([l, w]) => ({ label: l + ' · ' + pct(w.share),
        series: [{ key: 'same', value: w.same_channel, title: 'same channel' },
                 { key: 'another', value: w.other_channel, title: 'another channel (' + pct(w.other_channel_share) + ')' }] })),
      { label: 'Repeat contacts' }),
      legend(['same', 'another'], { same: 'same channel', another: 'another channel (had to repeat themselves)' })));

    /* 5. Sentiment and score per touchpoint (source). */
    const rated = bySource.groups.filter((g) => g.sentiment.rated > 0 || g.sentiment.score.count > 0);
    charts.push(figure('chart-sentiment', 'Sentiment and mean score per touchpoint',
      rated.length ? [barChart(rated.map((g) => ({ label: (g.key === null ? '(none)' : g.key) +
        (g.sentiment.score.mean !== null ? ' · ' + g.sentiment.score.mean + '/10' : ''),
        series: ['positive', 'neutral', 'negative'].map((k) => ({ key: k, value: g.sentiment[k] })) })),
      { stacked: true, label: 'Sentiment per touchpoint' }), legend(['positive', 'neutral', 'negative'])] : empty()));

    /* 6. The stage funnel, in total and by entry channel. */
    const f = byChannel.funnel;
    const steps = ['pre_purchase', 'purchase', 'post_purchase'];
    const rows = [['all', f.total]].concat(f.by_entry_channel.map((e) => [e.key, e]));
    charts.push(figure('chart-funnel', 'Stage funnel by entry channel',
      barChart(rows.map(([k, v]) => ({ label: k + (v.drop_off.pre_purchase_to_purchase !== null
        ? ' · drop ' + pct(v.drop_off.pre_purchase_to_purchase) : ''),
        series: steps.map((s) => ({ key: s, value: v[s], title: STAGES[s] })) })),
      { label: 'Stage funnel' }),
      legend(steps, STAGES)));

    $('charts').replaceChildren(...charts);
  }

  /* ---------- the missed-call worklist ---------- */

  function renderMissed(w) {
    const box = $('missed-list');
    if (!w.items.length) {
      box.replaceChildren(empty('No missed calls to return.'));
      return;
    }
    const head = el('tr', {}, ['Customer', 'Phone', 'Missed', 'Oldest missed', 'Waiting', 'Since then']
      .map((t) => el('th', { scope: 'col', text: t })));
    const rows = w.items.map((it) => el('tr', { 'data-customer': it.customer_id },
      el('td', {}, el('a', { href: '#/customer/' + it.customer_id }, bidi(it.name || it.customer_id))),
      el('td', {}, it.phones.map((p) => [bidi(p), ' '])),
      el('td', { text: it.missed_calls + ' (' + it.open + ' open)' }),
      el('td', {}, timeEl(it.first_missed_at)),
      el('td', { class: it.breached ? 'breached' : '' },
        it.reached_at ? 'reached after ' + duration(it.callback_s) : duration(it.age_s) + (it.breached ? ' — over SLA' : '')),
      el('td', {}, Object.entries(it.since.counts).map(([c, n]) => c + ' ' + n).join(', ') || '—',
        it.since.items.map((s) => el('div', { class: 'tags' }, s.channel + ' ' + s.direction + ' ', timeEl(s.occurred_at),
          s.subject ? [' ', bidi(s.subject)] : null)))));
    box.replaceChildren();
    append(box, [el('table', {}, el('thead', {}, head), el('tbody', {}, rows)),
      w.truncated ? el('p', { class: 'tags', text: 'More customers than shown.' }) : null]);
  }

  /* ---------- wiring ---------- */

  function init() {
    /* The dashboard asks for a range's figures day by day: every 10 s at most is enough. */
    dashboard = supervisorScreen($('dash-live'), $('dash-state'), fetchDashboard, renderDashboard, 10000, defaultRange);
    missed = supervisorScreen($('missed-live'), $('missed-state'),
      () => api('/v1/missed?open=' + ($('missed-open').checked ? 'true' : 'false')), renderMissed, 2000);
    $('token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      token = $('token').value.trim();
      $('token').value = '';
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else sessionStorage.removeItem(TOKEN_KEY);
      showTokenState(null);
      customer.id = null;
      dashboard.stop();
      missed.stop();
      route();
    });
    $('token-forget').addEventListener('click', () => {
      token = '';
      sessionStorage.removeItem(TOKEN_KEY);
      showTokenState(null);
      customer.close();
    });
    $('lookup-form').addEventListener('submit', (e) => {
      e.preventDefault();
      lookup($('lookup-kind').value, $('lookup-value').value);
    });
    $('timeline-more').addEventListener('click', () => {
      customer.loadPage(customer.cursor).catch(showError);
    });
    $('range-form').addEventListener('submit', (e) => {
      e.preventDefault();
      dashboard.load();
    });
    $('dash-live').addEventListener('change', (e) => { if (e.target.checked) dashboard.live.start(); else dashboard.live.stop(); });
    $('missed-form').addEventListener('submit', (e) => {
      e.preventDefault();
      missed.load();
    });
    $('missed-open').addEventListener('change', () => missed.load());
    $('missed-live').addEventListener('change', (e) => { if (e.target.checked) missed.live.start(); else missed.live.stop(); });
    document.addEventListener('keydown', (e) => {
      const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
      if (e.key === '/' && !typing) {
        e.preventDefault();
        location.hash = '#/customer';
        $('lookup-value').focus();
        $('lookup-value').select();
      }
    });
    window.addEventListener('hashchange', route);
    if (token) $('token-state').textContent = 'token set for this tab';
    route();
  }

  init();
})();
