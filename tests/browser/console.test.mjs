// tests/browser/console.test.mjs: the web console in headless Chromium (Debian's
// chromium driven by playwright-core, node's test runner). Run by
// tests/integration/console_api.sh against its running console; env: CONSOLE_URL,
// ADMIN_PASSWORD, SQL (a shell command that runs SQL on the console's database
// from stdin), ARTIFACTS (screenshot directory).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const url = process.env.CONSOLE_URL;
const shots = process.env.ARTIFACTS;
const sql = (q) => execSync(process.env.SQL, { input: q });
let browser;
let page;

before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => { throw e; });
});

after(async () => { if (browser) await browser.close(); });

test('login', async () => {
  await page.goto(url + '/');
  await page.waitForSelector('#username');
  await page.fill('#username', 'admin');
  await page.fill('#password', 'wrong-password');
  await page.click('#login');
  await page.waitForSelector('#loginerr:has-text("wrong username or password")');
  await page.fill('#password', process.env.ADMIN_PASSWORD);
  await page.click('#login');
  await page.waitForSelector('#jobs-enabled');
  await page.waitForSelector('#chart24 .uplot');
  await page.screenshot({ path: shots + '/dashboard.png', fullPage: true });
});

test('create a job through the form, with inline validation', async () => {
  await page.goto(url + '/#/new');
  await page.waitForSelector('#jobform');
  await page.fill('#f-name', 'browserjob');
  await page.fill('#f-cron', '0/10 * * * * ?');
  await page.fill('#f-timezone', 'Asia/Tokyo');
  await page.fill('#f-command', 'true');
  await page.fill('#f-shards', '0');
  await page.click('#save');
  const msg = await page.waitForSelector('#err-shards:has-text("between 1")');
  assert.match(await msg.textContent(), /between 1 and/);
  await page.fill('#f-shards', '2');
  await page.fill('#f-cron', '0/10 * * * * X');
  await page.waitForSelector('#formpreview .bad');
  // No cron is valid: the job runs only when triggered, nothing to preview.
  await page.fill('#f-cron', '');
  await page.waitForSelector('#formpreview .ok:has-text("triggered only")');
  await page.fill('#f-cron', '0/10 * * * * ?');
  await page.click('#save');
  await page.waitForURL(/#\/jobs\/browserjob$/);
  // The operator's check: verdict, zone and the next 10 times.
  await page.waitForSelector('#jobpreview .ok:has-text("Asia/Tokyo")');
  assert.equal(await page.locator('#jobpreview li').count(), 10);
  const first = await page.locator('#jobpreview li').first().textContent();
  assert.match(first, /^\d{4}-\d\d-\d\d \d\d:\d\d:[0-5]0 \+09:00$/);
  // Written through the console, it still says when.
  assert.match(await page.textContent('tr:has(th:text-is("Modified")) td'), /^\d{4}-\d\d-\d\d /);
  await page.screenshot({ path: shots + '/job.png', fullPage: true });
});

test('edit it: what the form does not show survives, an unchanged save writes nothing', async () => {
  // Fields the form has no input for, set through the raw JSON view.
  await page.click('#edit');
  await page.waitForSelector('#jobform');
  await page.click('#tab-raw');
  const raw = JSON.parse(await page.inputValue('#rawjson'));
  assert.equal(raw.misfire_threshold_s, 5);
  raw.misfire_threshold_s = 60;
  raw.alert.silence_s = 900;
  await page.fill('#rawjson', JSON.stringify(raw, null, 2));
  await page.click('#save');
  await page.waitForSelector('#flash:has-text("Saved browserjob (version 1)")');
  // Saving the form unchanged: no new version, nothing reset.
  await page.click('#edit');
  await page.waitForSelector('#jobform');
  await page.click('#save');
  await page.waitForSelector('#flash:has-text("No change to save in browserjob (version 1)")');
  let shown = JSON.parse(await page.textContent('#jobjson'));
  assert.equal(shown.misfire_threshold_s, 60);
  assert.equal(shown.alert.silence_s, 900);
  // A real edit: a description and shard parameters holding ',' and '='.
  await page.click('#edit');
  await page.waitForSelector('#jobform');
  await page.fill('#f-description', 'edited in the browser');
  await page.fill('#f-shard_params', '0=Beijing,Shanghai\n1=region=north');
  await page.screenshot({ path: shots + '/edit.png', fullPage: true });
  await page.click('#tab-raw');
  const before = JSON.parse(await page.inputValue('#rawjson'));
  assert.equal(before.description, 'edited in the browser');
  await page.click('#tab-form');
  await page.waitForSelector('#jobform');
  await page.click('#save');
  await page.waitForSelector('#flash:has-text("Saved browserjob (version 2)")');
  shown = JSON.parse(await page.textContent('#jobjson'));
  assert.deepEqual(shown.shard_params, { 0: 'Beijing,Shanghai', 1: 'region=north' });
  assert.equal(shown.misfire_threshold_s, 60);
  assert.equal(shown.alert.silence_s, 900);
  assert.equal(await page.textContent('tr:has(th:text-is("Description")) td'), 'edited in the browser');
  // The form shows them back as it took them, and a bad line names itself.
  await page.click('#edit');
  await page.waitForSelector('#jobform');
  assert.equal(await page.inputValue('#f-shard_params'), '0=Beijing,Shanghai\n1=region=north');
  await page.fill('#f-shard_params', 'Beijing');
  await page.click('#save');
  await page.waitForSelector('#err-shard_params:has-text("line 1")');
  await page.goto(url + '/#/jobs/browserjob');
  await page.waitForSelector('#jobjson');
});

test('trigger it and see executions and an alert', async () => {
  page.once('dialog', (d) => d.accept('from-browser'));
  await page.click('#trigger');
  await page.waitForSelector('#flash:has-text("Triggered browserjob")');
  // The agents run the manual trigger and record it: it shows in history.
  await page.goto(url + '/#/history');
  await page.fill('#h-job', 'browserjob');
  const deadline = Date.now() + 30000;
  for (;;) {
    await page.press('#h-job', 'Enter');
    try {
      await page.waitForSelector('tr.click:has(td:text-is("manual")):has(.badge.succeeded)', { timeout: 1000 });
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
  }
  await page.screenshot({ path: shots + '/history-manual.png', fullPage: true });
  // The rows the agent's history writer would write (one success, one
  // failure) go in through SQL.
  sql("SET time_zone='+00:00'; INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, agent, host, status, exit_code, started_at, finished_at, output_tail, error) VALUES " +
      "('br-ok', 'browserjob', 0, UTC_TIMESTAMP(3) - INTERVAL 20 SECOND, 'manual', 'a1', 'h1', 'succeeded', 0, UTC_TIMESTAMP(3) - INTERVAL 20 SECOND, UTC_TIMESTAMP(3) - INTERVAL 19 SECOND, 'all good', NULL)," +
      "('br-bad', 'browserjob', 5, UTC_TIMESTAMP(3) - INTERVAL 10 SECOND, 'cron', 'a1', 'h1', 'failed', 3, UTC_TIMESTAMP(3) - INTERVAL 10 SECOND, UTC_TIMESTAMP(3) - INTERVAL 9 SECOND, 'boom at line 3', 'exit status 3');" +
      // and their trace rows, as the writer records them: the leader's
      // incremental alert evaluation reads status changes from there
      " INSERT INTO job_status_trace (execution_id, state, at) VALUES ('br-ok', 'succeeded', UTC_TIMESTAMP(3) - INTERVAL 19 SECOND)," +
      " ('br-bad', 'failed', UTC_TIMESTAMP(3) - INTERVAL 9 SECOND)");
  await page.goto(url + '/#/history');
  await page.fill('#h-job', 'browserjob');
  await page.press('#h-job', 'Enter');
  await page.waitForSelector('td:has-text("failed")');
  await page.click('tr.click:has-text("failed")');
  await page.waitForSelector('#output:has-text("boom at line 3")');
  await page.screenshot({ path: shots + '/execution.png', fullPage: true });
  await page.goto(url + '/#/alerts');
  // Item 5 (browserjob has two shards: nothing clears it), shown as an item,
  // under the time it was scheduled, with its exit status.
  // (A loaded machine may also show a "missed" line for the job: a total
  // ZooKeeper stall makes both agents rebuild their sessions, and the fires
  // between owners are accounted. The panel keeps one line per reason.)
  await page.waitForSelector('#panel-abnormal-jobs tr:has-text("browserjob"):has-text("failed")');
  const p1 = await page.locator('#panel-abnormal-jobs tr:has-text("browserjob"):has-text("failed")').textContent();
  assert.match(p1, /item 5/);
  assert.match(p1, /failed \(exit 3\)/);
  assert.match(await page.locator('#panel-abnormal-jobs th').allTextContents().then((t) => t.join('|')), /Scheduled fire/);
  await page.screenshot({ path: shots + '/alerts.png', fullPage: true });
  // The dashboard counts open conditions, as the server does.
  const openNow = () => page.evaluate(async () => (await (await fetch('/api/v1/alerts')).json()).open.total);
  const before = await openNow();
  await page.goto(url + '/#/');
  await page.waitForSelector('#open-alerts');
  const shown = Number(await page.textContent('#open-alerts'));
  assert.ok(shown === before || shown === await openNow(), 'dashboard shows ' + shown + ', the server counts ' + before);
});

test('acknowledge an open alert from the alert page', async () => {
  // The leader opens an alert_event row for the failed item within a few of
  // its evaluations; the Notifications panel lists it with its buttons.
  const row = '#panel-notices tr:has-text("browserjob")';
  const deadline = Date.now() + 30000;
  for (;;) {
    await page.goto(url + '/#/');
    await page.goto(url + '/#/alerts');
    try {
      await page.waitForSelector(row + ' button[data-action="ack"]', { timeout: 2000 });
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
  }
  const id = await page.locator(row + ' button[data-action="ack"]').first().getAttribute('data-alert');
  await page.locator(row + ' button[data-action="ack"]').first().click();
  await page.waitForSelector('#panel-notices tr:has-text("#' + id + '"):has-text("acknowledged by admin")');
  assert.equal(await page.locator('#panel-notices tr:has-text("#' + id + '") button').count(), 0);
  const acked = execSync(process.env.SQL, { input: 'SELECT acked_by FROM alert_ack WHERE alert_id = ' + id + ' AND acked_at IS NOT NULL' }).toString();
  assert.match(acked, /admin/);
  await page.screenshot({ path: shots + '/alerts-ack.png', fullPage: true });
});

test('jobs list shows the last result', async () => {
  await page.goto(url + '/#/jobs');
  await page.fill('#jobsearch', 'browserjob');
  await page.waitForSelector('#jobstable td.last[data-job="browserjob"] .badge');
});

test('cron tool answers as you type', async () => {
  await page.goto(url + '/#/cron');
  await page.fill('#cronexpr', '0 0 0 31 6 ?');
  await page.waitForSelector('#cronout .bad');
  await page.fill('#cronexpr', '@every 5m');
  await page.waitForSelector('#cronout .ok');
  assert.equal(await page.locator('#cronout li').count(), 10);
});

test('admin adds a user from the users page', async () => {
  await page.goto(url + '/#/users');
  await page.fill('#u-name', 'dave');
  await page.selectOption('#u-role', 'operator');
  await page.fill('#u-password', 'short');
  await page.click('#u-save');
  await page.waitForSelector('#u-err:has-text("password")');
  await page.fill('#u-password', 'pw-dave-12345');
  await page.click('#u-save');
  await page.waitForSelector('td:has-text("dave")');
});

test('agents page marks the leader; logout ends the session', async () => {
  await page.goto(url + '/#/agents');
  // The leader is whichever agent the API names (a ZooKeeper stall on a
  // loaded machine can move it from a1 to a2): the page marks that one.
  const leader = await page.evaluate(async () => (await (await fetch('/api/v1/agents')).json()).leader);
  assert.match(leader || '', /^a[12]$/);
  await page.waitForSelector('.leader:has-text("' + leader + '")');
  await page.click('#logout');
  await page.waitForSelector('#username');
  const r = await page.evaluate(async () => (await fetch('/api/v1/jobs')).status);
  assert.equal(r, 401);
});
