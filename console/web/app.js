/* console/web/app.js: the shardcron console, a single-page app in plain JS.
 *
 * Hash routes (#/jobs/settle ...) render pages from the JSON API under /api/v1.
 * The session lives in an HttpOnly cookie; the CSRF token comes from POST /login
 * or GET /session and travels in X-CSRF-Token on every write. Text from the
 * server is only ever put into the page as text nodes (no innerHTML). */
'use strict';

const state = { user: null, role: null, csrf: null };
const ROLES = { viewer: 1, operator: 2, admin: 3 };
const $main = () => document.getElementById('main');

/* ---------------------------------------------------------------- helpers */

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function render(...nodes) {
  $main().replaceChildren(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
}

/* guard: a render function for one page visit; it does nothing once the user
 * (or a test) has moved on, so a slow page cannot paint over the next one. */
let routeSeq = 0;
function guard() {
  const mine = routeSeq;
  return (...nodes) => { if (mine === routeSeq) render(...nodes); };
}

function flash(msg, error) {
  const f = document.getElementById('flash');
  const d = h('div', { class: error ? 'error' : '' }, msg);
  f.replaceChildren(d);
  setTimeout(() => d.remove(), 6000);
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || ('HTTP ' + status));
    this.status = status;
    this.body = body || {};
  }
}

async function api(method, path, body, headers) {
  const opt = { method, headers: Object.assign({}, headers || {}), credentials: 'same-origin' };
  if (method !== 'GET' && state.csrf) opt.headers['X-CSRF-Token'] = state.csrf;
  if (body !== undefined) {
    opt.headers['Content-Type'] = 'application/json';
    opt.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const r = await fetch('/api/v1' + path, opt);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (r.status === 401 && path !== '/login') {
    state.user = null;
    showWho();
    location.hash = '#/login';
    throw new ApiError(401, data);
  }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

const can = (role) => state.role && ROLES[state.role] >= ROLES[role];
const qs = (o) => Object.entries(o).filter(([, v]) => v !== '' && v !== undefined && v !== null)
  .map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(v)).join('&');
const badge = (s) => h('span', { class: 'badge ' + String(s).replace(/\s/g, '-') }, s);
const when = (s) => s ? s.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—';
const link = (href, text) => h('a', { href }, text);
const debounce = (fn, ms) => { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; };

function table(cols, rows, onclick) {
  return h('table', {},
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c[0])))),
    h('tbody', {}, rows.map((r) => h('tr', onclick ? { class: 'click', onclick: () => onclick(r) } : {},
      cols.map((c) => h('td', {}, c[1](r)))))));
}

function panel(title, node) { return h('div', { class: 'panel' }, h('h2', {}, title), node); }
function nodata(list, node) { return list && list.length ? node : h('div', { class: 'nodata' }, 'no data'); }

/* chart: a uPlot line chart of series over x (epoch seconds); width follows the box. */
function chart(box, x, series, opts) {
  if (!window.uPlot) { box.append(h('div', { class: 'nodata' }, 'chart library missing (run scripts/setup)')); return; }
  const colors = ['#3457d5', '#b3261e', '#177245'];
  const u = new uPlot({
    width: Math.max(300, box.clientWidth || 600), height: (opts && opts.height) || 220,
    scales: { x: { time: !(opts && opts.notime) } },
    series: [{}].concat(series.map((s, i) => ({ label: s.label, stroke: colors[i % 3], width: 2,
      fill: i === 0 ? 'rgba(52,87,213,.08)' : undefined, points: { show: !!(opts && opts.points) } }))),
    axes: [{}, { size: 50 }],
  }, [x].concat(series.map((s) => s.data)), box);
  return u;
}

/* ---------------------------------------------------------------- session */

function showWho() {
  const w = document.getElementById('who');
  if (!state.user) { w.replaceChildren(); return; }
  w.replaceChildren(can('admin') ? h('a', { href: '#/users', id: 'nav-users' }, 'Users') : '',
    h('span', {}, ' ' + state.user + ' (' + state.role + ')'),
    h('button', { class: 'plain', id: 'logout', onclick: async () => {
      try { await api('POST', '/logout'); } catch (e) { /* gone anyway */ }
      Object.assign(state, { user: null, role: null, csrf: null });
      showWho();
      location.hash = '#/login';
    } }, 'Log out'));
}

function pageLogin() {
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', placeholder: 'user' });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', placeholder: 'password' });
  const err = h('div', { class: 'fielderr', id: 'loginerr' });
  const form = h('form', { class: 'login', onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = '';
    try {
      const r = await api('POST', '/login', { username: user.value, password: pass.value });
      Object.assign(state, { user: r.user, role: r.role, csrf: r.csrf });
      showWho();
      location.hash = '#/';
    } catch (x) { err.textContent = x.message; }
  } }, h('h1', {}, 'Log in'), user, pass, h('button', { type: 'submit', id: 'login' }, 'Log in'), err);
  render(form);
  user.focus();
}

/* ---------------------------------------------------------------- dashboard */

