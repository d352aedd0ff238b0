// Drives the console in Debian's chromium (headless, through playwright-core) for
// test_console_browser.py. Protocol on stdio, one JSON object a line:
//   out {"stage":"loaded", figures}   once the first picture is rendered
//   in  "bundle 0x<hash> [outcome]"    after the test has sent traffic and that bundle; with an
//                                      outcome (committed, aborted, included), wait until the
//                                      bundle's row shows it
//   out {"stage":"done", figures}      once the bundle's row is on the page (screenshot saved)
import { chromium } from "playwright-core";
import readline from "node:readline";

const [url, shot, profile] = process.argv.slice(2);
// Bounds that only turn a hang into a failure (CI runs four test workers on two cores): the page's
// waits, and how long the test may take to send its traffic and the bundle (the margin test opens a
// hedge and waits for its outcome first).
const WAIT_MS = 60000;
const TEST_MS = 180000;
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium", headless: true, args: FLAGS, viewport: { width: 1400, height: 1000 },
});
const page = ctx.pages()[0] ?? await ctx.newPage();
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
let loads = 0;
page.on("load", () => { loads += 1; });

const figures = () => page.evaluate(() => {
  const row = [...document.querySelectorAll("#rollups tbody tr")].find((tr) => tr.cells[0].textContent.includes("(901)"));
  const col = [...document.querySelectorAll("#rollups thead th")].findIndex((th) => th.textContent === "admitted");
  return {
    version: Number(document.body.dataset.version || 0),
    height: document.getElementById("height").textContent,
    p50: document.getElementById("p50").textContent,
    tps: document.getElementById("tps").textContent,
    conn: document.getElementById("conn").textContent,
    admitted901: row && col >= 0 ? row.cells[col].textContent : null,
    histogramBars: document.querySelectorAll("#histogram .bar").length,
    marker: window.__marker ?? null,
    bundleOutcome: window.__bundle ? document.querySelector(`tr[data-bundle="${window.__bundle}"]`)?.cells[3]?.textContent ?? null : null,
    marginVisible: !document.getElementById("margin-panel")?.classList.contains("hidden"),
    marginAccounts: [...document.querySelectorAll("#margin-accounts tbody tr")].map((tr) => ({
      name: tr.dataset.name, address: tr.dataset.account, cells: [...tr.cells].map((c) => c.textContent) })),
    marginBundles: [...document.querySelectorAll("#margin-bundles tbody tr")].map((tr) => ({
      id: tr.dataset.marginBundle, outcome: tr.dataset.outcome, legs: tr.cells[2].textContent })),
  };
});

try {
  await page.goto(url);
  await page.waitForFunction(() => Number(document.body.dataset.version || 0) > 0, null, { timeout: WAIT_MS });
  await page.evaluate(() => { window.__marker = "first-load"; });  // survives only if the page never reloads
  console.log(JSON.stringify({ stage: "loaded", ...(await figures()) }));
  const lines = readline.createInterface({ input: process.stdin });
  const [line] = await Promise.race([
    new Promise((ok) => lines.once("line", (l) => ok([l]))),
    new Promise((_, no) => setTimeout(() => no(new Error(`no bundle from the test in ${TEST_MS / 1000} s`)), TEST_MS)),
  ]);
  lines.close();
  const [, hash, outcome] = line.trim().split(" ");
  await page.evaluate((h) => { window.__bundle = h; }, hash);
  await page.waitForSelector(`tr[data-bundle="${hash}"]`, { timeout: WAIT_MS });
  if (outcome) await page.waitForSelector(`tr[data-bundle="${hash}"][data-outcome="${outcome}"]`, { timeout: WAIT_MS });
  // The latency histogram and tx/s refresh on the next pictures: wait for two more of them (counted,
  // not timed: on a loaded machine an interval can take far longer than it says).
  const seen = Number(await page.evaluate(() => document.body.dataset.version || 0));
  await page.waitForFunction((v) => Number(document.body.dataset.version || 0) >= v + 2, seen, { timeout: WAIT_MS });
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify({ stage: "done", loads, errors, ...(await figures()) }));
} catch (e) {
  console.log(JSON.stringify({ stage: "error", error: String(e), errors }));
  process.exitCode = 1;
} finally {
  await ctx.close();
  process.exit();
}
