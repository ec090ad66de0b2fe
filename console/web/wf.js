/* console/web/wf.js: the workflow pages of the console — the list, the graph
 * of a run, the grid of runs by tasks, a run with its Gantt, the backfill form
 * and the definition editor — on /api/v1/workflows and /api/v1/runs.
 *
 * Loaded before app.js and uses its helpers (h, api, render, guard, flash,
 * badge, panel, table, routeSeq) when its pages run. Text from the server goes
 * into the page as text nodes only. A page that follows a run polls it with
 * If-None-Match: the console answers 304 with no body while nothing changed,
 * and only the tasks whose state changed are touched in the page. */
'use strict';

/* ---------------------------------------------------------------- shared */

const WF_ENDED = new Set(['succeeded', 'failed', 'cancelled']);
const WF_DEFAULT_RULE = 'all_success';
const WF_KINDS = ['job', 'command', 'sensor', 'branch', 'external'];
/* Graphs up to WF_DAGRE_MAX tasks are laid out by dagre (network simplex up
 * to WF_DAGRE_SIMPLEX, longest path above: it takes ~10 s for 2,000 tasks);
 * larger ones by wfLayered, ranks by longest path and one barycentre pass,
 * linear in tasks and edges (5,000 tasks in tens of ms). */
const WF_DAGRE_MAX = 800;
const WF_DAGRE_SIMPLEX = 300;
const WF_NODE_W = 172;
const WF_NODE_H = 40;

const enc = encodeURIComponent;
const wfKind = (t) => WF_KINDS.find((k) => t && t[k] !== undefined) || 'command';
const msTime = (ms) => ms ? new Date(ms).toISOString().replace('T', ' ').replace('.000Z', 'Z') : '—';
const msDur = (a, b) => {
  if (!a) return '—';
  const s = ((b || Date.now()) - a) / 1000;
  return s < 60 ? s.toFixed(1) + ' s' : s < 3600 ? Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s'
    : Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
};
const wfJobOf = (wf, id, t) => wfKind(t) === 'job' ? t.job : 'wf.' + wf + '.' + id;

/* wfWhat: the thing a task runs, as one line of text. */
function wfWhat(t) {
  const k = wfKind(t);
  if (k === 'external') return 'waits for ' + t.external.workflow + '.' + t.external.task + (t.external.offset ? ' at ' + t.external.offset : '');
  return t[k];
}

/* wfTopo: task ids in topological order (upstream first; ties by name), and
 * the cycle when there is one (ids along it, the first repeated at the end). */
function wfTopo(tasks) {
  const ids = Object.keys(tasks).sort();
  const indeg = new Map(ids.map((id) => [id, 0]));
  const down = new Map(ids.map((id) => [id, []]));
  for (const id of ids) {
    for (const u of tasks[id].upstream || []) {
      if (!down.has(u)) continue;
      down.get(u).push(id);
      indeg.set(id, indeg.get(id) + 1);
    }
  }
  const order = [];
  const ready = ids.filter((id) => indeg.get(id) === 0);
  for (let i = 0; i < ready.length; i++) {
    const id = ready[i];
    order.push(id);
    for (const d of down.get(id)) {
      indeg.set(d, indeg.get(d) - 1);
      if (indeg.get(d) === 0) ready.push(d);
    }
  }
  if (order.length === ids.length) return { order, down };
  /* Walk upstream from a task left over until one repeats: that is a cycle. */
  const left = new Set(ids.filter((id) => indeg.get(id) > 0));
  let cur = left.values().next().value;
  const seen = new Map();
  const path = [];
  while (!seen.has(cur)) {
    seen.set(cur, path.length);
    path.push(cur);
    cur = (tasks[cur].upstream || []).find((u) => left.has(u));
  }
  const cycle = path.slice(seen.get(cur)).reverse();
  cycle.push(cycle[0]);
  return { order, down, cycle };
}

/* wfCheck: what the page can tell before the API does (the API checks it all
 * again on save): {field, error, cycle?} or null. */
function wfCheck(def) {
  if (!def || typeof def !== 'object' || Array.isArray(def)) return { field: '', error: 'must be a JSON object' };
  if (!def.tasks || typeof def.tasks !== 'object' || Array.isArray(def.tasks)) return { field: 'tasks', error: 'must be an object of tasks' };
  for (const [id, t] of Object.entries(def.tasks)) {
    if (!t || typeof t !== 'object') return { field: 'tasks.' + id, error: 'must be an object' };
    for (const u of t.upstream || []) {
      if (!(u in def.tasks)) return { field: 'tasks.' + id + '.upstream', error: 'unknown task "' + u + '"' };
    }
  }
  const topo = wfTopo(def.tasks);
  if (topo.cycle) return { field: 'tasks', error: 'cycle ' + topo.cycle.join(' -> '), cycle: topo.cycle };
  return null;
}

/* wfLayered: left-to-right layers for a large DAG (see WF_DAGRE_MAX). */
function wfLayered(tasks, topo) {
  const rank = new Map();
  for (const id of topo.order) {
    let r = 0;
    for (const u of tasks[id].upstream || []) if (rank.has(u)) r = Math.max(r, rank.get(u) + 1);
    rank.set(id, r);
  }
  const layers = [];
  for (const id of topo.order) (layers[rank.get(id)] = layers[rank.get(id)] || []).push(id);
  const pos = new Map();
  const gapX = 60;
  const gapY = 10;
  layers.forEach((layer, r) => {
    if (r > 0) {
      const bary = (id) => {
        const ups = (tasks[id].upstream || []).filter((u) => pos.has(u));
        return ups.length ? ups.reduce((a, u) => a + pos.get(u).i, 0) / ups.length : 0;
      };
      const b = new Map(layer.map((id) => [id, bary(id)]));
      layer.sort((a, c) => b.get(a) - b.get(c));
    }
    layer.forEach((id, i) => pos.set(id, { i, x: r * (WF_NODE_W + gapX) + WF_NODE_W / 2, y: i * (WF_NODE_H + gapY) + WF_NODE_H / 2 }));
  });
  const edges = [];
  for (const id of topo.order) {
    for (const u of tasks[id].upstream || []) {
      const a = pos.get(u);
      const b = pos.get(id);
      if (a && b) edges.push({ from: u, to: id, points: [{ x: a.x + WF_NODE_W / 2, y: a.y }, { x: b.x - WF_NODE_W / 2, y: b.y }] });
    }
  }
  const height = Math.max(...layers.map((l) => l.length)) * (WF_NODE_H + gapY);
  return { pos, edges, width: layers.length * (WF_NODE_W + gapX), height, engine: 'layered' };
}