async function pageDashboard() {
  const render = guard();
  render(h('h1', {}, 'Dashboard'), h('p', { class: 'muted' }, 'Loading…'));
  const [jobs, agents, alerts] = await Promise.all([api('GET', '/jobs?limit=1'), api('GET', '/agents'),
    api('GET', '/alerts').catch(() => null)]);
  const stats = await api('GET', '/stats').catch(() => null);
  const up = agents.agents.filter((a) => a.ready).length;
  /* Open conditions as the server counts them (an item of a job, a job, an
   * agent): cleared failures and panel lines are not alerts. */
  const nalerts = alerts ? alerts.open.total : '—';
  const alertsTitle = alerts ? 'failed or missed ' + alerts.open.abnormal_jobs + ' · over timeout ' + alerts.open.over_timeout +
    ' · no failover ' + alerts.open.no_failover + ' · agents ' + alerts.open.abnormal_agents : '';
  const box = h('div', { id: 'chart24' });
  render(h('h1', {}, 'Dashboard'),
    h('div', { class: 'cards' },
      h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Jobs enabled'), h('div', { class: 'big', id: 'jobs-enabled' }, jobs.states.enabled)),
      h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Jobs disabled'), h('div', { class: 'big' }, jobs.states.disabled)),
      h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Jobs invalid'), h('div', { class: 'big ' + (jobs.states.invalid ? 'bad' : '') }, jobs.states.invalid)),
      h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Agents up / live'), h('div', { class: 'big' }, up + ' / ' + agents.agents.length)),
      h('div', { class: 'card', title: alertsTitle }, h('div', { class: 'muted' }, 'Open alerts'), h('div', { class: 'big ' + (nalerts ? 'bad' : 'ok'), id: 'open-alerts' }, link('#/alerts', String(nalerts))), h('div', { class: 'muted sub', id: 'open-alerts-by-panel' }, alertsTitle)),
      h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Executions / failures (24 h)'),
        h('div', { class: 'big' }, stats ? stats.total + ' / ' + stats.failed : '—'))),
    panel('Executions and failures, last 24 h', box));
  if (stats) chart(box, stats.hour_epoch, [{ label: 'executions', data: stats.executions }, { label: 'failures', data: stats.failures }]);
  else box.append(h('div', { class: 'nodata' }, 'history store unavailable'));
}

/* ---------------------------------------------------------------- jobs */

const jobsView = { q: '', sort: 'name', page: 1, limit: 50 };

async function pageJobs() {
  const render = guard();
  const search = h('input', { id: 'jobsearch', placeholder: 'search name, domain, description, cron', value: jobsView.q, size: 40 });
  const body = h('div', {});
  let seq = 0; /* typing sends a request per pause: render only the newest answer */
  const load = async () => {
    const mine = ++seq;
    const r = await api('GET', '/jobs?' + qs(jobsView));
    if (mine !== seq) return;
    const pages = Math.max(1, Math.ceil(r.total / jobsView.limit));
    const sortBy = (k) => () => { jobsView.sort = jobsView.sort === k ? '-' + k : k; jobsView.page = 1; load(); };
    const th = (label, k) => h('th', { class: 'sortable', onclick: sortBy(k) }, label +
      (jobsView.sort === k ? ' ▲' : jobsView.sort === '-' + k ? ' ▼' : ''));
    body.replaceChildren(
      h('p', { class: 'muted' }, r.total + ' jobs' + (jobsView.q ? ' matching' : '') + ' · page ' + jobsView.page + ' of ' + pages),
      h('table', { id: 'jobstable' }, h('thead', {}, h('tr', {}, th('Name', 'name'), th('State', 'state'), h('th', {}, 'Cron'),
        h('th', {}, 'Next fire'), h('th', {}, 'Last result'), th('Shards', 'shards'), h('th', {}, 'Owners'), th('Domain', 'domain'), th('Level', 'level'))),
      h('tbody', {}, r.jobs.map((j) => h('tr', { class: 'click', onclick: () => { location.hash = '#/jobs/' + encodeURIComponent(j.name); } },
        h('td', {}, j.name), h('td', {}, badge(j.state)), h('td', {}, j.cron || j.error || (j.state !== 'invalid' ? TRIGGERED_ONLY : '')),
        h('td', {}, j.next_fire ? j.next_fire + ' ' + j.timezone : '—'), h('td', { class: 'last', 'data-job': j.name }, '…'), h('td', {}, j.shards ?? ''),
        h('td', {}, j.owners >= 0 ? j.owners : '—'), h('td', {}, j.domain || ''), h('td', {}, j.level ?? ''))))),
      h('div', { class: 'toolbar' },
        h('button', { class: 'plain', disabled: jobsView.page <= 1, onclick: () => { jobsView.page--; load(); } }, '‹ Prev'),
        h('button', { class: 'plain', disabled: jobsView.page >= pages, onclick: () => { jobsView.page++; load(); } }, 'Next ›')));
    /* Last results come from the history store, after the page is shown. */
    const names = r.jobs.map((j) => j.name);
    const latest = names.length ? await api('GET', '/latest?' + qs({ jobs: names.join(',') })).catch(() => null) : null;
    if (mine !== seq) return;
    body.querySelectorAll('td.last').forEach((td) => {
      const l = latest && latest.latest[td.dataset.job];
      td.replaceChildren(l ? badge(l.status) : document.createTextNode(latest ? 'never ran' : '—'));
      if (l) td.title = l.fire_time;
    });
  };
  search.addEventListener('input', debounce(() => { jobsView.q = search.value; jobsView.page = 1; load(); }, 250));
  const domains = h('datalist', { id: 'domainlist' });
  render(h('h1', {}, 'Jobs'), h('div', { class: 'toolbar' }, search,
    can('admin') ? h('button', { id: 'newjob', onclick: () => { location.hash = '#/new'; } }, 'New job') : null,
    can('admin') ? h('a', { href: '/api/v1/export', download: 'shardcron-export.json' }, 'Export') : null),
  can('operator') ? pauseDomainForm(domains) : null, body);
  await load();
  /* the domains of the jobs shown, as suggestions for the pause form */
  const seen = [...new Set([...body.querySelectorAll('#jobstable tbody tr td:nth-child(8)')].map((td) => td.textContent).filter(Boolean))].sort();
  domains.replaceChildren(...seen.map((d) => h('option', { value: d })));
}

/* ---------------------------------------------------------------- pauses */

/* pauseDomainForm: "pause this domain for N minutes, reason" (docs/pauses.md).
 * The console makes the window from its own clock (for_s). */
function pauseDomainForm(domains) {
  const dom = h('input', { id: 'pause-domain', list: 'domainlist', placeholder: 'domain', size: 14, required: true });
  const mins = h('input', { id: 'pause-minutes', type: 'number', min: 1, value: 30, style: 'width:5em' });
  const action = h('select', { id: 'pause-action' }, h('option', { value: 'skip' }, 'skip fires'), h('option', { value: 'defer' }, 'defer (run once after)'));
  const reason = h('input', { id: 'pause-reason', placeholder: 'reason (required)', size: 28, required: true });
  const form = h('form', { class: 'toolbar', id: 'pause-domain-form', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('POST', '/pauses', { scope: { domain: dom.value.trim() }, for_s: Math.round(Number(mins.value) * 60), action: action.value, reason: reason.value.trim() });
      flash('Paused domain ' + dom.value + ' for ' + mins.value + ' min (' + r.id + ')');
      reason.value = '';
    } catch (e) { flash('Pause failed: ' + (e.body.field ? e.body.field + ': ' : '') + e.message, true); }
  } }, 'Pause domain ', dom, domains, ' for ', mins, ' min, ', action, ' ', reason, ' ', h('button', { type: 'submit', id: 'pause-submit' }, 'Pause'),
  ' ', link('#/pauses', 'all pauses'));
  return form;
}

