// tests/browser/workflow.test.mjs: the workflow pages in headless Chromium
// (Debian's chromium driven by playwright-core, node's test runner). Run by
// tests/integration/workflow_web.sh against its console and real agent; env:
// CONSOLE_URL, ADMIN_PASSWORD, PLAYWRIGHT_CORE, ARTIFACTS (screenshots),
// WORKDIR (a directory the agent's tasks may write in).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const url = process.env.CONSOLE_URL;
const shots = process.env.ARTIFACTS;
const LONG = { timeout: 60000 };
let browser;
let page;
const runPolls = { c200: 0, c304: 0 };

// flaky fails its first attempt (it leaves a mark) and succeeds once cleared;
// route follows "full" only, so delta is skipped and flaky runs by its rule.
const flow = {
  name: 'flow', cron: '0 0 1 * * ?', timezone: 'Asia/Shanghai',
  params: { region: 'cn', mark: process.env.WORKDIR + '/flaky.mark' },
  tasks: {
    a: { job: 'wfjob' },
    b: { command: 'printf \'{"region":"%s"}\' "$SHARDCRON_PARAM_region" > "$SHARDCRON_XCOM_OUT"', upstream: ['a'] },
    route: { branch: 'echo full', upstream: ['b'] },
    full: { command: 'true', upstream: ['route'] },
    delta: { command: 'true', upstream: ['route'] },
    flaky: { command: 'test -f "$SHARDCRON_PARAM_mark" || { touch "$SHARDCRON_PARAM_mark"; exit 3; }',
      upstream: ['full', 'delta'], trigger_rule: 'none_failed_min_one_success' },
    report: { command: 'true', upstream: ['flaky'] },
  },
};

const stateOf = (id) => page.getAttribute('g.wfnode[data-task="' + id + '"]', 'data-state');

before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 950 } });
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => { throw e; });
  page.on('response', (r) => {
    if (!/\/api\/v1\/runs\/[^/]+$/.test(r.url())) return;
    if (r.status() === 304) runPolls.c304++;
    else if (r.status() === 200) runPolls.c200++;
  });
  await page.goto(url + '/');
  await page.fill('#username', 'admin');
  await page.fill('#password', process.env.ADMIN_PASSWORD);
  await page.click('#login');
  await page.waitForSelector('#jobs-enabled');
});

after(async () => { if (browser) await browser.close(); });