/* wfLayout: node centres and edge polylines of the workflow's tasks. */
function wfLayout(tasks) {
  const ids = Object.keys(tasks);
  const topo = wfTopo(tasks);
  if ((ids.length > WF_DAGRE_MAX || !window.dagre) && !topo.cycle) return wfLayered(tasks, topo);
  if (!window.dagre) return null;
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 12, ranksep: 50, marginx: 10, marginy: 10,
    ranker: ids.length > WF_DAGRE_SIMPLEX ? 'longest-path' : 'network-simplex' });
  g.setDefaultEdgeLabel(() => ({}));
  for (const id of ids) g.setNode(id, { width: WF_NODE_W, height: WF_NODE_H });
  for (const id of ids) for (const u of tasks[id].upstream || []) if (u in tasks) g.setEdge(u, id);
  dagre.layout(g);
  const pos = new Map(ids.map((id) => [id, { x: g.node(id).x, y: g.node(id).y }]));
  const edges = g.edges().map((e) => ({ from: e.v, to: e.w, points: g.edge(e).points }));
  return { pos, edges, width: g.graph().width, height: g.graph().height, engine: 'dagre' };
}

const SVGNS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const kid of kids) if (kid !== null && kid !== undefined) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}

/* wfRunCache: run id -> {etag, run}; wfGetRun answers {run, changed} and asks
 * with If-None-Match when it has the run already. */
const wfRunCache = new Map();
async function wfGetRun(id) {
  const c = wfRunCache.get(id);
  const r = await fetch('/api/v1/runs/' + enc(id), { credentials: 'same-origin', headers: c ? { 'If-None-Match': c.etag } : {} });
  if (r.status === 304 && c) return { run: c.run, changed: false };
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) throw new ApiError(r.status, data);
  if (wfRunCache.size > 100) wfRunCache.delete(wfRunCache.keys().next().value);
  wfRunCache.set(id, { etag: r.headers.get('ETag'), run: data });
  return { run: data, changed: true };
}

/* wfEvery: fn every ms while this page is shown (routeSeq unchanged). */
function wfEvery(ms, fn) {
  const mine = routeSeq;
  const tick = async () => {
    if (mine !== routeSeq) return;
    try { await fn(); } catch (e) { /* shown by the next answer; a poll must not stop */ }
    if (mine === routeSeq) setTimeout(tick, ms);
  };
  setTimeout(tick, ms);
}

function wfTabs(name, on) {
  const n = enc(name);
  const tabs = [['graph', 'Graph', '#/workflows/' + n], ['grid', 'Grid', '#/workflows/' + n + '/grid'],
    ['backfill', 'Backfill', '#/workflows/' + n + '/backfill']];
  if (can('admin')) tabs.push(['edit', 'Edit', '#/workflows/' + n + '/edit']);
  return h('div', { class: 'toolbar wftabs' }, tabs.map(([k, label, href]) =>
    h('a', { href, id: 'tab-' + k, class: k === on ? 'active' : '' }, label)));
}

/* ---------------------------------------------------------------- list */

/* wfTriggerForm: a form of the workflow's params (their defaults filled in)
 * and an optional logical time; posts the trigger and opens the run. */
async function wfTriggerForm(box, name) {
  const w = await api('GET', '/workflows/' + enc(name));
  const params = w.workflow.params || {};
  const inputs = {};
  const err = h('div', { class: 'fielderr', id: 'trig-err' });
  const lt = h('input', { id: 'trig-logical', size: 28, placeholder: 'now, or 2026-12-07T01:00:00+08:00' });
  const rows = Object.entries(params).map(([k, v]) => {
    inputs[k] = h('input', { id: 'trig-param-' + k, name: k, value: v === '(redacted)' ? '' : v, size: 30 });
    return [h('label', { for: 'trig-param-' + k }, k), h('div', {}, inputs[k])];
  });
  const go = async (e) => {
    e.preventDefault();
    err.textContent = '';
    const body = { params: {} };
    for (const [k, el] of Object.entries(inputs)) body.params[k] = el.value;
    if (lt.value.trim()) body.logical_time = lt.value.trim();
    try {
      const r = await api('POST', '/workflows/' + enc(name) + '/trigger', body);
      flash('Triggered ' + name + ': run ' + r.run_id);
      location.hash = '#/workflows/' + enc(name) + '/graph/' + enc(r.run_id);
    } catch (x) { err.textContent = (x.body.field ? x.body.field + ': ' : '') + x.message; }
  };
  box.replaceChildren(h('form', { class: 'grid wftrigger', id: 'trig-form', onsubmit: go },
    h('div', { class: 'muted', style: 'grid-column: 1 / 3' }, 'Trigger ' + name + (rows.length ? ' with its params' : ' (it has no params)')),
    rows.flat(), h('label', { for: 'trig-logical' }, 'logical time'), h('div', {}, lt),
    h('div', {}), h('div', {}, h('button', { type: 'submit', id: 'trig-go' }, 'Trigger'), ' ',
      h('button', { type: 'button', class: 'plain', onclick: () => box.replaceChildren() }, 'Cancel'), err)));
}

function wfCells(runs, name) {
  return h('span', { class: 'wfcells' }, runs.slice(0, 12).map((r) => h('a', {
    class: 'wfcell st-' + r.state, 'data-state': r.state, 'data-run': r.run_id,
    href: '#/workflows/' + enc(name) + '/graph/' + enc(r.run_id),
    title: r.logical_time + ' · ' + r.state + ' · ' + r.trigger,
  })));
}

