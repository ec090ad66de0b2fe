// tests/browser/pause.test.mjs: the console's pause controls in headless
// Chromium: the "pause this domain for N minutes, reason" form on the Jobs page,
// the Pauses page listing the window as paused until its end, the job page of
// a job in that domain saying so, and deleting the window.
// Run by tests/integration/pause_console.sh against its console; env:
// CONSOLE_URL, OPERATOR_PASSWORD, PLAYWRIGHT_CORE, ARTIFACTS.
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
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => { throw e; });
  page.on('dialog', (d) => d.accept());
});

after(async () => { if (browser) await browser.close(); });

test('pause a domain from the Jobs page, see it, delete it', async () => {
  await page.goto(url + '/#/login');
  await page.waitForSelector('#username');
  await page.fill('#username', 'operator');
  await page.fill('#password', process.env.OPERATOR_PASSWORD);
  await page.click('#login');
  await page.waitForSelector('#jobs-enabled');
  await page.goto(url + '/#/jobs');
  await page.waitForSelector('#pause-domain-form');
  // the reason is required: the browser refuses the empty form
  await page.fill('#pause-domain', 'webdomain');
  await page.fill('#pause-minutes', '30');
  await page.click('#pause-submit');
  assert.equal(await page.$eval('#pause-reason', (e) => e.validity.valueMissing), true);
  await page.fill('#pause-reason', 'browser test upgrade');
  await page.click('#pause-submit');
  await page.waitForSelector('#flash :text("Paused domain webdomain for 30 min")');
  await page.click('#nav a[href="#/pauses"]');
  const row = page.locator('#pausetable tr', { hasText: 'domain webdomain' });
  await row.waitFor();
  assert.match(await row.textContent(), /paused until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/);
  assert.match(await row.textContent(), /browser test upgrade/);
  if (process.env.ARTIFACTS) await page.screenshot({ path: process.env.ARTIFACTS + '/pauses.png', fullPage: true });
  // the job page of a job in that domain says it is paused, and until when
  await page.goto(url + '/#/jobs/wj');
  const note = await page.waitForSelector('.pausenote');
  assert.match(await note.textContent(), /^paused until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ by window domain-webdomain-\S+ \(skip\): browser test upgrade$/);
  await page.click('.pausenote a');
  await row.waitFor();
  await row.locator('button.danger').click();
  await page.waitForSelector('#flash :text("Deleted domain-webdomain-")');
  await page.waitForSelector('.nodata, #pausetable');
  assert.equal(await page.locator('#pausetable tr', { hasText: 'domain webdomain' }).count(), 0);
});