test('a workflow created in the editor, the graph previewed as it is typed', async () => {
  await page.goto(url + '/#/newworkflow');
  await page.waitForSelector('#wf-preview g.wfnode[data-task="load"]');
  await page.fill('#wf-json', JSON.stringify(flow, null, 2));
  await page.waitForSelector('#wf-preview g.wfnode[data-task="flaky"]');
  assert.equal(await page.locator('#wf-preview g.wfnode').count(), 7);
  assert.equal(await page.textContent('#wf-editerr'), '');
  await page.click('#wf-save');
  await page.waitForURL(/#\/workflows\/flow$/);
  await page.waitForSelector('#flash:has-text("Created flow (version 0)")');
  // no run yet: the graph shows the tasks without states, kinds and rules on them
  await page.waitForSelector('g.wfnode[data-task="route"][data-kind="branch"]');
  assert.match(await page.textContent('g.wfnode[data-task="flaky"] text.meta'), /none failed min one/);
  assert.equal(await page.textContent('g.wfnode[data-task="full"] text.meta'), 'command');
});

test('trigger from the list with a param; the run followed to its end on the graph', async () => {
  await page.goto(url + '/#/workflows');
  await page.waitForSelector('#wftable tr[data-workflow="flow"] td.next:has-text("+08:00")');
  // disable and enable it again from the list
  await page.click('#wftable tr[data-workflow="flow"] .wf-toggle');
  await page.waitForSelector('#flash div:text-is("Disabled flow")');
  await page.waitForSelector('#wftable tr[data-workflow="flow"] .badge.disabled');
  assert.equal(await page.textContent('#wftable tr[data-workflow="flow"] td.next'), '—'); // no next fire while disabled
  await page.click('#wftable tr[data-workflow="flow"] .wf-toggle');
  await page.waitForSelector('#flash div:text-is("Enabled flow")');
  await page.waitForSelector('#wftable tr[data-workflow="flow"] .badge.enabled');
  await page.waitForSelector('#wftable tr[data-workflow="flow"] td.next:has-text("+08:00")');
  await page.click('#wftable tr[data-workflow="flow"] .wf-trigger');
  await page.waitForSelector('#trig-param-region');
  assert.equal(await page.inputValue('#trig-param-region'), 'cn'); // the definition's default
  await page.fill('#trig-param-region', 'eu');
  await page.click('#trig-go');
  await page.waitForURL(/#\/workflows\/flow\/graph\/flow%40\d{8}T\d{6}Z$/);
  await page.evaluate(() => { window.notReloaded = true; });
  await page.waitForSelector('#wf-runstate[data-state="failed"]', LONG);
  const want = { a: 'succeeded', b: 'succeeded', route: 'succeeded', full: 'succeeded', delta: 'skipped',
    flaky: 'failed', report: 'upstream_failed' };
  for (const [id, st] of Object.entries(want)) assert.equal(await stateOf(id), st, id);
  // the edge into the branch's skipped task is drawn as skipped; the chosen one is not
  assert.equal(await page.getAttribute('path.edge[data-from="route"][data-to="delta"]', 'class'), 'edge skipped');
  assert.equal(await page.getAttribute('path.edge[data-from="route"][data-to="full"]', 'class'), 'edge');
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was reloaded');
  // The page polled the run with If-None-Match: unchanged answers are 304s.
  const deadline = Date.now() + 15000;
  while (runPolls.c304 === 0 && Date.now() < deadline) await page.waitForTimeout(300);
  assert.ok(runPolls.c304 > 0, 'no 304 among ' + runPolls.c200 + ' run polls');
  await page.screenshot({ path: shots + '/graph-failed.png', fullPage: true });
  // zoom in, drag the view, zoom with the wheel; Fit puts it back
  const view = () => page.getAttribute('#wfgraph g.world', 'transform');
  const scale = async () => Number(/scale\(([\d.]+)\)/.exec(await view())[1]);
  const fitted = await view();
  const k0 = await scale();
  await page.click('#wf-zoomin');
  assert.ok(await scale() > k0 * 1.2, await view());
  const box = await page.locator('#wfgraph').boundingBox();
  await page.mouse.move(box.x + 8, box.y + 8);
  await page.mouse.down();
  await page.mouse.move(box.x + 108, box.y + 58, { steps: 5 });
  await page.mouse.up();
  const dragged = /translate\(([-\d.]+),([-\d.]+)\)/.exec(await view());
  const before = /translate\(([-\d.]+),([-\d.]+)\)/.exec(fitted);
  assert.ok(Math.abs(Number(dragged[2]) - Number(before[2])) > 20, 'drag did not pan: ' + await view());
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, 400);
  assert.ok(await scale() < k0 * 1.25, 'the wheel did not zoom out: ' + await view());
  await page.click('#wf-fit');
  assert.equal(await view(), fitted);
  // b's panel: its XCom output carries the param given at the trigger
  await page.click('g.wfnode[data-task="b"]');
  await page.waitForSelector('#taskpanel[data-task="b"] #tp-outputs:has-text("eu")');
  assert.match(await page.textContent('#taskpanel'), /SHARDCRON_PARAM_region/);
});

test('clearing the failed task with its downstream runs it again', async () => {
  await page.fill('#wf-search', 'flak');
  await page.press('#wf-search', 'Enter');
  await page.waitForSelector('#taskpanel[data-task="flaky"][data-state="failed"]');
  assert.match(await page.textContent('#taskpanel'), /item 0 failed|exit/);
  await page.click('#tp-clear-down');
  await page.waitForSelector('#flash:has-text("Cleared flaky and downstream")');
  await page.waitForSelector('#wf-runstate[data-state="succeeded"]', LONG);
  assert.equal(await stateOf('flaky'), 'succeeded');
  assert.equal(await stateOf('report'), 'succeeded');
  assert.equal(await stateOf('delta'), 'skipped');
  await page.waitForSelector('#taskpanel[data-task="flaky"][data-state="succeeded"]');
  assert.match(await page.textContent('#taskpanel tr:has(th:text-is("Attempt")) td'), /^2$/);
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was reloaded');
  // Its item's two attempts in this run, from the run's done nodes: the
  // failure (exit 3) and the success, on the agent w1; each opens its
  // execution in history (written by the agent's history writer).
  const deadline = Date.now() + 30000;
  for (;;) {
    await page.click('g.wfnode[data-task="flaky"]');
    try {
      await page.waitForSelector('#tp-items tbody tr:has(.badge.failed)', { timeout: 1000 });
      await page.waitForSelector('#tp-items tbody tr:has(.badge.succeeded)', { timeout: 1000 });
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
  }
  const items = await page.locator('#tp-items tbody tr').allTextContents();
  assert.equal(items.length, 2, items.join(' | '));
  assert.match(items[0], /^01failedw1/);
  assert.match(items[1], /^02succeededw1/);
  await page.screenshot({ path: shots + '/graph-cleared.png', fullPage: true });
  await page.click('#tp-items tbody tr:has(.badge.failed)');
  await page.waitForURL(/#\/executions\//);
  await page.waitForSelector('tr:has(th:text-is("Exit")) td:text-is("3")');
  await page.goBack();
  await page.waitForSelector('g.wfnode[data-task="flaky"][data-state="succeeded"]');
});

test('the grid and the run page show the run', async () => {
  const runId = decodeURIComponent(page.url().split('/graph/')[1]);
  await page.goto(url + '/#/workflows/flow/grid');
  await page.waitForSelector('.gcell[data-task="flaky"][data-state="succeeded"]');
  // rows in topological order: a before b before route ... report last
  const rows = await page.locator('.grow').evaluateAll((els) => els.map((e) => e.dataset.task));
  assert.ok(rows.indexOf('a') < rows.indexOf('b') && rows.indexOf('route') < rows.indexOf('flaky') &&
    rows.indexOf('flaky') < rows.indexOf('report'), rows.join(','));
  await page.hover('.gcell[data-task="b"]');
  await page.waitForSelector('#wf-gridtip:has-text("started")');
  await page.click('.gcell[data-task="delta"]');
  await page.waitForSelector('#taskpanel[data-task="delta"][data-state="skipped"]');
  assert.match(await page.textContent('#taskpanel'), /not chosen by its branch/);
  await page.screenshot({ path: shots + '/grid.png', fullPage: true });
  await page.goto(url + '/#/runs/' + encodeURIComponent(runId));
  await page.waitForSelector('#run-state[data-state="succeeded"]');
  await page.waitForSelector('#gantt .uplot');
  assert.match(await page.textContent('main'), /region=eu/);
  await page.screenshot({ path: shots + '/run.png', fullPage: true });
  // the list shows it among the last runs
  await page.goto(url + '/#/workflows');
  await page.waitForSelector('#wftable td.lastruns .wfcell[data-run="' + runId + '"][data-state="succeeded"]');
});

test('a cycle typed into the editor is named, on the preview and by the API', async () => {
  await page.goto(url + '/#/newworkflow');
  await page.waitForSelector('#wf-preview g.wfnode');
  await page.fill('#wf-json', JSON.stringify({ name: 'loop', tasks: {
    x: { command: 'true', upstream: ['z'] }, y: { command: 'true', upstream: ['x'] },
    z: { command: 'true', upstream: ['y'] }, w: { command: 'true' } } }, null, 2));
  await page.waitForSelector('#wf-editerr:has-text("cycle")');
  assert.match(await page.textContent('#wf-editerr'), /^tasks: cycle [xyz] -> [xyz] -> [xyz] -> [xyz] \(line 3\)$/);
  assert.deepEqual(await page.locator('#wf-preview g.wfnode.cycle').evaluateAll((e) => e.map((n) => n.dataset.task).sort()),
    ['x', 'y', 'z']);
  // the API refuses it too, in its words, shown in the same place
  const [resp] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/v1/workflows/loop') && r.request().method() === 'PUT'),
    page.click('#wf-save')]);
  assert.equal(resp.status(), 400);
  const apiErr = await resp.json();
  assert.match(apiErr.error, /^cycle /);
  await page.waitForSelector('#wf-editerr:has-text("' + apiErr.error + '")');
  await page.screenshot({ path: shots + '/editor-cycle.png', fullPage: true });
  const r = await page.evaluate(async () => (await fetch('/api/v1/workflows/loop')).status);
  assert.equal(r, 404);
  // an unknown upstream is named as you type, with the line it is on
  await page.fill('#wf-json', JSON.stringify({ name: 'loop', tasks: { x: { command: 'true', upstream: ['nope'] } } }, null, 2));
  await page.waitForSelector('#wf-editerr:has-text("unknown task \\"nope\\"")');
  assert.equal(await page.textContent('#wf-editerr'), 'tasks.x.upstream: unknown task "nope" (line 6)');
  // the API's own error for a field the page does not check: named, its line
  // given and the member selected in the text
  await page.fill('#wf-json', JSON.stringify({ name: 'loop', tasks: { x: { command: 'true', retries: -4 } } }, null, 2));
  await page.waitForSelector('#wf-editerr:text-is("")', { state: 'attached' }); // the page finds nothing wrong
  await page.click('#wf-save');
  await page.waitForSelector('#wf-editerr:has-text("retries")');
  assert.match(await page.textContent('#wf-editerr'), /^tasks\.x\.retries: .* \(line 6\)$/);
  assert.equal(await page.evaluate(() => { const t = document.getElementById('wf-json'); return t.value.slice(t.selectionStart, t.selectionEnd); }), '"retries"');
});

test('a version conflict is shown and the text kept', async () => {
  await page.goto(url + '/#/workflows/flow/edit');
  // version 2: created as 0, then disabled and enabled from the list
  await page.waitForSelector('#wf-version:has-text("editing version 2")');
  // someone else saves meanwhile
  const code = await page.evaluate(async () => {
    const s = await (await fetch('/api/v1/session')).json();
    const w = await (await fetch('/api/v1/workflows/flow')).json();
    w.workflow.description = 'changed elsewhere';
    const r = await fetch('/api/v1/workflows/flow', { method: 'PUT', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf },
      body: JSON.stringify(w.workflow) });
    return r.status;
  });
  assert.equal(code, 200);
  const text = (await page.inputValue('#wf-json')).replace('"description": ""', '"description": "mine"');
  await page.fill('#wf-json', text);
  await page.click('#wf-save');
  await page.waitForSelector('#wf-conflict:has-text("Version conflict")');
  assert.match(await page.inputValue('#wf-json'), /"description": "mine"/);
  await page.screenshot({ path: shots + '/editor-conflict.png', fullPage: true });
});