async function pageWorkflows() {
  const render = guard();
  const list = await api('GET', '/workflows');
  const formBox = h('div', { id: 'trig-box' });
  const act = async (what, fn) => {
    try { await fn(); flash(what); route(); } catch (e) { flash(what + ' failed: ' + e.message, true); }
  };
  render(h('h1', {}, 'Workflows'),
    h('div', { class: 'toolbar' }, can('admin') ? h('button', { id: 'newwf', onclick: () => { location.hash = '#/newworkflow'; } }, 'New workflow') : null),
    formBox,
    nodata(list, h('table', { id: 'wftable' }, h('thead', {}, h('tr', {}, ['Name', 'Schedule', 'Next logical time', 'Last runs (newest left)', 'Tasks', 'State', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, list.map((w) => h('tr', { 'data-workflow': w.name },
        h('td', {}, h('a', { href: '#/workflows/' + enc(w.name) }, w.name)),
        h('td', {}, w.error ? h('span', { class: 'bad' }, w.error) : (w.cron ? w.cron + ' ' + w.timezone : h('span', { class: 'muted' }, 'triggered only'))),
        h('td', { class: 'next' }, w.next_logical_time || '—'),
        h('td', { class: 'lastruns', 'data-workflow': w.name }, '…'),
        h('td', {}, w.tasks ?? ''),
        h('td', {}, badge(w.error ? 'invalid' : w.enabled ? 'enabled' : 'disabled')),
        h('td', { class: 'actions' }, w.error || !can('operator') ? null : [
          h('button', { class: 'plain wf-toggle', onclick: () => act((w.enabled ? 'Disabled ' : 'Enabled ') + w.name,
            () => api('POST', '/workflows/' + enc(w.name) + (w.enabled ? '/disable' : '/enable'))) }, w.enabled ? 'Disable' : 'Enable'), ' ',
          h('button', { class: 'wf-trigger', onclick: () => wfTriggerForm(formBox, w.name).catch((e) => flash(e.message, true)) }, 'Trigger…')])))))));
  /* Last runs per workflow, after the table is shown. */
  const mine = routeSeq;
  await Promise.all(list.filter((w) => !w.error).map(async (w) => {
    const runs = await api('GET', '/workflows/' + enc(w.name) + '/runs').catch(() => null);
    if (mine !== routeSeq) return;
    const td = document.querySelector('td.lastruns[data-workflow="' + CSS.escape(w.name) + '"]');
    if (td) td.replaceChildren(runs ? (runs.length ? wfCells(runs, w.name) : h('span', { class: 'muted' }, 'no runs')) : '—');
  }));
}

/* ---------------------------------------------------------------- task panel */

/* wfTaskPanel: one task of one run: its state, times, reason, outputs, what it
 * runs, and the actions on it. after(): called once an action was accepted. */
function wfTaskPanel(box, name, def, run, id, after) {
  const t = def.tasks[id];
  const st = (run && run.tasks[id]) || { state: run ? 'waiting' : 'no run', attempt: 0 };
  const kind = wfKind(t);
  const job = wfJobOf(name, id, t);
  const act = async (what, path, body) => {
    try {
      await api('POST', '/runs/' + enc(run.run_id) + path, body);
      flash(what);
      if (after) after();
    } catch (e) { flash(what + ' failed: ' + e.message, true); }
  };
  const mark = h('select', { id: 'tp-mark-state' }, ['succeeded', 'failed', 'skipped'].map((x) => h('option', { value: x }, x)));
  const outs = Object.entries(st.outputs || {});
  const rows = [['Kind', kind], ['Runs', wfWhat(t)], ['Trigger rule', t.trigger_rule || WF_DEFAULT_RULE],
    ['Upstream', (t.upstream || []).join(', ') || '—'], ['State', badge(st.state)], ['Attempt', st.attempt ?? '—'],
    ['Started', msTime(st.started_ms)], ['Ended', msTime(st.ended_ms)],
    ['Duration', st.started_ms ? msDur(st.started_ms, st.ended_ms) : '—'], ['Reason', st.reason || '—']];
  if (kind === 'command' || kind === 'job') rows.splice(2, 0, ['Items', kind === 'job' ? 'every shard item of job ' + t.job : (t.shards || 1) + ' item(s)']);
  if (t.retries) rows.push(['Retries', t.retries]);
  /* The items: for a run ZooKeeper holds, its done nodes (every attempt,
   * each with its agent and execution id; an item still running shows when
   * it ends); for a run only history holds, the executions of the task's job
   * fired between the run's creation and its end (a second either side:
   * fire times are whole seconds). Each links to its execution's page. */
  const items = h('div', { id: 'tp-items' }, kind === 'external' ? h('div', { class: 'nodata' }, 'an external task runs nothing') : h('div', { class: 'muted' }, 'Loading…'));
  const openExec = (eid) => { if (eid) location.hash = '#/executions/' + encodeURIComponent(eid); };
  if (run && kind !== 'external' && run.source === 'zookeeper') {
    api('GET', '/runs/' + enc(run.run_id) + '/items?' + qs({ task: id }))
      .then((r) => items.replaceChildren(nodata(r.items, table([['Item', (x) => x.item], ['Attempt', (x) => x.attempt],
        ['Status', (x) => badge(x.status)], ['Agent', (x) => x.agent], ['Started', (x) => msTime(x.started_ms)],
        ['Duration', (x) => x.started_ms ? msDur(x.started_ms, x.ended_ms) : '—'], ['Reason', (x) => x.reason || '—']], r.items,
      (x) => openExec(x.exec_id))), st.state === 'running' || st.state === 'retrying' ? h('div', { class: 'muted' }, 'items still running show when they end') : ''))
      .catch((e) => items.replaceChildren(h('div', { class: 'nodata' }, 'items unavailable: ' + e.message)));
  } else if (run && kind !== 'external' && run.created_ms) {
    const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
    api('GET', '/executions?' + qs({ job, from: iso(run.created_ms - 1000), to: iso((run.ended_ms || Date.now()) + 1000), limit: 50 }))
      .then((r) => items.replaceChildren(nodata(r.executions, table([['Item', (x) => x.item], ['Status', (x) => badge(x.status)],
        ['Agent', (x) => x.agent], ['Attempt', (x) => x.attempt], ['Fired', (x) => when(x.fire_time)],
        ['Duration', (x) => x.duration_ms !== undefined ? x.duration_ms + ' ms' : '—']], r.executions,
      (x) => openExec(x.execution_id)))))
      .catch((e) => items.replaceChildren(h('div', { class: 'nodata' }, 'history unavailable: ' + e.message)));
  } else if (kind !== 'external') items.replaceChildren(h('div', { class: 'nodata' }, 'no run'));
  box.replaceChildren(h('div', { class: 'panel taskpanel', id: 'taskpanel', 'data-task': id, 'data-state': st.state },
    h('div', { class: 'tphead' }, h('h2', {}, id, ' ', badge(st.state)),
      h('button', { class: 'plain', id: 'tp-close', onclick: () => box.replaceChildren() }, '×')),
    run ? h('div', { class: 'muted' }, 'run ', run.run_id) : null,
    h('table', {}, h('tbody', {}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))))),
    h('h3', {}, 'Items in this run (executions)'), items,
    h('h3', {}, 'XCom outputs'),
    outs.length ? h('pre', { id: 'tp-outputs' }, outs.map(([item, o]) => 'item ' + item + ': ' + JSON.stringify(o, null, 2)).join('\n'))
      : h('div', { class: 'nodata' }, 'none'),
    h('div', { class: 'toolbar' },
      run && can('operator') ? [
        h('button', { id: 'tp-clear', onclick: () => act('Cleared ' + id, '/clear', { task: id, downstream: false }) }, 'Clear'),
        h('button', { id: 'tp-clear-down', class: 'plain', onclick: () => act('Cleared ' + id + ' and downstream', '/clear', { task: id, downstream: true }) }, 'Clear downstream'),
        mark, h('button', { id: 'tp-mark', class: 'plain', onclick: () => act('Marked ' + id + ' ' + mark.value, '/mark', { task: id, state: mark.value }) }, 'Mark')] : null,
      kind !== 'external' ? h('a', { href: '#/history', id: 'tp-history', onclick: () => { histView.job = job; } }, 'Execution history (' + job + ')') : null)));
}