/* pauseScopes: the window's scope takes in this job (core/pause.c, pause_scopes) */
const pauseScopes = (p, job) => !!p.scope && (p.scope.all === true || (p.scope.domain !== undefined && p.scope.domain === job.domain) ||
  p.scope.job === job.name || (Array.isArray(p.scope.labels) && p.scope.labels.some((l) => (job.labels || []).includes(l))));
const pauseScope = (p) => p.scope ? Object.entries(p.scope).map(([k, v]) => k === 'all' ? 'all' : k + ' ' + (Array.isArray(v) ? v.join(',') : v)).join('') : '';
const epochText = (t) => t ? new Date(t * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';

async function pagePauses() {
  const render = guard();
  const r = await api('GET', '/pauses');
  const del = (p) => can('operator') ? h('button', { class: 'danger', 'data-id': p.id, onclick: async (ev) => {
    ev.stopPropagation();
    if (!confirm('Delete pause window ' + p.id + '? Fires in its scope run again from the next one.')) return;
    try { await api('DELETE', '/pauses/' + encodeURIComponent(p.id)); flash('Deleted ' + p.id); route(); } catch (e) { flash('Delete failed: ' + e.message, true); }
  } }, 'Delete') : '';
  const whenText = (p) => p.cron ? '"' + p.cron + '" for ' + p.duration_s + ' s (' + p.timezone + ')' : (p.from || '') + ' → ' + (p.to || '') + ' (' + (p.timezone || '') + ')';
  const stateText = (p) => p.state === 'active' ? h('span', {}, badge('paused'), ' until ' + epochText(p.active_until))
    : p.state === 'upcoming' ? h('span', {}, badge('upcoming'), ' ' + epochText(p.next_start))
      : p.state === 'invalid' ? h('span', { title: p.error }, badge('invalid'), ' ' + p.error) : badge(p.state);
  render(h('h1', {}, 'Pause windows'),
    h('p', { class: 'muted' }, 'Fires inside a window are not run: skip records them paused; defer runs the item once when the window ends. Running executions finish.'),
    can('operator') ? pauseDomainForm(h('datalist', { id: 'domainlist' })) : null,
    nodata(r.pauses, h('table', { id: 'pausetable' },
      h('thead', {}, h('tr', {}, ['Id', 'Scope', 'Action', 'When', 'State', 'Reason', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, r.pauses.map((p) => h('tr', { 'data-id': p.id },
        h('td', {}, p.id), h('td', {}, pauseScope(p)), h('td', {}, p.action || ''), h('td', {}, p.state === 'invalid' ? '' : whenText(p)),
        h('td', {}, stateText(p)), h('td', {}, p.reason || ''), h('td', {}, del(p))))))));
}

const TRIGGERED_ONLY = 'triggered only (no cron)';

async function previewInto(box, expr, tz, n, cal) {
  const mine = box.dataset.seq = String(Number(box.dataset.seq || 0) + 1);
  /* A job without cron never fires on a schedule: nothing to preview. */
  if (!String(expr || '').trim()) {
    box.replaceChildren(h('div', { class: 'ok' }, TRIGGERED_ONLY + ': runs only when triggered, by hand or by a workflow'));
    return;
  }
  try {
    const c = cal && cal.calendar ? { calendar: cal.calendar, calendar_rule: cal.rule, calendar_shift: cal.shift } : {};
    const p = await api('GET', '/cron/preview?' + qs(Object.assign({ expr, tz, n: n || 10 }, c)));
    if (box.dataset.seq !== mine) return; /* a newer expression is being previewed */
    /* with a calendar: the fires it skips (or moves), and why */
    const sk = p.skipped && p.skipped.length ? h('div', { id: 'cronskipped' }, h('h3', {}, 'Skipped by calendar ' + c.calendar),
      h('ul', { class: 'skipped' }, p.skipped.map((x) => h('li', {}, x.time + ' — ' + x.reason))),
      p.skipped_more ? h('div', { class: 'muted' }, 'and more') : null) : null;
    box.replaceChildren(h('div', { class: 'ok' }, '✓ valid · zone ' + p.timezone + (c.calendar ? ' · calendar ' + c.calendar : '')),
      h('ol', { class: 'nexttimes' }, p.next.map((t, i) => h('li', {}, t + ' ' + p.next_offset[i]))), sk);
  } catch (e) {
    if (box.dataset.seq !== mine) return;
    const b = e.body || {};
    box.replaceChildren(h('div', { class: 'bad' }, '✗ ' + (b.field ? b.field + ': ' : '') + e.message +
      (b.position !== undefined ? ' (at character ' + b.position + ')' : '')));
  }
}

async function pageJob(name) {
  const render = guard();
  const [j, shards, hist, pauses] = await Promise.all([api('GET', '/jobs/' + encodeURIComponent(name)),
    api('GET', '/jobs/' + encodeURIComponent(name) + '/shards').catch(() => null),
    api('GET', '/executions?' + qs({ job: name, limit: 50 })).catch(() => null),
    api('GET', '/pauses').catch(() => null)]);
  const prev = h('div', { id: 'jobpreview' }, 'Loading…');
  const act = async (what, fn) => {
    try { await fn(); flash(what); route(); } catch (e) { flash(what + ' failed: ' + e.message, true); }
  };
  const enc = encodeURIComponent(name);
  const buttons = h('div', { class: 'toolbar' },
    can('operator') ? h('button', { id: 'trigger', onclick: () => {
      const param = prompt('Trigger ' + name + ' now. One-off job parameter (optional):', '');
      if (param === null) return;
      act('Triggered ' + name, () => api('POST', '/jobs/' + enc + '/trigger', param ? { param } : {}));
    } }, 'Trigger now') : null,
    can('operator') && j.job ? h('button', { class: 'plain', id: 'toggle', onclick: () =>
      act((j.job.disabled ? 'Enabled ' : 'Disabled ') + name, () => api('POST', '/jobs/' + enc + (j.job.disabled ? '/enable' : '/disable'))) },
    j.job.disabled ? 'Enable' : 'Disable') : null,
    can('admin') ? h('button', { class: 'plain', id: 'edit', onclick: () => { location.hash = '#/jobs/' + enc + '/edit'; } }, 'Edit') : null,
    can('admin') ? h('button', { class: 'danger', id: 'delete', onclick: () => {
      if (!confirm('Delete job ' + name + '? This cannot be undone.')) return;
      api('DELETE', '/jobs/' + enc, undefined, { 'If-Match': String(j.version) })
        .then(() => { flash('Deleted ' + name); location.hash = '#/jobs'; })
        .catch((e) => flash('Delete failed: ' + e.message, true));
    } }, 'Delete') : null);
  const rows = hist ? hist.executions : [];
  const last = {}; /* item -> newest execution among the recent ones */
  for (const r of rows) if (!(r.item in last)) last[r.item] = r;
  const dur = rows.filter((r) => r.duration_ms !== undefined).reverse();
  const durBox = h('div', {});
  const holding = pauses && j.job ? pauses.pauses.filter((p) => p.state === 'active' && pauseScopes(p, j.job)) : [];
  render(h('h1', {}, 'Job ', name, ' ', badge(j.state)), buttons,
    ...holding.map((p) => h('p', { class: 'pausenote' }, badge('paused'), ' until ' + epochText(p.active_until) + ' by window ',
      link('#/pauses', p.id), ' (' + p.action + '): ' + p.reason)),
    j.error ? panel('Invalid config', h('pre', {}, j.error + '\n\n' + (j.raw || ''))) : null,
    h('div', { class: 'two' },
      panel('Summary', j.job ? h('table', {}, h('tbody', {},
        [['Description', j.job.description || '—'], ['Cron', j.job.cron || TRIGGERED_ONLY], ['Time zone', j.job.timezone],
          ['Calendar', j.job.calendar ? link('#/calendars/' + encodeURIComponent(j.job.calendar), j.job.calendar + ' (' + j.job.calendar_rule + ', shift ' + j.job.calendar_shift + ')') : '—'],
          ['Next fire', j.next_fire || '—'], ['Type', j.job.type],
          ['Command', j.job.type === 'java' ? j.job.java.class : j.job.command], ['Shards', j.job.shards],
          ['Strategy', j.job.strategy], ['Labels', j.job.labels.join(', ') || '—'], ['Failover', j.job.failover ? 'on' : 'off'],
          ['Owners / eligible agents', j.owners + ' / ' + j.eligible_agents], ['Version', j.version], ['Modified', when(j.modified)]]
          .map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))))) : h('div', { class: 'nodata' }, 'invalid')),
      panel('Cron preview (next 10, ' + (j.job ? j.job.timezone : '') + ')', prev)),
    panel('Shard map' + (shards ? ' · epoch ' + shards.epoch + (shards.current ? '' : ' (agents catching up)') : ''),
      shards ? table([['Item', (r) => r.item], ['Param', (r) => r.param], ['Agent', (r) => r.agent || '—'],
        ['State', (r) => badge(r.state)],
        ['Running since (fire)', (r) => r.running_fire ? new Date(r.running_fire * 1000).toISOString().replace('.000Z', 'Z') : '—'],
        ['Last result', (r) => last[r.item] ? badge(last[r.item].status) : '—'],
        ['Agent epoch', (r) => r.agent_applied_epoch ?? '—']], shards.items)
        : h('div', { class: 'nodata' }, 'no data')),
    panel('Duration of recent executions (ms)', durBox),
    panel('Recent executions', nodata(rows, table([['Fire time', (r) => when(r.fire_time)], ['Item', (r) => r.item],
      ['Status', (r) => badge(r.status)], ['Trigger', (r) => r.trigger], ['Agent', (r) => r.agent],
      ['Duration', (r) => r.duration_ms !== undefined ? r.duration_ms + ' ms' : '—']], rows,
    (r) => { location.hash = '#/executions/' + encodeURIComponent(r.execution_id); }))),
    panel('Config (JSON)', h('pre', { id: 'jobjson' }, JSON.stringify(j.job || j.raw, null, 2))));
  if (j.job && j.job.cron) jobPreviewInto(prev, name, 10);
  else if (j.job) previewInto(prev, j.job.cron, j.job.timezone, 10);
  if (dur.length) chart(durBox, dur.map((r) => Date.parse(r.fire_time) / 1000), [{ label: 'duration ms', data: dur.map((r) => r.duration_ms) }], { points: true, height: 180 });
  else durBox.append(h('div', { class: 'nodata' }, 'no data'));
}