test('the backfill dry run lists the logical times before anything is created', async () => {
  await page.goto(url + '/#/workflows/flow/backfill');
  await page.fill('#bf-from', '2026-12-01T00:00:00+08:00');
  await page.fill('#bf-to', '2026-12-03T12:00:00+08:00');
  assert.equal(await page.isDisabled('#bf-go'), true);
  await page.click('#bf-dry');
  await page.waitForSelector('#bf-plan tbody tr');
  // 01:00 Asia/Shanghai on 1, 2 and 3 December
  assert.deepEqual(await page.locator('#bf-plan tbody tr').evaluateAll((e) => e.map((r) => r.dataset.logical + ' ' + r.dataset.action)),
    ['2026-11-30T17:00:00+00:00 create', '2026-12-01T17:00:00+00:00 create', '2026-12-02T17:00:00+00:00 create']);
  assert.match(await page.textContent('#bf-summary'), /3 of 3 logical times would get a run/);
  assert.equal(await page.isDisabled('#bf-go'), false);
  // a dry run created nothing
  const runs = await page.evaluate(async () => (await (await fetch('/api/v1/workflows/flow/runs')).json()).map((r) => r.run_id));
  for (const id of ['flow@20261130T170000Z', 'flow@20261201T170000Z', 'flow@20261202T170000Z']) assert.ok(!runs.includes(id), id);
  // a changed range needs a new dry run first
  await page.fill('#bf-to', '2026-12-04T12:00:00+08:00');
  assert.equal(await page.isDisabled('#bf-go'), true);
  await page.screenshot({ path: shots + '/backfill.png', fullPage: true });
});