/* ---------------------------------------------------------------- graph */

/* wfGraph: the SVG of a layout with pan (drag), zoom (wheel, buttons), fit and
 * search; returns {el, update(run), select(id), fit()}. onpick(id) on a click. */
function wfGraph(def, lay, onpick) {
  const tasks = def.tasks;
  const svg = s('svg', { class: 'wfgraph', id: 'wfgraph' });
  const world = s('g', { class: 'world' });
  const edgeG = s('g', { class: 'edges' });
  const nodeG = s('g', { class: 'nodes' });
  world.append(edgeG, nodeG);
  svg.append(s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' }))), world);
  const nodes = new Map();
  const edgesTo = new Map();
  for (const e of lay.edges) {
    const p = s('path', { class: 'edge', d: 'M' + e.points.map((q) => q.x.toFixed(1) + ' ' + q.y.toFixed(1)).join(' L'), 'marker-end': 'url(#arrow)',
      'data-from': e.from, 'data-to': e.to });
    edgeG.append(p);
    (edgesTo.get(e.to) || edgesTo.set(e.to, []).get(e.to)).push(p);
  }
  for (const [id, p] of lay.pos) {
    const t = tasks[id];
    const kind = wfKind(t);
    const rule = t.trigger_rule && t.trigger_rule !== WF_DEFAULT_RULE ? t.trigger_rule : '';
    const label = id.length > 15 ? id.slice(0, 14) + '…' : id;
    const stText = s('text', { x: WF_NODE_W - 8, y: 15, class: 'st', 'text-anchor': 'end' }, '');
    const meta = kind + (rule ? ' · ' + rule.replace(/_/g, ' ') : '');
    const g = s('g', { class: 'wfnode', 'data-task': id, 'data-state': '', 'data-kind': kind,
      transform: 'translate(' + (p.x - WF_NODE_W / 2).toFixed(1) + ',' + (p.y - WF_NODE_H / 2).toFixed(1) + ')' },
    s('title', {}, id + ' (' + kind + (rule ? ', ' + rule : '') + ')'),
    s('rect', { width: WF_NODE_W, height: WF_NODE_H, rx: 5 }),
    s('text', { x: 8, y: 15, class: 'name' }, label),
    s('text', { x: 8, y: 32, class: 'meta' }, meta.length > 30 ? meta.slice(0, 29) + '…' : meta),
    stText);
    nodes.set(id, { g, stText });
    nodeG.append(g);
  }
  let k = 1;
  let tx = 0;
  let ty = 0;
  const apply = () => world.setAttribute('transform', 'translate(' + tx.toFixed(1) + ',' + ty.toFixed(1) + ') scale(' + k.toFixed(4) + ')');
  const fit = () => {
    const W = svg.clientWidth || 1000;
    const H = svg.clientHeight || 560;
    k = Math.min(1.4, (W - 20) / Math.max(1, lay.width), (H - 20) / Math.max(1, lay.height));
    k = Math.max(k, 0.02);
    tx = (W - lay.width * k) / 2;
    ty = Math.max(10, (H - lay.height * k) / 2);
    apply();
  };
  const zoomAt = (f, cx, cy) => {
    const nk = Math.min(4, Math.max(0.02, k * f));
    tx = cx - (cx - tx) * (nk / k);
    ty = cy - (cy - ty) * (nk / k);
    k = nk;
    apply();
  };
  /* The task panel narrows the graph: keep the middle of the view where it was. */
  let lastW = 0;
  new ResizeObserver(() => {
    const W = svg.clientWidth;
    if (lastW && W && W !== lastW) {
      tx += (W - lastW) / 2;
      apply();
    }
    lastW = W || lastW;
  }).observe(svg);
  svg.addEventListener('wheel', (e) => {
    e.preventDefault();
    const r = svg.getBoundingClientRect();
    zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  let drag = null;
  svg.addEventListener('pointerdown', (e) => { drag = { x: e.clientX, y: e.clientY, tx, ty, moved: false }; });
  svg.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    if (!drag.moved) svg.setPointerCapture(e.pointerId);
    drag.moved = true;
    tx = drag.tx + dx;
    ty = drag.ty + dy;
    apply();
  });
  svg.addEventListener('pointerup', (e) => {
    const d = drag;
    drag = null;
    if (!d || d.moved) return;
    const n = e.target.closest && e.target.closest('g.wfnode');
    if (n) onpick(n.dataset.task);
  });
  let sel = null;
  const select = (id, center) => {
    if (sel) sel.g.classList.remove('selected');
    sel = nodes.get(id) || null;
    if (!sel) return;
    sel.g.classList.add('selected');
    if (center) {
      const p = lay.pos.get(id);
      k = Math.max(k, 0.9);
      tx = (svg.clientWidth || 1000) / 2 - p.x * k;
      ty = (svg.clientHeight || 560) / 2 - p.y * k;
      apply();
    }
  };
  const states = new Map();
  const update = (run) => {
    for (const [id, n] of nodes) {
      const st = run ? ((run.tasks[id] && run.tasks[id].state) || 'waiting') : '';
      if (states.get(id) === st) continue;
      states.set(id, st);
      n.g.setAttribute('data-state', st);
      n.g.setAttribute('class', 'wfnode' + (st ? ' st-' + st : '') + (sel === n ? ' selected' : ''));
      n.stText.textContent = st;
      for (const p of edgesTo.get(id) || []) p.setAttribute('class', st === 'skipped' ? 'edge skipped' : 'edge');
    }
  };
  const mark = (ids, cls) => {
    for (const n of nodes.values()) n.g.classList.remove(cls);
    for (const id of ids || []) if (nodes.has(id)) nodes.get(id).g.classList.add(cls);
  };
  return { el: svg, update, select, fit, zoomAt, mark, nodes };
}

function wfGraphTools(gr, tasks, onpick) {
  const search = h('input', { id: 'wf-search', placeholder: 'find a task', size: 18, list: 'wf-tasklist' });
  const found = h('span', { class: 'muted', id: 'wf-found' });
  const find = () => {
    const q = search.value.trim().toLowerCase();
    if (!q) return;
    const ids = Object.keys(tasks);
    const id = ids.find((x) => x.toLowerCase() === q) || ids.find((x) => x.toLowerCase().includes(q));
    found.textContent = id ? '' : 'no task matches';
    if (id) { gr.select(id, true); onpick(id); }
  };
  search.addEventListener('keydown', (e) => { if (e.key === 'Enter') find(); });
  const c = () => { const r = gr.el.getBoundingClientRect(); return [r.width / 2, r.height / 2]; };
  return h('div', { class: 'toolbar' }, search, h('button', { class: 'plain', id: 'wf-find', onclick: find }, 'Find'), found,
    h('button', { class: 'plain', id: 'wf-fit', onclick: () => gr.fit() }, 'Fit'),
    h('button', { class: 'plain', id: 'wf-zoomin', onclick: () => gr.zoomAt(1.25, ...c()) }, '+'),
    h('button', { class: 'plain', id: 'wf-zoomout', onclick: () => gr.zoomAt(0.8, ...c()) }, '−'));
}

async function pageWfGraph(name, runId) {
  const render = guard();
  const mine = routeSeq;
  const t0 = performance.now();
  /* The run is asked for at once (a run of 5,000 tasks takes the API about
   * a second): the graph is drawn meanwhile and coloured when it comes. */
  const runsP = api('GET', '/workflows/' + enc(name) + '/runs');
  const idP = runId ? Promise.resolve(runId) : runsP.then((rs) => rs[0] ? rs[0].run_id : null);
  const runP = idP.then((i) => i ? wfGetRun(i) : null).catch(() => null);
  /* The run is drawn with the definition it was created with (a later edit
   * may have added or removed tasks); a run only history holds has none
   * kept, so the current one is used. */
  const runDefP = idP.then((i) => i ? api('GET', '/runs/' + enc(i) + '/definition') : null).catch(() => null);
  const [w, runs, rd] = await Promise.all([api('GET', '/workflows/' + enc(name)), runsP, runDefP]);
  const own = !!(rd && rd.workflow && rd.workflow.tasks);
  const def = own ? rd.workflow : w.workflow;
  const changed = own && JSON.stringify(rd.workflow.tasks) !== JSON.stringify(w.workflow.tasks);
  const id = runId || (runs[0] && runs[0].run_id) || null;
  let run = null;
  const lay = wfLayout(def.tasks);
  const side = h('div', { class: 'wfside', id: 'wf-side' });
  let picked = null;
  const pick = (tid) => { picked = tid; gr.select(tid); wfTaskPanel(side, name, def, run, tid, () => poll()); };
  const gr = wfGraph(def, lay, pick);
  const sel = h('select', { id: 'wf-run', onchange: () => { location.hash = '#/workflows/' + enc(name) + '/graph/' + enc(sel.value); } },
    runs.length ? runs.map((r) => h('option', { value: r.run_id, selected: r.run_id === id }, r.logical_time + ' · ' + r.state + ' · ' + r.trigger))
      : h('option', { value: '' }, 'no runs yet'));
  const runState = h('span', { id: 'wf-runstate' });
  const showRun = () => {
    runState.replaceChildren(run ? badge(run.state) : '', ' ', run ? h('a', { href: '#/runs/' + enc(run.run_id), id: 'wf-runlink' }, 'run page') : '');
    runState.dataset.state = run ? run.state : '';
    const o = run && sel.selectedOptions[0];
    if (o) o.textContent = run.logical_time + ' · ' + run.state + ' · ' + run.trigger;
  };
  render(h('h1', {}, 'Workflow ', name), wfTabs(name, 'graph'),
    h('div', { class: 'toolbar' }, h('label', {}, 'Run ', sel), runState,
      h('span', { class: 'muted' }, Object.keys(def.tasks).length + ' tasks · laid out by ' + lay.engine),
      changed ? h('span', { class: 'muted', id: 'wf-olddef' }, ' · drawn with this run\'s own definition (the workflow changed since)') : ''),
    wfGraphTools(gr, def.tasks, pick),
    h('div', { class: 'wfgraphbox' }, gr.el, side));
  gr.fit();
  gr.el.dataset.def = own ? 'run' : 'current';
  gr.el.dataset.paintMs = String(Math.round(performance.now() - t0));
  const got = await runP;
  if (mine !== routeSeq) return;
  run = got ? got.run : null;
  gr.update(run);
  showRun();
  gr.el.dataset.statesMs = String(Math.round(performance.now() - t0));
  const poll = async () => {
    if (!id) return;
    const r = await wfGetRun(id);
    if (!r.changed && r.run === run) return; /* a 304 for the run shown (not for one it failed to get) */
    run = r.run;
    gr.update(run);
    showRun();
    if (picked && !side.querySelector('select:focus')) wfTaskPanel(side, name, def, run, picked, () => poll());
  };
  wfEvery(1500, poll);
}

/* ---------------------------------------------------------------- grid */

const WF_ROW_H = 22;
const WF_CELL_W = 26;

async function pageWfGrid(name) {
  const render = guard();
  const t0 = performance.now();
  const [w, allRuns] = await Promise.all([api('GET', '/workflows/' + enc(name)), api('GET', '/workflows/' + enc(name) + '/runs')]);
  const def = w.workflow;
  const runs = allRuns.slice(0, 25);
  const order = wfTopo(def.tasks).order;
  const data = new Map(); /* run id -> run */
  const side = h('div', { class: 'wfside', id: 'wf-side' });
  const body = h('div', { class: 'gridbody', style: 'height:' + (order.length * WF_ROW_H) + 'px' });
  const scroller = h('div', { class: 'gridscroll', id: 'wf-grid' }, body);
  const head = h('div', { class: 'gridhead' }, h('div', { class: 'gridlabel' }, order.length + ' tasks × ' + runs.length + ' runs'),
    runs.map((r) => h('a', { class: 'gridcol st-' + r.state, href: '#/runs/' + enc(r.run_id), 'data-run': r.run_id, title: r.logical_time + ' · ' + r.state },
      r.logical_time.slice(5, 10))));
  let first = -1;
  let last = -1;
  let picked = null;
  const openPanel = (tid, rid) => {
    picked = { tid, rid };
    wfTaskPanel(side, name, def, data.get(rid) || null, tid, () => refresh(rid));
  };
  const cell = (tid, r) => {
    const run = data.get(r.run_id);
    const t = run && run.tasks[tid];
    const st = run ? (t ? t.state : 'waiting') : 'loading';
    return h('div', { class: 'gcell st-' + st, 'data-task': tid, 'data-run': r.run_id, 'data-state': st });
  };
  /* Only rows [first, last) are in the page; a scroll adds the rows that
   * came into range and drops those that left, so a frame builds a few rows. */
  const shown = new Map(); /* row index -> element */
  const row = (i) => {
    const tid = order[i];
    return h('div', { class: 'grow', style: 'top:' + (i * WF_ROW_H) + 'px', 'data-task': tid },
      h('div', { class: 'gridlabel', title: tid + ' (' + wfKind(def.tasks[tid]) + ')' }, tid), runs.map((r) => cell(tid, r)));
  };
  const draw = (force) => {
    const top = scroller.scrollTop;
    const f = Math.max(0, Math.floor(top / WF_ROW_H) - 10);
    const l = Math.min(order.length, Math.ceil((top + scroller.clientHeight) / WF_ROW_H) + 10);
    if (!force && f === first && l === last) return;
    first = f;
    last = l;
    if (force) {
      shown.clear();
      body.replaceChildren();
    }
    for (const [i, el] of shown) {
      if (i < f || i >= l) { el.remove(); shown.delete(i); }
    }
    const add = document.createDocumentFragment();
    for (let i = f; i < l; i++) {
      if (shown.has(i)) continue;
      const el = row(i);
      shown.set(i, el);
      add.append(el);
    }
    body.append(add);
  };
  let raf = 0;
  scroller.addEventListener('scroll', () => { if (!raf) raf = requestAnimationFrame(() => { raf = 0; draw(false); }); });
  body.addEventListener('click', (e) => {
    const c = e.target.closest('.gcell');
    if (c) openPanel(c.dataset.task, c.dataset.run);
  });
  const tip = h('div', { class: 'gridtip', id: 'wf-gridtip' });
  body.addEventListener('mouseover', (e) => {
    const c = e.target.closest('.gcell');
    if (!c) { tip.style.display = 'none'; return; }
    const run = data.get(c.dataset.run);
    const t = run && run.tasks[c.dataset.task];
    tip.textContent = c.dataset.task + ' · ' + (run ? run.logical_time : c.dataset.run) + ' · ' + c.dataset.state +
      (t && t.started_ms ? ' · started ' + msTime(t.started_ms) + (t.ended_ms ? ', ended ' + msTime(t.ended_ms) + ' (' + msDur(t.started_ms, t.ended_ms) + ')' : '') : '') +
      (t && t.attempt > 1 ? ' · attempt ' + t.attempt : '');
    tip.style.display = 'block';
    const r = c.getBoundingClientRect();
    tip.style.left = (r.right + window.scrollX + 6) + 'px';
    tip.style.top = (r.top + window.scrollY - 2) + 'px';
  });
  scroller.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
  render(h('h1', {}, 'Workflow ', name), wfTabs(name, 'grid'),
    runs.length ? h('div', { class: 'wfgraphbox' }, h('div', { class: 'gridwrap' }, head, scroller), side)
      : h('div', { class: 'nodata' }, 'no runs in ZooKeeper yet'), tip);
  draw(true);
  scroller.dataset.paintMs = String(Math.round(performance.now() - t0));
  /* Runs arrive a few at a time; each paints its column when it comes. */
  const refresh = async (rid) => {
    const r = await wfGetRun(rid);
    if (!r.changed && data.get(rid) === r.run) return false;
    data.set(rid, r.run);
    const col = head.querySelector('[data-run="' + CSS.escape(rid) + '"]');
    if (col) col.className = 'gridcol st-' + r.run.state;
    if (picked && picked.rid === rid) openPanel(picked.tid, rid);
    return true;
  };
  /* The newest run first, alone (each read of a big run takes the API a
   * while, and they share its workers), then the others three at a time. */
  const queue = runs.map((r) => r.run_id);
  const mine = routeSeq;
  if (queue.length && await refresh(queue.shift()).catch(() => false)) draw(true);
  await Promise.all([0, 1, 2].map(async () => {
    while (queue.length && mine === routeSeq) {
      const rid = queue.shift();
      if (await refresh(rid).catch(() => false)) draw(true);
    }
  }));
  scroller.dataset.loadedMs = String(Math.round(performance.now() - t0));
  wfEvery(2000, async () => {
    let any = false;
    for (const r of runs) {
      const cur = data.get(r.run_id);
      if (cur && WF_ENDED.has(cur.state) && !(picked && picked.rid === r.run_id)) continue;
      if (await refresh(r.run_id).catch(() => false)) any = true;
    }
    if (any) draw(true);
  });
}

/* ---------------------------------------------------------------- run */

/* wfGantt: the tasks that started, by start time, as bars on uPlot's time
 * axis (uPlot draws the axes, grid and cursor; the bars in its draw hook). */
function wfGantt(box, run, maxRows) {
  if (!window.uPlot) { box.append(h('div', { class: 'nodata' }, 'chart library missing (run scripts/setup)')); return; }
  const rows = Object.entries(run.tasks).filter(([, t]) => t.started_ms || t.ended_ms)
    .sort((a, b) => (a[1].started_ms || a[1].ended_ms) - (b[1].started_ms || b[1].ended_ms)).slice(0, maxRows);
  if (!rows.length) { box.append(h('div', { class: 'nodata' }, 'no task has started')); return; }
  const now = Date.now();
  const x0 = Math.min(...rows.map(([, t]) => t.started_ms || t.ended_ms)) / 1000;
  const x1 = Math.max(...rows.map(([, t]) => t.ended_ms || now)) / 1000;
  const colors = { succeeded: '#3c9a63', failed: '#c0392b', upstream_failed: '#e67e22', running: '#3457d5', sensing: '#6b8be0',
    retrying: '#d4a017', skipped: '#b0b6c3', cancelled: '#7d5ba6', queued: '#9aa3b5' };
  const names = rows.map(([id]) => id);
  const u = new uPlot({
    width: Math.max(400, box.clientWidth || 900), height: 60 + rows.length * 20,
    legend: { show: false }, cursor: { y: false, points: { show: false } },
    scales: { x: { time: true, range: () => [x0, Math.max(x1, x0 + 1)] }, y: { range: [0, rows.length], dir: -1 } },
    series: [{}, { stroke: 'transparent', points: { show: false } }],
    axes: [{}, { size: 150, splits: () => names.map((_, i) => i + 0.5), values: (_, sp) => sp.map((v) => names[Math.floor(v)] || ''), grid: { show: false } }],
    hooks: { draw: [(p) => {
      const ctx = p.ctx;
      rows.forEach(([, t], i) => {
        const a = p.valToPos((t.started_ms || t.ended_ms) / 1000, 'x', true);
        const b = p.valToPos((t.ended_ms || now) / 1000, 'x', true);
        const y0 = p.valToPos(i + 0.85, 'y', true);
        const y1 = p.valToPos(i + 0.15, 'y', true);
        ctx.fillStyle = colors[t.state] || '#9aa3b5';
        ctx.fillRect(a, y0, Math.max(2, b - a), y1 - y0);
      });
    }] },
  }, [[x0, Math.max(x1, x0 + 1)], [null, null]], box);
  return u;
}

async function pageRun(id) {
  const render = guard();
  const { run } = await wfGetRun(id);
  const name = run.workflow;
  const gantt = h('div', { id: 'gantt' });
  const n = Object.keys(run.tasks).length;
  const rows = [['Run', run.run_id], ['Workflow', h('a', { href: '#/workflows/' + enc(name) + '/graph/' + enc(id) }, name + ' (graph)')],
    ['Logical time', run.logical_time], ['Trigger', run.trigger || '—'],
    ['Params', Object.keys(run.params || {}).length ? Object.entries(run.params).map(([k, v]) => k + '=' + v).join(', ') : '—'],
    ['State', h('span', { id: 'run-state', 'data-state': run.state }, badge(run.state))], ['Created', msTime(run.created_ms)],
    ['Started', msTime(run.started_ms)], ['Ended', msTime(run.ended_ms)],
    ['Duration', h('span', { id: 'run-duration' }, run.started_ms ? msDur(run.started_ms, run.ended_ms) : '—')], ['Tasks', n]];
  const counts = {};
  for (const t of Object.values(run.tasks)) counts[t.state] = (counts[t.state] || 0) + 1;
  render(h('h1', {}, 'Run ', run.run_id, ' ', badge(run.state)),
    h('div', { class: 'toolbar' },
      can('operator') && !WF_ENDED.has(run.state) ? h('button', { class: 'danger', id: 'run-cancel', onclick: async () => {
        if (!confirm('Cancel run ' + id + '?')) return;
        try { await api('POST', '/runs/' + enc(id) + '/cancel'); flash('Cancelled ' + id); wfRunCache.delete(id); route(); } catch (e) { flash('Cancel failed: ' + e.message, true); }
      } }, 'Cancel run') : null,
      h('a', { href: '#/workflows/' + enc(name) + '/graph/' + enc(id) }, 'Graph'), h('a', { href: '#/workflows/' + enc(name) + '/grid' }, 'Grid')),
    h('div', { class: 'two' }, panel('Run', h('table', {}, h('tbody', {}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))))),
      panel('Tasks by state', h('table', {}, h('tbody', {}, Object.entries(counts).map(([k, v]) => h('tr', {}, h('th', {}, badge(k)), h('td', {}, v))))))),
    panel('Gantt (tasks that started, by start' + (n > 300 ? ', the first 300' : '') + ')', gantt));
  wfGantt(gantt, run, 300);
  if (!WF_ENDED.has(run.state)) wfEvery(2000, async () => { const r = await wfGetRun(id); if (r.changed) route(); });
}