/* ---- edit / create */

const FIELDS = [
  ['name', 'text'], ['description', 'text'], ['domain', 'text'], ['level', 'number'],
  ['cron', 'text'], ['timezone', 'text'], ['calendar', 'text'], ['calendar_rule', ['', 'workdays', 'holidays']],
  ['calendar_shift', ['', 'none', 'next', 'previous']], ['shards', 'number'], ['shard_params', 'text'],
  ['job_param', 'text'], ['type', ['shell', 'java']], ['command', 'text'],
  ['java.classpath', 'text'], ['java.class', 'text'], ['java.jvm_opts', 'text'],
  ['strategy', ['average', 'odd_even', 'round_robin', 'balanced']], ['labels', 'text'],
  ['failover', 'bool'], ['misfire', ['skip', 'once', 'all']], ['concurrency', ['forbid', 'allow', 'replace']],
  ['timeout_s', 'number'], ['retries', 'number'], ['retry_backoff_s', 'number'], ['disabled', 'bool'],
];

function getPath(o, p) { return p.split('.').reduce((a, k) => (a ? a[k] : undefined), o); }
function setPath(o, p, v) {
  const ks = p.split('.');
  let a = o;
  for (const k of ks.slice(0, -1)) a = a[k] = a[k] || {};
  if (v === undefined) delete a[ks[ks.length - 1]]; else a[ks[ks.length - 1]] = v;
}