test('a running run cancelled from its page; a task marked', async () => {
  // a second workflow, put and triggered through the API as a script would
  const put = await page.evaluate(async () => {
    const s = await (await fetch('/api/v1/session')).json();
    const hdr = { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf };
    const p = await fetch('/api/v1/workflows/slow', { method: 'PUT', headers: hdr, body: JSON.stringify({ name: 'slow',
      tasks: { nap: { command: 'sleep 60' }, after: { command: 'true', upstream: ['nap'] } } }) });
    // The driver creates the task jobs from the definition. A run triggered
    // within milliseconds of the put was once seen never to start its first
    // task (the driver's "job being created" path; not the pages' concern):
    // this test is about the run page, so it triggers once the jobs exist.
    for (const deadline = Date.now() + 30000; Date.now() < deadline;) {
      const a = await fetch('/api/v1/jobs/wf.slow.nap');
      const b = await fetch('/api/v1/jobs/wf.slow.after');
      if (a.status === 200 && b.status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const t = await fetch('/api/v1/workflows/slow/trigger', { method: 'POST', headers: hdr, body: '{}' });
    return [p.status, t.status, (await t.json()).run_id];
  });
  assert.equal(put[0], 201);
  assert.equal(put[1], 200);
  const runId = put[2];
  await page.goto(url + '/#/runs/' + encodeURIComponent(runId));
  await page.waitForSelector('#run-cancel');
  // the page follows the run: nap starts
  await page.waitForSelector('#gantt .uplot', LONG);
  page.once('dialog', (d) => d.accept());
  await page.click('#run-cancel');
  await page.waitForSelector('#flash:has-text("Cancelled ' + runId + '")');
  await page.waitForSelector('#run-state[data-state="cancelled"]', LONG);
  assert.equal(await page.locator('#run-cancel').count(), 0); // no cancel on an ended run
  await page.screenshot({ path: shots + '/run-cancelled.png', fullPage: true });
  // on the graph: nap cancelled; after, which never ran, marked skipped by
  // hand (the driver takes a mark on an ended run and goes on from it)
  await page.goto(url + '/#/workflows/slow/graph/' + encodeURIComponent(runId));
  await page.waitForSelector('#wf-runstate[data-state="cancelled"]');
  assert.equal(await stateOf('nap'), 'cancelled');
  await page.click('g.wfnode[data-task="after"]');
  await page.selectOption('#tp-mark-state', 'skipped');
  await page.click('#tp-mark');
  await page.waitForSelector('#flash div:text-is("Marked after skipped")');
  await page.waitForSelector('g.wfnode[data-task="after"][data-state="skipped"]', LONG);
  await page.waitForSelector('#taskpanel[data-task="after"]:has-text("marked by an operator")');
});

test('a viewer sees the workflow pages without their actions', async () => {
  const made = await page.evaluate(async () => {
    const s = await (await fetch('/api/v1/session')).json();
    const r = await fetch('/api/v1/users/vera', { method: 'PUT', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf },
      body: JSON.stringify({ role: 'viewer', password: 'pw-vera-12345' }) });
    return r.status;
  });
  assert.ok(made === 200 || made === 201, 'user vera: ' + made);
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 950 } });
  const v = await ctx.newPage();
  v.setDefaultTimeout(15000);
  v.on('pageerror', (e) => { throw e; });
  await v.goto(url + '/');
  await v.fill('#username', 'vera');
  await v.fill('#password', 'pw-vera-12345');
  await v.click('#login');
  await v.waitForSelector('#jobs-enabled');
  await v.goto(url + '/#/workflows');
  await v.waitForSelector('#wftable tr[data-workflow="flow"] td.lastruns .wfcell');
  assert.equal(await v.locator('.wf-trigger, .wf-toggle, #newwf').count(), 0);
  await v.goto(url + '/#/workflows/flow');
  await v.waitForSelector('#wf-runstate[data-state="succeeded"]');
  assert.equal(await v.locator('#tab-edit').count(), 0);
  await v.click('g.wfnode[data-task="flaky"]');
  await v.waitForSelector('#taskpanel[data-task="flaky"]');
  assert.equal(await v.locator('#tp-clear, #tp-clear-down, #tp-mark').count(), 0);
  await v.goto(url + '/#/workflows/flow/backfill');
  await v.waitForSelector('#bf-form:has-text("operators only")');
  await ctx.close();
});