/* ---------------------------------------------------------------- backfill */

async function pageWfBackfill(name) {
  const render = guard();
  const w = await api('GET', '/workflows/' + enc(name));
  const from = h('input', { id: 'bf-from', size: 28, placeholder: '2026-12-01T00:00:00+08:00' });
  const to = h('input', { id: 'bf-to', size: 28, placeholder: '2026-12-03T00:00:00+08:00' });
  const rp = h('select', { id: 'bf-reprocess' }, [['none', 'none: only times without a run'], ['failed', 'failed: also re-run failed runs'], ['all', 'all: re-run every ended run']]
    .map(([v, l]) => h('option', { value: v }, l)));
  const err = h('div', { class: 'fielderr', id: 'bf-err' });
  const out = h('div', { id: 'bf-out' });
  let planned = null; /* the inputs of the dry run shown: only those may be created */
  const inputs = () => JSON.stringify([from.value.trim(), to.value.trim(), rp.value]);
  const go = h('button', { id: 'bf-go', disabled: true, onclick: () => send(false) }, 'Create the runs');
  const send = async (dry) => {
    err.textContent = '';
    if (!dry && planned !== inputs()) { err.textContent = 'the range changed since the dry run: run it again first'; return; }
    try {
      const r = await api('POST', '/workflows/' + enc(name) + '/backfill', { from: from.value.trim(), to: to.value.trim(), reprocess: rp.value, dry_run: dry });
      const act = r.runs.filter((x) => x.action !== 'skip').length;
      out.replaceChildren(h('p', { id: 'bf-summary' }, (dry ? 'Dry run: ' + act + ' of ' + r.runs.length + ' logical times would get a run.'
        : 'Queued ' + act + ' of ' + r.runs.length + ' logical times; runs are created as slots free up (max_active_runs).')),
      nodata(r.runs, h('table', { id: 'bf-plan' }, h('thead', {}, h('tr', {}, ['Logical time', 'Run', 'Action', 'State now'].map((c) => h('th', {}, c)))),
        h('tbody', {}, r.runs.map((x) => h('tr', { 'data-logical': x.logical_time, 'data-action': x.action },
          h('td', {}, x.logical_time), h('td', {}, x.run_id), h('td', {}, badge(x.action)), h('td', {}, x.state || '—')))))));
      planned = dry ? inputs() : null;
      go.disabled = !dry || !act;
      if (!dry) flash('Backfill of ' + name + ' queued');
    } catch (e) { err.textContent = (e.body.field ? e.body.field + ': ' : '') + e.message; go.disabled = true; planned = null; }
  };
  [from, to, rp].forEach((el) => el.addEventListener('input', () => { go.disabled = planned !== inputs(); }));
  render(h('h1', {}, 'Workflow ', name), wfTabs(name, 'backfill'),
    h('p', { class: 'muted' }, 'Schedule: ' + (w.workflow.cron ? w.workflow.cron + ' in ' + w.workflow.timezone : 'none (a workflow without cron has nothing to backfill)') +
      '. Times are ISO 8601 with an offset (or Z). The dry run lists the logical times first; nothing is created until you confirm.'),
    h('form', { class: 'grid', id: 'bf-form', onsubmit: (e) => { e.preventDefault(); send(true); } },
      h('label', { for: 'bf-from' }, 'from'), h('div', {}, from), h('label', { for: 'bf-to' }, 'to'), h('div', {}, to),
      h('label', { for: 'bf-reprocess' }, 'reprocess'), h('div', {}, rp),
      h('div', {}), h('div', {}, can('operator') ? [h('button', { type: 'submit', id: 'bf-dry' }, 'Dry run'), ' ', go] : h('span', { class: 'muted' }, 'operators only'), err)),
    out);
}

