// The console in a real browser (Debian's chromium driven by playwright-core) against the
// real daemon and PostgreSQL that tests/integration/test_console.c started. It seeds records
// over TCP, then checks what an agent and a supervisor see; screenshots go to SCREENSHOT_DIR.
// Exit status 0 when every check held; each failed check is printed.
//
// Env: CONSOLE_URL (http://127.0.0.1:PORT), TCP_PORT, TOKEN (a token of the read scope only),
// FEED_TOKEN (of the ingest scope only, which sends the records over TCP),
// SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium).
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const URL_ = process.env.CONSOLE_URL;
const TCP_PORT = Number(process.env.TCP_PORT);
const TOKEN = process.env.TOKEN;
const FEED_TOKEN = process.env.FEED_TOKEN || TOKEN;
const SHOTS = process.env.SCREENSHOT_DIR || '.';
const failures = [];
const check = (ok, what) => {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures.push(what);
};

// ---- records over the TCP protocol ----

function sendRecords(records) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(TCP_PORT, '127.0.0.1');
    const answers = [];
    let buf = '';
    const want = records.length + 1;
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        answers.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
      if (answers.length === want) {
        sock.end();
        const bad = answers.filter((a) => !a.ok);
        if (bad.length) reject(new Error('records refused: ' + JSON.stringify(bad)));
        else resolve(answers.slice(1));
      }
    });
    sock.on('error', reject);
    sock.write(JSON.stringify({ auth: FEED_TOKEN }) + '\n');
    for (const r of records) sock.write(JSON.stringify(r) + '\n');
  });
}

async function apiGet(p, token = TOKEN) {
  const res = await fetch(URL_ + p, { headers: { Authorization: 'Bearer ' + token } });
  return { status: res.status, body: await res.json().catch(() => null) };
}

// What a slip in the page's code shows instead of a value.
async function checkNoJunk(page, screen) {
  const text = await page.textContent('main');
  const junk = text.match(/\bnull\b|\bundefined\b|\[object [A-Za-z]+\]|\bNaN\b/);
  check(junk === null, `the ${screen} shows no "null", "undefined", "NaN" or "[object …]"` + (junk ? ': ' + junk[0] : ''));
}

const now = Date.now();
const ago = (h) => new Date(now - h * 3600000).toISOString();
const XSS = '<img src=x onerror="window.__xss=1">سفارش رسید؟';
const PERSIAN = 'سلام، قیمت این مدل چند است؟ (model X-200)';