test('a run is drawn with the definition it was created with, not a later edit', async () => {
  const runs = await page.evaluate(async () => (await fetch('/api/v1/workflows/flow/runs')).json());
  const old = runs.find((r) => r.source === 'zookeeper' && r.state === 'succeeded');
  assert.ok(old, 'a finished run: ' + JSON.stringify(runs));
  const put = await page.evaluate(async () => {
    const s = await (await fetch('/api/v1/session')).json();
    const cur = await (await fetch('/api/v1/workflows/flow')).json();
    const def = cur.workflow;
    def.tasks.extra = { command: 'true', upstream: ['report'] };
    const r = await fetch('/api/v1/workflows/flow', { method: 'PUT',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf, 'If-Match': String(cur.version) },
      body: JSON.stringify(def) });
    return r.status;
  });
  assert.equal(put, 200);
  await page.goto(url + '/#/workflows/flow/graph/' + encodeURIComponent(old.run_id));
  await page.waitForSelector('[data-def="run"]');
  await page.waitForSelector('#wf-olddef');
  await page.waitForSelector('g.wfnode[data-task="report"][data-state="succeeded"]');
  assert.equal(await page.locator('g.wfnode[data-task="extra"]').count(), 0);
  await page.screenshot({ path: shots + '/graph-own-definition.png', fullPage: true });
  // the API serves it too; an unknown run is a 404 naming the run id
  const got = await page.evaluate(async (id) => {
    const a = await fetch('/api/v1/runs/' + encodeURIComponent(id) + '/definition');
    const b = await fetch('/api/v1/runs/flow@20200101T000000Z/definition');
    return { a: a.status, tasks: Object.keys((await a.json()).workflow.tasks).sort(), b: b.status, field: (await b.json()).field };
  }, old.run_id);
  assert.deepEqual(got, { a: 200, tasks: Object.keys(flow.tasks).sort(), b: 404, field: 'run_id' });
  // a task's items: every attempt from the done nodes; ?task= is required
  const it = await page.evaluate(async (id) => {
    const base = '/api/v1/runs/' + encodeURIComponent(id) + '/items';
    const a = await (await fetch(base + '?task=report')).json();
    const b = await fetch(base);
    const c = await fetch('/api/v1/runs/flow@20200101T000000Z/items?task=report');
    return { items: a.items.map((x) => [x.item, x.attempt, x.status, x.agent, x.exec_id !== '']), b: b.status, field: (await b.json()).field, c: c.status };
  }, old.run_id);
  assert.deepEqual(it, { items: [[0, 1, 'succeeded', 'w1', true]], b: 400, field: 'task', c: 404 });
});