/* shard_params in the form: one "item=param" a line (a param may hold commas
 * and '='; the first '=' splits), or a JSON object when a param holds a line
 * break. Parsed back to the object the API takes; a bad line throws naming it. */
function shardParamsText(v) {
  if (!v || typeof v !== 'object') return v || '';
  const vals = Object.values(v);
  if (vals.some((x) => /[\r\n]/.test(String(x)))) return JSON.stringify(v);
  return Object.entries(v).map(([k, x]) => k + '=' + x).join('\n');
}
function shardParamsParse(text) {
  const t = text.trim();
  if (!t) return undefined;
  if (t.startsWith('{')) {
    try { return JSON.parse(t); } catch (e) { throw new Error('not valid JSON: ' + e.message); }
  }
  const o = {};
  text.split('\n').map((l) => l.replace(/\r$/, '')).forEach((line, i) => {
    if (!line.trim()) return;
    const eq = line.indexOf('=');
    const k = eq < 0 ? '' : line.slice(0, eq).trim();
    if (!/^\d+$/.test(k)) throw new Error('line ' + (i + 1) + ': expected ITEM=PARAM (got "' + line.slice(0, 40) + '")');
    o[k] = line.slice(eq + 1);
  });
  return o;
}

/* pageEdit: the form for job `name` (null: a new job). draft: {job, version}
 * to show instead of the stored job (back from the raw JSON view, edits kept). */
