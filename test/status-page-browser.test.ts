// The status page in a real browser: Debian's chromium, headless, driven by
// playwright-core against a running lottery. The page shows each agency,
// changes without a reload when an agency finishes, and shows the draw's
// digest (the sorteo line's) once drawn. Skipped, with one line, where
// chromium is not installed.
import test from 'ava';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { agencyFiles, agencyFor, serverFor, tempDir, within } from './helpers/lottery-fixtures.ts';
import { monitorPortOf } from './helpers/monitor-client.ts';

const CHROMIUM = process.env.LOTTERY_CHROMIUM ?? '/usr/bin/chromium';
const installed = await access(CHROMIUM).then(
  () => true,
  () => false,
);
if (!installed)
  console.log(`${CHROMIUM} not found: the status page's browser test is skipped (apt-get install chromium to run it; CI does)`);
const browserTest = installed ? test : test.skip;

/** Where the test leaves its screenshots, for a person to look at: LOTTERY_SCREENSHOTS, else the test's temp dir. */
const screenshotDir = process.env.LOTTERY_SCREENSHOTS;

browserTest('the page shows each agency, follows an agency finishing without a reload, and shows the digest after the draw', async (t) => {
  const { files } = await agencyFiles(t, [{ count: 1500, winnerRows: [3] }, { count: 1200 }]);
  const server = await serverFor(t, await tempDir(t), ['--agencies', '2', '--http-port', '0']);
  const port = monitorPortOf(server);
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const shots = screenshotDir ?? (await tempDir(t));

  for (const [name, viewport] of [
    ['phone', { width: 390, height: 844 }],
    ['wide', { width: 1400, height: 900 }],
  ] as const) {
    const page = await browser.newPage({ viewport });
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.locator('tr[data-agency="2"]').waitFor();
    t.is(await page.locator('tbody tr').count(), 2, `${name}: a row per agency`);
    t.is(await page.locator('#waiting').textContent(), 'Waiting for 2 of 2 agencies: agencies 1, 2 not connected.');
    // Nothing overflows sideways on a phone.
    t.true(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), `${name}: no sideways scroll`);
    await page.screenshot({ path: join(shots, `status-${name}-before.png`), fullPage: true });
    await page.close();
  }

  const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
  await page.goto(`http://127.0.0.1:${port}/`);
  let navigations = 0;
  page.on('framenavigated', () => navigations++);
  await page.locator('tr[data-agency="1"]').waitFor();

  const first = agencyFor(t, 1, server.port, ['--data-file', files[0]]);
  // Agency 1 finishes (it then waits for the draw): its row says so, the page never reloaded.
  await page.locator('tr[data-agency="1"].finished').waitFor({ timeout: 30_000 });
  t.is(await page.locator('tr[data-agency="1"] td').nth(2).textContent(), '1,500');
  await page.locator('#waiting', { hasText: 'Waiting for 1 of 2 agencies: agency 2 not connected.' }).waitFor({ timeout: 30_000 });
  await page.screenshot({ path: join(shots, 'status-waiting.png'), fullPage: true });

  const second = agencyFor(t, 2, server.port, ['--data-file', files[1]]);
  t.deepEqual(
    (await within(Promise.all([first.result, second.result]), 'the agencies')).map(({ code }) => code),
    [0, 0],
  );
  const digest = /action: sorteo \| result: success .*\| digest: ([0-9a-f]{64})/.exec(server.lines.join('\n'))![1];
  await page.locator('#digest', { hasText: digest }).waitFor({ timeout: 30_000 });
  t.is(await page.locator('#waiting').textContent(), 'Nobody: the draw is done.');
  t.is(await page.locator('tr[data-agency="1"] td').nth(3).textContent(), '1');
  t.is(navigations, 0, 'the page was never reloaded');
  await page.screenshot({ path: join(shots, 'status-drawn.png'), fullPage: true });
});
