// bench/web/pages.mjs: the workflow pages of a big workflow in headless
// Chromium (bench/web/run seeds it): graph first paint, grid first paint, the
// grid filled, and the frame times while the grid scrolls. Prints one table.
// env: CONSOLE_URL, USER_NAME, PASSWORD, WORKFLOW, RUN (the newest run's id),
// PLAYWRIGHT_CORE, REPEAT (default 3; the median is printed).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const url = process.env.CONSOLE_URL;
const wf = process.env.WORKFLOW;
const repeat = Number(process.env.REPEAT || 3);
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))];

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
const page = await browser.newPage({ viewport: { width: 1400, height: 950 } });
page.setDefaultTimeout(120000);
await page.goto(url + '/');
await page.fill('#username', process.env.USER_NAME);
await page.fill('#password', process.env.PASSWORD);
await page.click('#login');
await page.waitForSelector('#jobs-enabled');

// open: a full load of the page at `hash` (app start, session, the page's
// requests, layout, drawing) until `sel` is in the page and a frame painted.
async function open(hash, sel) {
  await page.goto('about:blank');
  const t0 = Date.now();
  await page.goto(url + '/' + hash);
  await page.waitForSelector(sel, { state: 'attached' });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
  return Date.now() - t0;
}

const rows = [];
const graph = [];
let engine = '';
for (let i = 0; i < repeat; i++) {
  graph.push(await open('#/workflows/' + wf + '/graph/' + encodeURIComponent(process.env.RUN), 'g.wfnode[data-state="running"]'));
  engine = await page.textContent('main .toolbar .muted');
}
rows.push(['graph first paint (5,000 nodes with states)', median(graph), engine]);
const grid = [];
const filled = [];
for (let i = 0; i < repeat; i++) {
  grid.push(await open('#/workflows/' + wf + '/grid', '.gcell[data-run="' + process.env.RUN + '"][data-state="succeeded"]'));
  await page.waitForSelector('#wf-grid[data-loaded-ms]');
  filled.push(Number(await page.getAttribute('#wf-grid', 'data-loaded-ms')));
}
rows.push(['grid first paint (newest run\'s column)', median(grid), '']);
rows.push(['grid filled (all 25 runs\' columns)', median(filled), 'from the page\'s start']);
// scroll: 300 frames of 120 px (about 5.5 rows a frame), the frame times seen
// by requestAnimationFrame while the grid redraws its rows.
const frames = await page.evaluate(() => new Promise((resolve) => {
  const el = document.getElementById('wf-grid');
  const times = [];
  let last = performance.now();
  let n = 0;
  const step = (t) => {
    times.push(t - last);
    last = t;
    el.scrollTop += 120;
    if (++n < 300) requestAnimationFrame(step);
    else resolve(times.slice(1));
  };
  requestAnimationFrame(step);
}));
const cells = await page.locator('.gcell').count();
rows.push(['grid scroll frame, p50', Math.round(median(frames)), cells + ' cells in the page']);
rows.push(['grid scroll frame, p99', Math.round(pct(frames, 0.99)), '300 frames of 120 px']);
rows.push(['grid scroll frame, max', Math.round(Math.max(...frames)), '']);
await browser.close();
console.log('| page (headless Chromium, median of ' + repeat + ') | ms | note |');
console.log('|---|---|---|');
for (const [a, b, c] of rows) console.log('| ' + a + ' | ' + b + ' | ' + c + ' |');