async function pageEdit(name, draft) {
  const render = guard();
  let job = { cron: '0 * * * * ?', timezone: 'UTC', shards: 1, type: 'shell', command: '', strategy: 'average', failover: true, misfire: 'once', concurrency: 'forbid' };
  let version = null;
  if (draft) ({ job, version } = draft);
  else if (name) {
    const j = await api('GET', '/jobs/' + encodeURIComponent(name));
    version = j.version;
    if (j.job) job = j.job;
    else try { job = JSON.parse(j.raw); } catch (e) { /* start from the defaults */ }
  }
  const inputs = {};
  const errs = {};
  const general = h('div', { class: 'fielderr', id: 'formerr' });
  const prev = h('div', { id: 'formpreview' });
  const rows = [];
  for (const [f, kind] of FIELDS) {
    let v = getPath(job, f);
    if (f === 'labels' && Array.isArray(v)) v = v.join(',');
    if (f === 'shard_params') v = shardParamsText(v);
    let el;
    if (f === 'shard_params') el = h('textarea', { name: f, id: 'f-' + f, rows: 3, cols: 50, placeholder: 'one ITEM=PARAM a line, e.g. 0=Beijing' }, v);
    else if (Array.isArray(kind)) el = h('select', { name: f, id: 'f-' + f.replace('.', '-') }, kind.map((o) => h('option', { value: o, selected: v === o }, o)));
    else if (kind === 'bool') el = h('input', { type: 'checkbox', name: f, id: 'f-' + f, checked: f === 'failover' ? v !== false : !!v });
    else el = h('input', { type: kind, name: f, id: 'f-' + f.replace('.', '-'), value: v ?? '', size: 50, readonly: f === 'name' && name ? true : undefined });
    inputs[f] = el;
    errs[f] = h('div', { class: 'fielderr', id: 'err-' + f.replace('.', '-') });
    rows.push(h('label', { for: el.id }, f), h('div', {}, el, errs[f], f === 'cron' ? prev : null));
  }
  /* collect: the loaded job with the form's fields laid over it, so every field
   * the form does not show (misfire_threshold_s, alert, anything newer) is sent
   * back as it was. Throws {field, message} for a field it cannot read. */
  const collect = () => {
    const o = structuredClone(job);
    for (const [f, kind] of FIELDS) {
      const el = inputs[f];
      let v = kind === 'bool' ? el.checked : el.value;
      if (kind === 'number') v = el.value === '' ? undefined : Number(el.value);
      if (f === 'labels') v = el.value.trim() ? el.value.split(',').map((s) => s.trim()).filter(Boolean) : [];
      if (f === 'shard_params') {
        try { v = shardParamsParse(el.value); } catch (e) { throw { body: { field: f }, message: e.message }; }
      }
      if (typeof v === 'string' && v === '' && f !== 'command') v = undefined;
      if (f.startsWith('java.') && inputs.type.value !== 'java') continue;
      setPath(o, f, v);
    }
    if (o.type === 'java') delete o.command; else delete o.java;
    if (!o.calendar) { delete o.calendar_rule; delete o.calendar_shift; }
    return o;
  };
  const raw = h('textarea', { class: 'raw', id: 'rawjson' }, JSON.stringify(job, null, 2));
  let mode = 'form';
  const formBox = h('form', { class: 'grid', id: 'jobform', onsubmit: (e) => { e.preventDefault(); save(); } }, rows);
  const rawBox = h('div', { style: 'display:none' }, raw);
  const tabs = h('div', { class: 'toolbar' },
    h('button', { class: 'plain', id: 'tab-form', onclick: () => {
      if (mode === 'form') return; /* already there; raw.value is not current */
      let o;
      try { o = JSON.parse(raw.value); } catch (e) { general.textContent = 'raw JSON: ' + e.message; return; }
      pageEdit(name, { job: o, version });
    } }, 'Form'),
    h('button', { class: 'plain', id: 'tab-raw', onclick: () => {
      try { raw.value = JSON.stringify(collect(), null, 2); } catch (e) { showErr(e); return; }
      mode = 'raw'; formBox.style.display = 'none'; rawBox.style.display = '';
    } }, 'Raw JSON'));
  const showErr = (e) => {
    for (const k of Object.keys(errs)) { errs[k].textContent = ''; inputs[k].classList.remove('haserr'); }
    general.textContent = '';
    const f = e.body && e.body.field ? e.body.field.replace(/\[.*$/, '') : '';
    const key = Object.keys(errs).find((k) => k === f) || Object.keys(errs).find((k) => f.startsWith(k + '.') || f === k.split('.')[0]);
    if (key && mode === 'form') { errs[key].textContent = e.message; inputs[key].classList.add('haserr'); inputs[key].focus(); }
    else general.textContent = (e.body && e.body.field ? e.body.field + ': ' : '') + e.message;
  };
  const save = async () => {
    let body;
    if (mode === 'raw') {
      try { body = JSON.parse(raw.value); } catch (e) { general.textContent = 'raw JSON: ' + e.message; return; }
    } else {
      try { body = collect(); } catch (e) { showErr(e); return; }
    }
    const nm = name || body.name;
    if (!nm) { showErr({ body: { field: 'name' }, message: 'is required' }); return; }
    if (!name && body.name === undefined) body.name = nm;
    try {
      const r = await api('PUT', '/jobs/' + encodeURIComponent(nm), body, version !== null ? { 'If-Match': String(version) } : {});
      flash(r.changed === false ? 'No change to save in ' + nm + ' (version ' + r.version + ')'
        : (r.created ? 'Created ' : 'Saved ') + nm + ' (version ' + r.version + ')');
      location.hash = '#/jobs/' + encodeURIComponent(nm);
    } catch (e) {
      if (e.status === 409) general.textContent = e.message;
      else showErr(e);
    }
  };
  const refresh = debounce(() => previewInto(prev, inputs.cron.value, inputs.timezone.value || 'UTC', 5), 250);
  inputs.cron.addEventListener('input', refresh);
  inputs.timezone.addEventListener('input', refresh);
  render(h('h1', {}, name ? 'Edit ' + name : 'New job'), tabs, formBox, rawBox,
    h('div', { class: 'toolbar' }, h('button', { id: 'save', onclick: save }, 'Save'),
      h('a', { href: name ? '#/jobs/' + encodeURIComponent(name) : '#/jobs' }, 'Cancel')), general);
  refresh();
}

/* ---------------------------------------------------------------- agents */

async function pageAgents() {
  const render = guard();
  const r = await api('GET', '/agents');
  render(h('h1', {}, 'Agents'), h('p', { class: 'muted' }, 'Epoch ' + r.epoch + ' · leader ' + (r.leader || 'none')),
    nodata(r.agents, table([
      ['Agent', (a) => a.leader ? h('span', { class: 'leader', title: 'leader' }, '★ ' + a.id) : a.id],
      ['Host', (a) => (a.host || '') + (a.pid ? ' [' + a.pid + ']' : '')],
      ['Labels', (a) => (a.labels || []).join(', ')],
      ['Capacity', (a) => a.capacity], ['Running', (a) => a.running], ['Items', (a) => a.assigned_items],
      ['Ready', (a) => a.ready ? h('span', { class: 'ok' }, 'yes') : h('span', { class: 'bad' }, 'no ' + (a.reason || ''))],
      ['Skew', (a) => (a.skew_ms ?? '—') + ' ms'], ['Epoch', (a) => a.applied_epoch],
      ['Session', (a) => (a.session || '') + (a.session_came_back ? ' (lost and back)' : '')],
      ['Owned items', (a) => Object.entries(a.items || {}).map(([j, it]) => j + ': ' + it.join(',')).join('; ') || '—'],
    ], r.agents)));
}

/* ---------------------------------------------------------------- history */

const histView = { job: '', item: '', status: '', agent: '', from: '', to: '' };

async function pageHistory() {
  const render = guard();
  const f = {};
  const mk = (k, ph) => (f[k] = h('input', { id: 'h-' + k, placeholder: ph, value: histView[k], size: 14 }));
  const status = h('select', { id: 'h-status' }, ['', 'succeeded', 'failed', 'timeout', 'killed', 'missed', 'skipped', 'paused', 'running', 'queued']
    .map((s) => h('option', { value: s, selected: histView.status === s }, s || 'any status')));
  const body = h('div', {});
  let cursor = null;
  let rows = [];
  let seq = 0; /* only the newest request may render (responses can arrive out of order) */
  const load = async (more) => {
    const mine = ++seq;
    Object.assign(histView, { job: f.job.value, item: f.item.value, agent: f.agent.value, from: f.from.value, to: f.to.value, status: status.value });
    try {
      const r = await api('GET', '/executions?' + qs(Object.assign({ limit: 50, cursor: more ? cursor : '' }, histView)));
      if (mine !== seq) return;
      rows = more ? rows.concat(r.executions) : r.executions;
      cursor = r.next_cursor;
      body.replaceChildren(nodata(rows, table([['Fire time', (x) => when(x.fire_time)], ['Job', (x) => x.job], ['Item', (x) => x.item],
        ['Status', (x) => badge(x.status)], ['Trigger', (x) => x.trigger], ['Attempt', (x) => x.attempt], ['Agent', (x) => x.agent],
        ['Duration', (x) => x.duration_ms !== undefined ? x.duration_ms + ' ms' : '—'], ['Error', (x) => x.error]], rows,
      (x) => { location.hash = '#/executions/' + encodeURIComponent(x.execution_id); })),
      cursor ? h('button', { class: 'plain', onclick: () => load(true) }, 'More') : '');
    } catch (e) { body.replaceChildren(h('div', { class: 'bad' }, (e.body.field ? e.body.field + ': ' : '') + e.message)); }
  };
  render(h('h1', {}, 'History'), h('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); load(false); } },
    mk('job', 'job'), mk('item', 'item'), status, mk('agent', 'agent'), mk('from', 'from (UTC)'), mk('to', 'to (UTC)'),
    h('button', { type: 'submit' }, 'Filter')), body);
  await load(false);
}

async function pageExecution(id) {
  const render = guard();
  const e = await api('GET', '/executions/' + encodeURIComponent(id));
  render(h('h1', {}, 'Execution ', badge(e.status)),
    h('div', { class: 'two' },
      panel('Execution', h('table', {}, h('tbody', {}, [['Id', e.execution_id], ['Job', link('#/jobs/' + encodeURIComponent(e.job), e.job)],
        ['Item', e.item], ['Fire time', when(e.fire_time)], ['Trigger', e.trigger], ['Attempt', e.attempt], ['Agent', e.agent + ' on ' + e.host],
        ['Fence', e.fence || '—'], ['Started', when(e.started_at)], ['Finished', when(e.finished_at)], ['Exit', e.exit_code ?? (e.signal ? 'signal ' + e.signal : '—')],
        ['Error', e.error || '—']].map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))))),
      panel('Status trace', nodata(e.trace, table([['At', (t) => when(t.at)], ['State', (t) => badge(t.state)], ['Message', (t) => t.message]], e.trace)))),
    panel('Attempts of this fire', nodata(e.attempts, table([['Attempt', (a) => a.attempt], ['Status', (a) => badge(a.status)], ['Trigger', (a) => a.trigger], ['Agent', (a) => a.agent], ['Fence', (a) => a.fence || '—']], e.attempts,
      (a) => { location.hash = '#/executions/' + encodeURIComponent(a.execution_id); }))),
    panel('Output (tail)', e.output_tail ? h('pre', { id: 'output' }, e.output_tail) : h('div', { class: 'nodata' }, 'no output')));
}

