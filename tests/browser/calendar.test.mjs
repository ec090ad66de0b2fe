// tests/browser/calendar.test.mjs: the calendar pages in headless Chromium
// (playwright-core), run by tests/integration/calendar_console.sh against its
// console after it stored calendar "cn" (the 2026 National Day week, make-up
// Sunday 09-27 and Saturday 10-10) and job "settle" on it. env: CONSOLE_URL,
// ADMIN_PASSWORD, PLAYWRIGHT_CORE, ARTIFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const url = process.env.CONSOLE_URL;
let browser;
let page;

before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => { throw e; });
  await page.goto(url + '/#/login');
  await page.waitForSelector('#username');
  await page.fill('#username', 'admin');
  await page.fill('#password', process.env.ADMIN_PASSWORD);
  await page.click('#login');
  await page.waitForSelector('#jobs-enabled');
});

after(async () => { if (browser) await browser.close(); });

test('the calendar list links to a month grid of the year with each day kind', async () => {
  await page.goto(url + '/#/calendars');
  await page.click('text=cn');
  await page.waitForSelector('#calyear');
  await page.goto(url + '/#/calendars/cn/2026');
  await page.waitForSelector('#calyear td[data-date="2026-10-01"]');
  const kind = (d) => page.getAttribute(`#calyear td[data-date="${d}"]`, 'class');
  assert.match(await kind('2026-10-01'), /cal-holiday/);
  assert.match(await kind('2026-10-07'), /cal-holiday/);
  assert.match(await kind('2026-10-10'), /cal-makeup/); // a Saturday that is worked
  assert.match(await kind('2026-09-27'), /cal-makeup/); // a Sunday that is worked
  assert.match(await kind('2026-10-11'), /cal-weekend/);
  assert.match(await kind('2026-10-12'), /cal-workday/);
  // a month starts on its weekday's column: 2026-10-01 is a Thursday (5th cell)
  const col = await page.evaluate(() => document.querySelector('#calyear td[data-date="2026-10-01"]').cellIndex);
  assert.equal(col, 4);
  await page.screenshot({ path: process.env.ARTIFACTS + '/calendar.png', fullPage: true });
});

test('an invalid edit is refused naming the field; nothing changes', async () => {
  await page.goto(url + '/#/calendars/cn/2026');
  await page.waitForSelector('#caljson');
  const cur = await page.inputValue('#caljson');
  await page.fill('#caljson', cur.replace('"2026-10-07"', '"2026-10-77"'));
  await page.click('#calsave');
  await page.waitForSelector('#flash :text("holidays[6]")');
  await page.goto(url + '/#/calendars/cn/2026');
  await page.waitForSelector('#calyear td[data-date="2026-10-07"].cal-holiday');
});

test('the job page shows the fires its calendar skips, with the reasons', async () => {
  await page.goto(url + '/#/jobs/settle');
  await page.waitForSelector('#jobskipped li');
  const text = await page.textContent('#jobskipped');
  assert.match(text, /is a weekend day in cn/);
  assert.match(await page.textContent('#jobpreview'), /calendar cn \(workdays, shift none\)/);
});

test('the cron tool shows what a calendar skips', async () => {
  await page.goto(url + '/#/cron');
  await page.waitForSelector('#croncal option[value="cn"]', { state: 'attached' });
  await page.fill('#cronexpr', '0 0 10 * * ?');
  await page.waitForSelector('#cronout .nexttimes li');
  assert.equal(await page.locator('#cronskipped').count(), 0);
  await page.selectOption('#croncal', 'cn');
  // a daily fire over the next ten workdays passes at least one weekend
  await page.waitForSelector('#cronskipped li');
  const first = await page.textContent('#cronskipped li');
  assert.match(first, /cn/);
  assert.match(await page.textContent('#cronout .ok'), /calendar cn/);
  await page.selectOption('#croncalshift', 'next');
  await page.waitForSelector('#cronskipped li:has-text("moved to")');
});