const SARA = { phone: '09123456789', email: 'sara.karimi@example.com', name: 'سارا کریمی' };
const seed = [
  { source: 'web-shop', channel: 'web', occurred_at: '2026-11-20T10:00:00Z', customer: { web: 'anon-77', email: SARA.email },
    stage: 'pre_purchase', sentiment: 'positive', score: 8, subject: 'viewed product X-200' },
  { source: 'web-shop', channel: 'web', occurred_at: ago(72), customer: { email: SARA.email, name: SARA.name },
    stage: 'pre_purchase', sentiment: 'positive', score: 9, subject: 'added X-200 to cart' },
  { source: 'chatwoot', channel: 'chat', occurred_at: ago(71), customer: { chat: 'telegram:@sara_k', phone: SARA.phone, email: SARA.email },
    stage: 'pre_purchase', sentiment: 'neutral', thread: 'C-9', body: PERSIAN },
  { source: 'chatwoot', channel: 'chat', direction: 'outbound', occurred_at: ago(70.5), customer: { chat: 'telegram:@sara_k' },
    agent: 'نیما', thread: 'C-9', stage: 'pre_purchase', body: 'X-200 است ۱۲٬۰۰۰٬۰۰۰ تومان' },
  { source: 'asterisk-tehran-1', channel: 'phone', occurred_at: ago(48), customer: { phone: '+98 912 345 6789' }, status: 'missed', stage: 'purchase' },
  { source: 'asterisk-tehran-1', channel: 'phone', direction: 'outbound', occurred_at: ago(47.5), customer: { phone: SARA.phone },
    status: 'answered', duration_s: 184, agent: 'نیما', stage: 'purchase', sentiment: 'positive', score: 9 },
  { source: 'mail', channel: 'email', occurred_at: ago(24), customer: { email: 'Sara.Karimi@Example.com' }, thread: 'T-1234',
    subject: 'سفارش ۱۲۳۴', body: XSS, stage: 'post_purchase', sentiment: 'negative', score: 3 },
  { source: 'sms-gw', channel: 'sms', direction: 'outbound', occurred_at: ago(22), customer: { phone: SARA.phone },
    body: 'Your order 1234 has shipped', stage: 'post_purchase' },
  { source: 'asterisk-tehran-1', channel: 'phone', occurred_at: ago(3), customer: { phone: SARA.phone }, status: 'missed', stage: 'post_purchase' },
  // Two more customers, for the dashboard and the worklist.
  { source: 'web-shop', channel: 'web', occurred_at: ago(50), customer: { web: 'anon-91', phone: '09121112222', name: 'Reza Ahmadi' },
    stage: 'pre_purchase', sentiment: 'neutral', score: 6 },
  { source: 'asterisk-tehran-1', channel: 'phone', occurred_at: ago(5), customer: { phone: '09121112222' }, status: 'busy' },
  { source: 'sms-gw', channel: 'sms', occurred_at: ago(4), customer: { phone: '09121112222' }, body: 'please call me back' },
  { source: 'chatwoot', channel: 'chat', occurred_at: ago(30), customer: { chat: 'whatsapp:+989351234567', email: 'ali@example.com', name: 'علی رضایی' },
    stage: 'pre_purchase', sentiment: 'positive', body: 'موجود است؟' },
  { source: 'chatwoot', channel: 'chat', direction: 'outbound', occurred_at: ago(29.9), customer: { email: 'ali@example.com' }, body: 'بله' },
  { source: 'web-shop', channel: 'web', occurred_at: ago(28), customer: { email: 'ali@example.com' }, stage: 'purchase', subject: 'order 1240', score: 10, sentiment: 'positive' },
  { source: 'mail', channel: 'email', occurred_at: ago(6), customer: { email: 'ali@example.com' }, stage: 'post_purchase', subject: 'thank you', sentiment: 'positive', score: 10 },
];