/* ---------------------------------------------------------------- alerts */

/* items: "item 0", "items 0, 3, 7", "items 599, 598, ... (+590 more)": never a
 * bare number that reads as a count. */
function itemsText(r) {
  const it = r.items || [];
  if (!it.length) return '—';
  const more = (r.items_open || it.length) - it.length;
  return (it.length === 1 && !more ? 'item ' : 'items ') + it.join(', ') + (more > 0 ? ' (+' + more + ' more)' : '');
}

function overText(r) {
  if (r.running) return r.seconds_over + ' s over its ' + r.timeout_s + ' s timeout, still running';
  const t = r.timeout_s !== null && r.timeout_s !== undefined ? r.timeout_s + ' s ' : '';
  return 'killed at its ' + t + 'timeout' + (r.ran_s !== null && r.ran_s !== undefined ? ' after ' + r.ran_s + ' s' : '');
}

function reasonText(r) {
  if (r.reason === 'missed') return 'missed: never ran';
  if (r.reason === 'failed') return 'failed' + (r.exit_code !== undefined ? ' (exit ' + r.exit_code + ')' : '');
  return r.reason;
}

async function pageAlerts() {
  const render = guard();
  const a = await api('GET', '/alerts');
  const lv = (r) => (r.domain || '—') + ' / ' + (r.domain_level ?? '—') + ' / ' + (r.job_level ?? '—');
  const jobLink = (r) => link('#/jobs/' + encodeURIComponent(r.job), r.job);
  render(h('h1', {}, 'Alerts'),
    h('p', { class: 'muted' }, 'Open conditions: failures, misses and timeouts since ' + when(a.since) +
      ' that no later success of the same item cleared, and live state now. One line per job and reason, at most ' +
      a.per_job + ' items listed on it.' + (a.truncated ? ' Only the newest conditions are shown: there are more.' : '')),
    h('div', { id: 'panel-abnormal-jobs' }, panel('Abnormal jobs', nodata(a.abnormal_jobs, table([['Job', jobLink],
      ['Domain / level / job level', lv], ['Scheduled fire (newest)', (r) => when(r.fire_time)], ['Items', itemsText],
      ['Reason', (r) => h('span', { class: 'badge ' + r.reason.replace(/\s/g, '-') }, reasonText(r))]], a.abnormal_jobs)))),
    h('div', { id: 'panel-over-timeout' }, panel('Shards over their timeout', nodata(a.over_timeout, table([['Job', jobLink], ['Domain / level / job level', lv],
      ['Scheduled fire', (r) => when(r.fire_time)], ['Items', itemsText], ['Over', overText]], a.over_timeout)))),
    h('div', { id: 'panel-no-failover' }, panel('Jobs that cannot fail over', nodata(a.no_failover, table([['Job', jobLink], ['Domain / level / job level', lv],
      ['Eligible agents', (r) => r.eligible_agents], ['Reason', (r) => r.reason]], a.no_failover)))),
    h('div', { id: 'panel-abnormal-agents' }, panel('Abnormal agents', nodata(a.abnormal_agents, table([['Agent', (r) => r.agent], ['Host', (r) => r.host],
      ['Reasons', (r) => r.reasons.join(', ')]], a.abnormal_agents)))),
    h('div', { id: 'panel-notices' }, await noticesPanel()));
}

/* noticesPanel: the leader's open alerts (what notices are about), with
 * Acknowledge (reminders and escalation stop) and Silence 1 h for operators. */
async function noticesPanel() {
  let ev;
  try { ev = await api('GET', '/alerts/events'); } catch (e) { return panel('Notifications', h('p', { class: 'muted' }, 'not available: ' + e.message)); }
  const canWrite = state.role === 'operator' || state.role === 'admin';
  const act = (r, what, body) => h('button', { class: 'plain', 'data-alert': String(r.id), 'data-action': what, onclick: async (e) => {
    e.target.disabled = true;
    try { await api('POST', '/alerts/' + r.id + '/' + what, body); route(); } catch (x) { e.target.disabled = false; alert(x.message); }
  } }, what === 'ack' ? 'Acknowledge' : 'Silence 1 h');
  const stateText = (r) => r.acked_at ? 'acknowledged by ' + (r.acked_by || '?') + ' ' + when(r.acked_at)
    : r.silenced_until ? 'silenced until ' + when(r.silenced_until) : (r.escalation_level ? 'escalated (level ' + r.escalation_level + ')' : 'notifying');
  return panel('Notifications', nodata(ev.alerts, table([['Alert', (r) => '#' + r.id], ['Job', (r) => r.job ? link('#/jobs/' + encodeURIComponent(r.job), r.job) : '—'],
    ['Kind', (r) => r.kind + (r.item !== undefined ? ' · item ' + r.item : '')], ['Raised', (r) => when(r.raised_at)], ['State', stateText],
    ['', (r) => canWrite && !r.acked_at ? h('span', {}, act(r, 'ack'), ' ', act(r, 'silence', { minutes: 60 })) : '']], ev.alerts)));
}

/* ---------------------------------------------------------------- users (admin) */

