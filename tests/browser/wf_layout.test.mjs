// tests/browser/wf_layout.test.mjs: the workflow pages' pure parts (console/web/wf.js)
// under node, without a browser: topological order, the cycle named, the
// checks made while typing, and both layouts (dagre and the page's own
// layering at 5,000 tasks) giving every task a place of its own with edges
// left to right. Run by tests/integration/workflow_web.sh; env: WEB (console/web).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const web = process.env.WEB;
const ctx = { window: {}, console, structuredClone, performance };
ctx.window = ctx;
vm.createContext(ctx);
vm.runInContext(readFileSync(web + '/vendor/dagre.min.js', 'utf8') + ';window.dagre = dagre;', ctx);
// wf.js's top-level declarations, then its functions handed out for the tests
vm.runInContext(readFileSync(web + '/wf.js', 'utf8') +
  ';window.t = { wfTopo, wfCheck, wfLayout, wfLayered, WF_DAGRE_MAX, WF_NODE_W, WF_NODE_H };', ctx);
const { wfTopo, wfCheck, wfLayout, WF_DAGRE_MAX, WF_NODE_W, WF_NODE_H } = ctx.t;

// layered: `layers` layers of `width` tasks, each after two of the layer before
function layered(layers, width) {
  const tasks = {};
  for (let i = 0; i < layers * width; i++) {
    const l = Math.floor(i / width);
    const up = l ? [...new Set([(l - 1) * width + (i % width), (l - 1) * width + ((i * 7) % width)])].map((j) => 't' + j) : [];
    tasks['t' + i] = { command: 'true', upstream: up };
  }
  return tasks;
}

function checkLayout(tasks, lay) {
  const ids = Object.keys(tasks);
  assert.equal(lay.pos.size, ids.length);
  // no two nodes overlap: a column's nodes are a node's height apart, and
  // columns a node's width apart
  const cols = new Map();
  for (const id of ids) {
    const p = lay.pos.get(id);
    const x = Math.round(p.x);
    (cols.get(x) || cols.set(x, []).get(x)).push(p.y);
  }
  for (const [x, ys] of cols) {
    ys.sort((a, b) => a - b);
    for (let i = 1; i < ys.length; i++) assert.ok(ys[i] - ys[i - 1] >= WF_NODE_H, 'overlap in the column at x=' + x);
  }
  const xs = [...cols.keys()].sort((a, b) => a - b);
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i] - xs[i - 1] >= WF_NODE_W, 'columns overlap at x=' + xs[i]);
  for (const id of ids) {
    for (const u of tasks[id].upstream || []) {
      assert.ok(lay.pos.get(u).x + WF_NODE_W / 2 <= lay.pos.get(id).x - WF_NODE_W / 2, u + ' is not left of ' + id);
    }
  }
  for (const p of lay.pos.values()) {
    assert.ok(p.x - WF_NODE_W / 2 >= -1 && p.x + WF_NODE_W / 2 <= lay.width + 1, 'x out of the drawing');
    assert.ok(p.y - WF_NODE_H / 2 >= -1 && p.y + WF_NODE_H / 2 <= lay.height + 1, 'y out of the drawing');
  }
  assert.equal(lay.edges.length, ids.reduce((a, id) => a + (tasks[id].upstream || []).length, 0));
}

test('topological order: upstream first, every task once', () => {
  const tasks = { c: { upstream: ['a', 'b'] }, a: {}, b: { upstream: ['a'] }, d: {} };
  const { order, cycle } = wfTopo(tasks);
  assert.deepEqual([...order], ['a', 'd', 'b', 'c']);
  assert.equal(cycle, undefined);
});

test('a cycle is named along its edges, and only its tasks', () => {
  const tasks = { w: {}, x: { upstream: ['z'] }, y: { upstream: ['x'] }, z: { upstream: ['y'] }, v: { upstream: ['x'] } };
  const { cycle } = wfTopo(tasks);
  assert.equal(cycle.length, 4);
  assert.equal(cycle[0], cycle[3]);
  assert.deepEqual([...cycle.slice(0, 3)].sort(), ['x', 'y', 'z']);
  for (let i = 1; i < cycle.length; i++) assert.ok(tasks[cycle[i]].upstream.includes(cycle[i - 1]), cycle.join(' -> '));
  const self = wfTopo({ s: { upstream: ['s'] } });
  assert.deepEqual([...self.cycle], ['s', 's']);
});

test('the checks made while typing', () => {
  const cases = [
    [[], { field: '', error: 'must be a JSON object' }],
    [{ tasks: [] }, { field: 'tasks', error: 'must be an object of tasks' }],
    [{ tasks: { a: 3 } }, { field: 'tasks.a', error: 'must be an object' }],
    [{ tasks: { a: { upstream: ['b'] } } }, { field: 'tasks.a.upstream', error: 'unknown task "b"' }],
    [{ tasks: { a: {}, b: { upstream: ['a'] } } }, null],
  ];
  for (const [def, want] of cases) {
    const got = wfCheck(def);
    assert.deepEqual(got && { field: got.field, error: got.error }, want, JSON.stringify(def));
  }
  // a cycle of two, named from either end
  const got = wfCheck({ tasks: { a: { upstream: ['b'] }, b: { upstream: ['a'] } } });
  assert.equal(got.field, 'tasks');
  assert.match(got.error, /^cycle (a -> b -> a|b -> a -> b)$/);
});

test('dagre lays out a small workflow left to right', () => {
  const tasks = layered(5, 6);
  const lay = wfLayout(tasks);
  assert.equal(lay.engine, 'dagre');
  checkLayout(tasks, lay);
});

test('5,000 tasks: the page\'s own layering, fast, every task placed', () => {
  const tasks = layered(50, 100);
  assert.ok(Object.keys(tasks).length > WF_DAGRE_MAX);
  const t0 = performance.now();
  const lay = wfLayout(tasks);
  const ms = performance.now() - t0;
  assert.equal(lay.engine, 'layered');
  checkLayout(tasks, lay);
  assert.ok(ms < 1500, 'layout took ' + ms.toFixed(0) + ' ms');
});