// Reza browsed the shop 55 times: more than one page of timeline.
for (let i = 0; i < 55; i++) {
  seed.push({ source: 'web-shop', channel: 'web', external_id: 'pv-' + i, occurred_at: ago(100 + i),
    customer: { web: 'anon-91' }, subject: 'page view ' + i });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
let exitCode = 1;
try {
  await sendRecords(seed);
  const analytics = (await apiGet('/v1/stats')).status === 200;
  console.log(analytics ? 'the analytics endpoints answer: journey, dashboard and worklist are checked'
                        : 'NOTE: no analytics endpoints in this daemon: journey, dashboard and worklist not checked');

  const context = await browser.newContext({ timezoneId: 'Asia/Tehran', locale: 'en-US', viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  let consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push('page error: ' + e.message));

  const resp = await page.goto(URL_ + '/');
  const h = resp.headers();
  check(/default-src 'self'/.test(h['content-security-policy'] || '') && !/unsafe-inline/.test(h['content-security-policy']),
    'the page has a strict Content-Security-Policy: ' + h['content-security-policy']);
  check(h['x-content-type-options'] === 'nosniff', 'X-Content-Type-Options: nosniff');

  // A wrong token is refused, and says so.
  await page.fill('#token', 'not-a-token');
  await page.press('#token', 'Enter');
  await page.fill('#lookup-value', '۰۹۱۲۳۴۵۶۷۸۹');
  await page.press('#lookup-value', 'Enter');
  await page.waitForSelector('#error:not([hidden])');
  check(/token was refused/.test(await page.textContent('#error')), 'a wrong token is refused: ' + await page.textContent('#error'));
  check(await page.locator('#customer').isHidden(), 'nothing of the customer is shown with a wrong token');
  // The browser logs the refused requests (401) itself; from here on no error is expected.
  check(consoleErrors.every((e) => /status of 401/.test(e)), 'only the refused requests were logged: ' + JSON.stringify(consoleErrors));
  consoleErrors = [];

  // A valid token without the read scope is refused too.
  if (FEED_TOKEN !== TOKEN) {
    await page.fill('#token', FEED_TOKEN);
    await page.press('#token', 'Enter');
    await page.fill('#lookup-value', '۰۹۱۲۳۴۵۶۷۸۹');
    await page.press('#lookup-value', 'Enter');
    await page.waitForSelector('#error:has-text("scope")');
    check(/lacks the read scope/.test(await page.textContent('#error')),
      'an ingest-only token is refused for reading: ' + await page.textContent('#error'));
    check(consoleErrors.every((e) => /status of 403/.test(e)), 'only the refused request was logged: ' + JSON.stringify(consoleErrors));
    consoleErrors = [];
  }

  // The read token: the token field is emptied, and the token is in sessionStorage only.
  await page.fill('#token', TOKEN);
  await page.press('#token', 'Enter');
  check(await page.inputValue('#token') === '', 'the token field is cleared after use');
  const stored = await page.evaluate(() => ({ s: sessionStorage.getItem('touchline.token'), l: localStorage.length,
    inPage: document.documentElement.outerHTML.includes(sessionStorage.getItem('touchline.token')) }));
  check(stored.s === TOKEN && stored.l === 0 && !stored.inPage, 'the token is kept in sessionStorage only, never in localStorage or the page');

  // Lookup by the phone number written in Persian digits, from the keyboard.
  await page.evaluate(() => document.activeElement.blur());
  await page.keyboard.press('/');
  check(await page.evaluate(() => document.activeElement.id === 'lookup-value' &&
    document.activeElement.selectionEnd - document.activeElement.selectionStart === document.activeElement.value.length),
  '"/" puts the focus in the lookup field, its old text selected');
  await page.keyboard.type('۰۹۱۲ ۳۴۵ ۶۷۸۹');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#customer:not([hidden])');
  await page.waitForSelector('#live-state.on');
  check(await page.textContent('#ctx-name') === SARA.name, 'the lookup by ۰۹۱۲ ۳۴۵ ۶۷۸۹ shows ' + SARA.name);
  const cid = decodeURIComponent(page.url().split('#/customer/')[1]);
  const tl = (await apiGet('/v1/customers/' + cid + '/timeline?limit=50')).body;
  check(await page.locator('#timeline-items > li').count() === tl.items.length,
    `the timeline shows the API's ${tl.items.length} records`);

  // Persian text right to left, mixed with left-to-right text.
  const chat = page.locator('#timeline-items .body', { hasText: 'قیمت این مدل' });
  check(await chat.evaluate((e) => getComputedStyle(e).direction) === 'rtl', 'the Persian message is laid out right to left');
  check(await chat.textContent() === PERSIAN, 'the Persian message is shown as sent, LTR parts included');
  const english = page.locator('#timeline-items .body', { hasText: 'has shipped' });
  check(await english.evaluate((e) => getComputedStyle(e).direction) === 'ltr', 'an English message stays left to right');

  // The XSS payload renders as text.
  const mail = page.locator('#timeline-items .body', { hasText: 'onerror' });
  check(await mail.textContent() === XSS, 'the HTML in a body is shown as its characters');
  check(await page.locator('#timeline-items img').count() === 0 && await page.evaluate(() => window.__xss) === undefined,
    'no element was made from it and its script never ran');

  // Dates in the viewer's zone (Asia/Tehran, UTC+03:30).
  const t = await page.textContent('time[datetime="2026-11-20T10:00:00.000000Z"]');
  check(/1:30:00\s?PM/.test(t), '10:00 UTC shows as 1:30 PM in Tehran: ' + t);

  // Context: identifiers, pending.
  const ids = await page.locator('#ctx-identities li').allTextContents();
  check(ids.some((s) => s.includes('+989123456789')) && ids.some((s) => s.includes('telegram:@sara_k')),
    'the context lists the identifiers: ' + ids.join(', '));

  // Journey map, with the API's numbers.
  if (analytics) {
    const j = (await apiGet('/v1/customers/' + cid + '/journey')).body;
    await page.waitForSelector('#journey:not([hidden]) table');
    const rows = await page.locator('#journey-map tbody tr').count();
    let cellsOk = true;
    for (const c of j.cells) {
      const n = await page.locator(`#journey-map tr[data-channel="${c.channel}"] td[data-stage="${c.stage}"]`).getAttribute('data-count');
      if (Number(n) !== c.count) cellsOk = false;
    }
    check(rows === j.channels.length && cellsOk, `the journey map has the API's ${j.channels.length} channels and ${j.cells.length} cells with their counts`);
  }

  await checkNoJunk(page, 'customer screen');
  await page.screenshot({ path: path.join(SHOTS, 'console-customer.png'), fullPage: true });

  // Paging: another customer, by another kind of identifier, 50 records a page.
  await page.fill('#lookup-value', 'anon-91');
  await page.press('#lookup-value', 'Enter');
  await page.waitForSelector('#ctx-name:has-text("Reza Ahmadi")');
  await page.waitForSelector('#timeline-items > li >> nth=49');
  const first = await page.locator('#timeline-items > li').count();
  await page.click('#timeline-more');
  await page.waitForSelector('#timeline-items > li >> nth=50');
  const reza = decodeURIComponent(page.url().split('#/customer/')[1]);
  const all = (await apiGet('/v1/customers/' + reza + '/timeline?limit=500')).body.items.length;
  check(first === 50 && await page.locator('#timeline-items > li').count() === all && await page.locator('#timeline-more').isHidden(),
    `the timeline pages: 50, then "Older" shows the other ${all - 50} and goes away`);
  await page.goBack();
  await page.waitForSelector('#ctx-name:has-text("' + SARA.name + '")');
  await page.waitForSelector('#live-state.on');

  // Live: a record sent over TCP appears within a second.
  const subject = 'live check ' + now;
  const t0 = Date.now();
  await sendRecords([{ source: 'mail', channel: 'email', occurred_at: new Date().toISOString(),
    customer: { phone: '۰۹۱۲۳۴۵۶۷۸۹' }, subject, body: 'این پیام زنده است' }]);
  await page.locator('#timeline-items .subject', { hasText: subject }).waitFor({ timeout: 10000 });
  const took = Date.now() - t0;
  check(took <= 1000, `a record sent over TCP appeared on the screen after ${took} ms (at most 1000)`);
  check(await page.locator('#timeline-items > li').first().textContent().then((s) => s.includes(subject)),
    'it is the newest on the timeline');

  if (analytics) {
    // The dashboard: every chart with the API's numbers.
    await page.goto(URL_ + '/#/dashboard');
    await page.waitForSelector('#chart-funnel svg');
    const since = await page.inputValue('#range-since');
    const until = await page.inputValue('#range-until');
    const q = await page.evaluate(([s, u]) => {
      const mid = (v) => { const [y, m, d] = v.split('-').map(Number); return new Date(y, m - 1, d); };
      return 'since=' + encodeURIComponent(mid(s).toISOString()) + '&until=' +
        encodeURIComponent(new Date(mid(u).getTime() + 86400000).toISOString());
    }, [since, until]);
    const byChannel = (await apiGet('/v1/stats?' + q + '&by=channel')).body;
    const bySource = (await apiGet('/v1/stats?' + q + '&by=source')).body;
    const values = (sel) => page.locator(sel).evaluateAll((rs) => rs.map((r) => ({
      g: r.getAttribute('data-group'), k: r.getAttribute('data-key'), v: r.getAttribute('data-value') })));
    const vol = await values('#chart-volume rect[data-value]');
    check(vol.reduce((a, r) => a + Number(r.v), 0) === byChannel.totals.interactions,
      `volume per channel per day adds up to the API's ${byChannel.totals.interactions} interactions`);
    for (const g of byChannel.groups) {
      const sum = vol.filter((r) => r.k === g.key).reduce((a, r) => a + Number(r.v), 0);
      check(sum === g.interactions, `volume of ${g.key}: ${sum} = ${g.interactions}`);
    }
    const m = await page.locator('#chart-missed .summary').evaluate((e) => ({ ...e.dataset }));
    const mt = byChannel.totals.missed_calls;
    check(Number(m.total) === mt.total && Number(m.open) === mt.open && Number(m.breached) === mt.breached,
      `missed calls: ${m.total} total, ${m.open} open, ${m.breached} over the SLA, as the API says`);
    check(await page.locator('#chart-missed rect[data-value]').count() > 0, 'the missed-call rate and callback charts have bars');
    const fr = await values('#chart-first-response rect[data-value]');
    for (const c of ['sms', 'email', 'chat']) {
      const g = byChannel.groups.find((x) => x.key === c);
      if (!g || g.first_response.messages === 0) continue;
      const p50 = fr.find((r) => r.g.startsWith(c + ' ') && r.k === 'bar');
      check(p50 && (p50.v === '' ? null : Number(p50.v)) === g.first_response.response_s.p50,
        `first response p50 of ${c}: ${p50 && p50.v} = ${g.first_response.response_s.p50}`);
    }
    const rep = await values('#chart-repeat rect[data-value]');
    const rc = byChannel.totals.repeat_contacts;
    check(rep.length === 4 && Number(rep[0].v) === rc.within_24h.same_channel && Number(rep[1].v) === rc.within_24h.other_channel &&
      Number(rep[2].v) === rc.within_7d.same_channel && Number(rep[3].v) === rc.within_7d.other_channel,
      'repeat contacts (24 h, 7 d; same, other channel) as the API says');
    const sen = await values('#chart-sentiment rect[data-value]');
    let senOk = true;
    for (const g of bySource.groups.filter((x) => x.sentiment.rated > 0 || x.sentiment.score.count > 0)) {
      for (const k of ['positive', 'neutral', 'negative']) {
        const r = sen.find((x) => x.g.startsWith((g.key === null ? '(none)' : g.key)) && x.k === k);
        if (!r || Number(r.v) !== g.sentiment[k]) senOk = false;
      }
    }
    check(senOk && sen.length > 0, 'sentiment per touchpoint as the API says');
    const fun = await values('#chart-funnel rect[data-value]');
    const ft = byChannel.funnel.total;
    check(fun.length >= 3 && Number(fun[0].v) === ft.pre_purchase && Number(fun[1].v) === ft.purchase && Number(fun[2].v) === ft.post_purchase,
      `the stage funnel: ${ft.pre_purchase} → ${ft.purchase} → ${ft.post_purchase}`);
    await checkNoJunk(page, 'dashboard');
    await page.screenshot({ path: path.join(SHOTS, 'console-dashboard.png'), fullPage: true });

    // The worklist.
    await page.goto(URL_ + '/#/missed');
    await page.waitForSelector('#missed-list table');
    const w = (await apiGet('/v1/missed?open=true')).body;
    check(await page.locator('#missed-list tbody tr').count() === w.items.length,
      `the worklist has the API's ${w.items.length} customers`);
    check(await page.locator('#missed-list tbody tr').first().getAttribute('data-customer') === w.items[0].customer_id,
      'oldest first, as the API orders them');
    // Live: a new missed call appears on the worklist by itself.
    await page.waitForSelector('#missed-state:has-text("live")');
    const rowsBefore = await page.locator('#missed-list tbody tr').count();
    const t1 = Date.now();
    await sendRecords([{ source: 'asterisk-tehran-1', channel: 'phone', occurred_at: new Date(now - 7200000).toISOString(),
      customer: { phone: '۰۹۱۲۷۷۷۸۸۸۸', name: 'Mina Live' }, status: 'missed' }]);
    await page.locator('#missed-list tbody tr', { hasText: 'Mina Live' }).waitFor({ timeout: 10000 });
    check(await page.locator('#missed-list tbody tr').count() === rowsBefore + 1,
      `a missed call sent over TCP appeared on the open worklist by itself after ${Date.now() - t1} ms`);
    await checkNoJunk(page, 'worklist');
    await page.screenshot({ path: path.join(SHOTS, 'console-missed.png'), fullPage: true });
  }

  // Without the analytics endpoints the journey's request is answered 404, as it should be.
  if (!analytics) consoleErrors = consoleErrors.filter((e) => !/status of 404/.test(e));
  check(consoleErrors.length === 0, 'no console errors: ' + JSON.stringify(consoleErrors));
  await context.close();
  exitCode = failures.length === 0 ? 0 : 1;
} catch (e) {
  console.log('FAIL ' + (e && e.stack ? e.stack : e));
  for (const p of browser.contexts().flatMap((c) => c.pages())) {
    console.log('  on screen: url ' + p.url() + ' | error: ' + await p.textContent('#error').catch(() => '?') +
      ' | lookup: ' + await p.textContent('#lookup-status').catch(() => '?'));
    await p.screenshot({ path: path.join(SHOTS, 'console-failure.png'), fullPage: true }).catch(() => {});
  }
} finally {
  await browser.close();
}
if (failures.length) console.log(failures.length + ' check(s) failed');
process.exit(exitCode);