async function pageUsers() {
  const render = guard();
  const r = await api('GET', '/users');
  const name = h('input', { id: 'u-name', placeholder: 'user name', size: 16 });
  const role = h('select', { id: 'u-role' }, ['viewer', 'operator', 'admin'].map((x) => h('option', { value: x }, x)));
  const pw = h('input', { id: 'u-password', type: 'password', placeholder: 'new password (8+)', size: 18, autocomplete: 'new-password' });
  const err = h('div', { class: 'fielderr', id: 'u-err' });
  const save = async (e) => {
    e.preventDefault();
    err.textContent = '';
    try {
      await api('PUT', '/users/' + encodeURIComponent(name.value), pw.value ? { role: role.value, password: pw.value } : { role: role.value });
      flash('Saved user ' + name.value);
      route();
    } catch (x) { err.textContent = (x.body.field ? x.body.field + ': ' : '') + x.message; }
  };
  render(h('h1', {}, 'Users'),
    h('form', { class: 'toolbar', onsubmit: save }, name, role, pw, h('button', { type: 'submit', id: 'u-save' }, 'Add / update'), err),
    table([['User', (u) => u.username], ['Role', (u) => u.role], ['Created', (u) => when(u.created_at)],
      ['', (u) => u.username === state.user ? '' : h('button', { class: 'danger', onclick: () => {
        if (!confirm('Delete user ' + u.username + '?')) return;
        api('DELETE', '/users/' + encodeURIComponent(u.username)).then(() => { flash('Deleted ' + u.username); route(); })
          .catch((x) => flash('Delete failed: ' + x.message, true));
      } }, 'Delete')]], r.users));
}

/* ---------------------------------------------------------------- cron tool */

function pageCron() {
  const expr = h('input', { id: 'cronexpr', size: 36, value: '0/5 * * * * ?' });
  const tz = h('input', { id: 'crontz', size: 20, value: 'UTC' });
  const n = h('input', { id: 'cronn', type: 'number', min: 1, max: 100, value: 10, size: 4 });
  const out = h('div', { id: 'cronout' });
  /* a calendar's effect on the expression (the names from GET /calendars) */
  const cal = h('select', { id: 'croncal' }, h('option', { value: '' }, '(no calendar)'));
  const rule = h('select', { id: 'croncalrule' }, ['workdays', 'holidays'].map((x) => h('option', { value: x }, x)));
  const shift = h('select', { id: 'croncalshift' }, ['none', 'next', 'previous'].map((x) => h('option', { value: x }, x)));
  api('GET', '/calendars').then((cs) => (Array.isArray(cs) ? cs : cs.calendars || [])
    .forEach((c) => cal.append(h('option', { value: c.name }, c.name)))).catch(() => {});
  const go = debounce(() => previewInto(out, expr.value, tz.value || 'UTC', n.value || 10,
    { calendar: cal.value, rule: rule.value, shift: shift.value }), 200);
  [expr, tz, n].forEach((el) => el.addEventListener('input', go));
  [cal, rule, shift].forEach((el) => el.addEventListener('change', go));
  render(h('h1', {}, 'Cron tool'), h('div', { class: 'toolbar' }, h('label', {}, 'Expression ', expr), h('label', {}, 'Zone ', tz), h('label', {}, 'Next ', n),
    h('label', {}, 'Calendar ', cal), h('label', {}, 'Rule ', rule), h('label', {}, 'Shift ', shift)),
    h('p', { class: 'muted' }, 'Quartz (6-7 fields), Unix (5 fields), @daily, @every 5m. Times are wall times in the zone.'), out);
  go();
}

/* ---------------------------------------------------------------- router */

async function route() {
  routeSeq++;
  const hash = location.hash.replace(/^#/, '') || '/';
  const parts = hash.split('/').filter(Boolean).map(decodeURIComponent);
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === '#/' + (parts[0] || '')));
  if (!state.user && parts[0] !== 'login') {
    try {
      const s = await api('GET', '/session');
      Object.assign(state, { user: s.user, role: s.role, csrf: s.csrf });
      showWho();
    } catch (e) { return; } /* api() sent us to the login page */
  }
  try {
    if (parts[0] === 'login') return pageLogin();
    if (!parts[0]) return await pageDashboard();
    if (parts[0] === 'jobs' && parts.length === 1) return await pageJobs();
    if (parts[0] === 'jobs' && parts[2] === 'edit') return await pageEdit(parts[1]);
    if (parts[0] === 'jobs') return await pageJob(parts[1]);
    if (parts[0] === 'new') return await pageEdit(null);
    if (parts[0] === 'agents') return await pageAgents();
    if (parts[0] === 'history') return await pageHistory();
    if (parts[0] === 'executions') return await pageExecution(parts[1]);
    if (parts[0] === 'alerts') return await pageAlerts();
    if (parts[0] === 'cron') return pageCron();
    if (parts[0] === 'calendars' && parts.length === 1) return await pageCalendars();
    if (parts[0] === 'calendars') return await pageCalendar(parts[1], parts[2]);
    if (parts[0] === 'workflows' && parts.length === 1) return await pageWorkflows();
    if (parts[0] === 'workflows' && parts[2] === 'grid') return await pageWfGrid(parts[1]);
    if (parts[0] === 'workflows' && parts[2] === 'backfill') return await pageWfBackfill(parts[1]);
    if (parts[0] === 'workflows' && parts[2] === 'edit') return await pageWfEdit(parts[1]);
    if (parts[0] === 'workflows') return await pageWfGraph(parts[1], parts[2] === 'graph' ? parts[3] : null);
    if (parts[0] === 'newworkflow') return await pageWfEdit(null);
    if (parts[0] === 'runs') return await pageRun(parts[1]);
    if (parts[0] === 'users') return await pageUsers();
    if (parts[0] === 'pauses') return await pagePauses();
    render(h('h1', {}, 'Not found'), h('p', {}, 'No page ', hash));
  } catch (e) {
    if (e.status !== 401) render(h('h1', {}, 'Error'), h('p', { class: 'bad' }, e.message));
  }
}

window.addEventListener('hashchange', route);
route();