/* ---------------------------------------------------------------- editor */

async function pageWfEdit(name) {
  const render = guard();
  let version = null;
  let def = { name: '', description: '', cron: '', timezone: 'UTC', params: {}, tasks: { extract: { command: 'true' }, load: { command: 'true', upstream: ['extract'] } } };
  if (name) {
    const w = await api('GET', '/workflows/' + enc(name));
    version = w.version;
    def = w.workflow;
  }
  const text = h('textarea', { class: 'raw', id: 'wf-json', spellcheck: 'false' }, JSON.stringify(def, null, 2));
  const err = h('div', { class: 'fielderr', id: 'wf-editerr' });
  const prev = h('div', { class: 'wfpreview', id: 'wf-preview' });
  const info = h('span', { class: 'muted', id: 'wf-version' }, version !== null ? 'editing version ' + version : 'new workflow');
  let shown = null; /* the preview's graph, to mark the tasks an error names */
  /* where: the offset of the member a field path names ("tasks.x.upstream",
   * "tasks.x.upstream[0]") in the text, each key looked for after the one
   * before; -1 when not found. */
  const where = (field) => {
    let at = 0;
    for (const key of String(field || '').replace(/\[\d+\]/g, '').split('.').filter(Boolean)) {
      const m = new RegExp(JSON.stringify(key).replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '\\s*:', 'g');
      m.lastIndex = at;
      const hit = m.exec(text.value);
      if (!hit) return -1;
      at = hit.index;
    }
    return field ? at : -1;
  };
  const showErr = (field, msg, cycle) => {
    const at = msg ? where(field) : -1;
    const line = at < 0 ? 0 : text.value.slice(0, at).split('\n').length;
    err.replaceChildren(msg ? (field ? field + ': ' : '') + msg + (line ? ' (line ' + line + ')' : '') : '');
    err.dataset.line = line ? String(line) : '';
    err.dataset.field = field || '';
    if (shown) shown.mark(cycle || [], 'cycle');
  };
  const preview = () => {
    let o;
    try { o = JSON.parse(text.value); } catch (e) { showErr('', 'JSON: ' + e.message); return; }
    const bad = wfCheck(o);
    if (o && o.tasks && typeof o.tasks === 'object' && !Array.isArray(o.tasks) && !(bad && bad.field.startsWith('tasks.'))) {
      const n = Object.keys(o.tasks).length;
      if (n <= WF_DAGRE_MAX) {
        const lay = wfLayout(o.tasks);
        if (lay) {
          shown = wfGraph(o, lay, () => {});
          prev.replaceChildren(shown.el);
          shown.fit();
        }
      } else prev.replaceChildren(h('div', { class: 'nodata' }, n + ' tasks: too many to preview as you type'));
    }
    showErr(bad ? bad.field : '', bad ? bad.error : '', bad && bad.cycle);
  };
  text.addEventListener('input', debounce(preview, 250));
  const save = async () => {
    let o;
    try { o = JSON.parse(text.value); } catch (e) { showErr('', 'JSON: ' + e.message); return; }
    const nm = name || (o && o.name);
    if (!nm) { showErr('name', 'is required'); return; }
    try {
      const r = await api('PUT', '/workflows/' + enc(nm), o, version !== null ? { 'If-Match': String(version) } : {});
      flash((r.created ? 'Created ' : 'Saved ') + nm + ' (version ' + r.version + ')');
      location.hash = '#/workflows/' + enc(nm);
    } catch (e) {
      if (e.status === 409) {
        err.replaceChildren(h('span', { class: 'conflict', id: 'wf-conflict' }, 'Version conflict: ' + e.message +
          '. Someone saved it since you opened it; your text is kept here. '),
        h('button', { class: 'plain', id: 'wf-reload', onclick: () => route() }, 'Load the stored version (drops your edits)'));
        return;
      }
      const m = /^cycle (.*)$/.exec(e.message);
      showErr(e.body.field, e.message, m ? m[1].split(' -> ') : null);
      const at = where(e.body.field);
      if (at >= 0) { text.focus(); text.setSelectionRange(at, at + e.body.field.split('.').pop().replace(/\[\d+\]$/, '').length + 2); }
    }
  };
  render(h('h1', {}, name ? 'Edit workflow ' + name : 'New workflow'), name ? wfTabs(name, 'edit') : null,
    h('div', { class: 'toolbar' }, h('button', { id: 'wf-save', onclick: save }, 'Save'), info,
      h('a', { href: name ? '#/workflows/' + enc(name) : '#/workflows' }, 'Cancel')),
    err, h('div', { class: 'two' }, text, panel('Preview', prev)));
  preview();
}
