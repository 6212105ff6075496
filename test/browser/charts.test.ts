// The System area in a real browser (issue 21, item 5 and the thin pages of
// item 6): charts that say what they show at 1280 and 360 px (every label
// inside its chart, no two time labels on each other, CPU from 0 to 100 %,
// each partition as used of its size with its percent, the disk threshold), one
// range for all charts (1 h, 24 h, 7 d, asked of the server and kept), dark
// mode; the Boot settings page (the three gateway values explained, the next
// boot switched with a confirmation, the update journal) and the rescue log
// (its absence said in words, then the log scrolled to its end). Screenshots
// charts-*, boot-1280 and rescue-log-360 go to test-output/.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { percent } from '../../src/ui/format';
import { until } from '../harness/http';
import { base, login, missing, page, root, shot, useManagerBox } from './manager-box';

useManagerBox();

interface Box {
  readonly text: string;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}
interface Drawn {
  readonly title: string;
  readonly plot: Box;
  readonly canvas: Box | null;
  readonly y: Box[];
  readonly x: Box[];
}

// Evaluated in the page (a string: this file is not type-checked against the DOM).
const DRAWN = `[...document.querySelectorAll('figure.chart')].map((f) => {
  const box = (e) => { const b = e.getBoundingClientRect(); return { text: e.textContent, left: b.left, right: b.right, top: b.top, bottom: b.bottom }; };
  const canvas = f.querySelector('.plot canvas');
  return { title: f.querySelector('.chart-title').textContent, plot: box(f.querySelector('.plot')), canvas: canvas && box(canvas),
    y: [...f.querySelectorAll('.ticks .y')].map(box), x: [...f.querySelectorAll('.ticks .x')].map(box) };
})`;
const OVERFLOW = 'document.documentElement.scrollWidth - window.innerWidth';

const inside = (inner: Box, outer: Box) => inner.left >= outer.left - 0.5 && inner.right <= outer.right + 0.5 && inner.top >= outer.top - 0.5 && inner.bottom <= outer.bottom + 0.5;
const apart = (a: Box, b: Box) => a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top;

/** Every chart drawn, with two time labels at least (a few samples in). */
async function drawn(): Promise<Drawn[]> {
  let last: Drawn[] = [];
  const ready = (c: Drawn) => c.canvas && c.y.length >= 2 && c.x.length >= 2;
  try {
    return await until('every chart drawn', async () => {
      last = (await page.evaluate(DRAWN)) as Drawn[];
      return last.length >= 6 && last.every(ready) ? last : undefined;
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}: not drawn: ${last.filter((c) => !ready(c)).map((c) => `${c.title} (${c.y.length} value and ${c.x.length} time labels)`).join(', ')}`);
  }
}

/** What is wrong with how the charts' labels are laid out, chart by chart. */
function layoutProblems(charts: readonly Drawn[]): string[] {
  const problems: string[] = [];
  for (const c of charts) {
    if (!inside(c.canvas!, c.plot)) problems.push(`${c.title}: the plot is cut off`);
    for (const label of [...c.y, ...c.x]) if (!inside(label, c.plot)) problems.push(`${c.title}: "${label.text}" sticks out of the chart`);
    for (const axis of [c.x, c.y])
      for (let i = 1; i < axis.length; i++) if (!apart(axis[i - 1]!, axis[i]!)) problems.push(`${c.title}: "${axis[i - 1]!.text}" and "${axis[i]!.text}" overlap`);
    if (new Set(c.y.map((l) => l.text)).size !== c.y.length) problems.push(`${c.title}: value labels repeat: ${c.y.map((l) => l.text).join(', ')}`);
  }
  return problems;
}

describe('the System area in a browser', { skip: missing ?? false }, () => {
  for (const width of [1280, 360]) {
    it(`draws every chart readable at ${width} px: labels inside, none overlapping, units, disk as used of its size`, async () => {
      await login();
      await page.setViewportSize({ width, height: 900 });
      await page.goto(`${base}/manager/#/system`);
      await page.getByRole('heading', { name: 'Metrics' }).waitFor();
      const charts = await drawn();
      assert.deepEqual(layoutProblems(charts), []);
      // CPU of all cores on a fixed scale, each label its own.
      const cpu = charts.find((c) => c.title === 'CPU, % of all cores')!;
      assert.equal(cpu.y[0]!.text, '0 %');
      assert.equal(cpu.y.at(-1)!.text, '100 %');
      // The data partition: used of its size with the percent, and where the apps stop.
      const disk = page.locator('figure.chart', { has: page.locator('.chart-title', { hasText: 'Data partition (p2), used' }) });
      assert.match(await disk.locator('.latest').innerText(), /^[\d.]+ (bytes|KB|MB|GB|TB) of [\d.]+ (MB|GB|TB) \([\d.]+ %\)$/);
      assert.match(await disk.locator('.level-note').innerText(), /^apps stop at 95 % \([\d.]+ (MB|GB|TB)\)$/);
      assert.match(await disk.locator('.span-stats').innerText(), /^min [\d.]+ \w+, max [\d.]+ \w+ over the last /);
      // Memory against the machine's.
      const memory = page.locator('figure.chart', { has: page.locator('.chart-title', { hasText: 'Memory in use' }) });
      assert.match(await memory.locator('.latest').innerText(), / of [\d.]+ (MB|GB|TB) \([\d.]+ %\)$/);
      // Every partition and service is there, said by name.
      await page.getByText('Boot partition (p1), used').waitFor();
      await page.getByText('CPU of echo, % of one core').waitFor();
      assert.ok(((await page.evaluate(OVERFLOW)) as number) <= 0, 'no horizontal scrolling');
      await shot(`charts-${width}`);
      if (width === 1280) {
        await page.emulateMedia({ colorScheme: 'dark' });
        assert.deepEqual(layoutProblems(await drawn()), []);
        await shot('charts-dark-1280');
      }
    });
  }

  it('switches every chart to 24 h and 7 d, asks the server for that range, and keeps the choice', async () => {
    await login();
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${base}/manager/#/system`);
    await drawn();
    const asked = (range: string) => page.waitForResponse((r) => r.url().includes('/manager/api/metrics/ap_cpu_percent?') && new URL(r.url()).searchParams.get('range') === range, { timeout: 15_000 });
    for (const [label, range] of [
      ['24 h', 'day'],
      ['7 d', 'week'],
    ] as const) {
      const answer = asked(range);
      await page.getByLabel(label, { exact: true }).check();
      const points = ((await (await answer).json()) as { range: string; points: [number, number][] }).points;
      assert.ok(points.length >= 1, 'the 5-minute bucket still filling is served');
      // Redrawn from that answer: the caption's latest value is the answer's last.
      const cpu = page.locator('figure.chart[data-metric="ap_cpu_percent"]');
      await cpu.locator('.latest').filter({ hasText: new RegExp(`^${percent(points.at(-1)![1], 100)}$`) }).waitFor();
      await page.getByText(`5-minute averages of the last ${range === 'day' ? '24 hours' : '7 days'}`).waitFor();
      assert.deepEqual(layoutProblems(await drawn()), []);
    }
    // Every chart moved: the requests after the switch all ask for the week.
    const later: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/manager/api/metrics/ap_')) later.push(new URL(r.url()).searchParams.get('range') ?? 'none');
    });
    // Kept in the browser: a reload opens on 7 d.
    await page.reload();
    await drawn();
    assert.equal(await page.getByLabel('7 d', { exact: true }).isChecked(), true);
    assert.ok(later.length >= 6, `${later.length} chart requests after the reload`);
    assert.deepEqual([...new Set(later)], ['week']);
  });

  it('shows the boot settings with what each value means, switches the next boot after asking, and explains the update journal', async () => {
    const journal = join(root, 'mnt/sda1/update/journal');
    try {
      await login();
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.goto(`${base}/manager/#/system`);
      await page.getByRole('link', { name: 'Boot settings' }).click();
      await page.getByRole('heading', { name: 'Boot settings', exact: true }).waitFor();
      // Nothing written yet on this box: it reads as the rescue system, and says so.
      await page.locator('dd.state.rescue').filter({ hasText: 'the rescue system' }).waitFor();
      await page.getByText('not written yet').waitFor();
      await page.getByText('boots nothing from this file').waitFor();
      for (const [name, value, meaning] of [
        ['Kernel command line', 'root=/dev/ram0', /root=\/dev\/ram0 is the rescue system/],
        ['Initrd file', 'ramdisk.ext2.xz', /the ramdisk loaded with the kernel/],
        ['Ramdisk size', '100000', /the size of that ramdisk in KB/],
      ] as const) {
        const row = page.locator('.boot-values > div', { has: page.locator('dt', { hasText: name }) });
        assert.equal(await row.locator('code').innerText(), value);
        assert.match(await row.locator('dd').innerText(), meaning);
      }
      await page.getByText('No image update is under way.').waitFor();
      // To the App Platform: nothing to lose, no question.
      await page.getByRole('button', { name: 'Boot the App Platform next time' }).click();
      await page.locator('dd.state.normal').filter({ hasText: 'the App Platform (normal)' }).waitFor();
      const row = page.locator('.boot-values > div', { has: page.locator('dt', { hasText: 'Initrd file' }) });
      await row.locator('em', { hasText: 'empty' }).waitFor();
      // The gateway's own view is the same, raw as ever.
      assert.deepEqual(await (await fetch(`${base}/manager/boot`)).json(), { kind: 'gateway', mode: 'normal', kernelCommandLine: 'root=/dev/sda3', initrdFile: '', ramdiskSize: '' });
      // To the rescue system: asked first; cancelling changes nothing.
      await page.getByRole('button', { name: 'Boot the rescue system next time' }).click();
      const dialog = page.getByRole('dialog', { name: 'Boot the rescue system next time?' });
      await dialog.getByText('no app runs until it boots the App Platform again').waitFor();
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      assert.equal(((await (await fetch(`${base}/manager/boot`)).json()) as { mode: string }).mode, 'normal');
      await page.getByRole('button', { name: 'Boot the rescue system next time' }).click();
      await dialog.getByRole('button', { name: 'Boot the rescue system next' }).click();
      await page.locator('dd.state.rescue').waitFor();
      assert.equal(((await (await fetch(`${base}/manager/boot`)).json()) as { mode: string }).mode, 'rescue');
      // An update under way: each step with what it did, and going back to normal now asks.
      await mkdir(join(root, 'mnt/sda1/update'), { recursive: true });
      await writeFile(journal, 'staged 130015\nrescue 130015\n');
      await page.reload();
      const steps = page.locator('ol.journal li');
      await steps.first().waitFor();
      assert.deepEqual(await steps.allInnerTexts(), ['staged (image 130015): the image was downloaded to p1 and its signature checked', 'rescue (image 130015): the next boot was switched to the rescue system, which applies the image']);
      await shot('boot-1280');
      await page.getByRole('button', { name: 'Boot the App Platform next time' }).click();
      await page.getByRole('dialog', { name: 'Boot the App Platform next time?' }).getByText('Image 130015 is staged').waitFor();
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
      assert.ok(((await page.evaluate(OVERFLOW)) as number) <= 0);
    } finally {
      await rm(join(root, 'mnt/sda1/update'), { recursive: true, force: true });
    }
  });

  it('says in words that the rescue system never ran, then shows its log scrolled to the end with the whole file to download', async () => {
    const file = join(root, 'mnt/sda2/ramdisk.log');
    try {
      await login();
      await page.setViewportSize({ width: 360, height: 740 });
      await page.goto(`${base}/manager/#/system`);
      await page.getByRole('link', { name: 'Rescue system log' }).click();
      await page.getByRole('heading', { name: 'Rescue system log' }).waitFor();
      await page.getByText("The rescue system has not run on this box yet; its log appears here after an update or a technician's session.").waitFor();
      assert.equal(await page.locator('pre.log').count(), 0);
      // The technicians' address answers as before.
      assert.equal((await fetch(`${base}/manager/ramdisk.log`)).status, 404);

      const lines = Array.from({ length: 200 }, (_, i) => `2026-11-30T10:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}Z step ${i} of the update`);
      const text = `${lines.join('\n')}\n2026-11-30T10:04:00Z update done\n`;
      await writeFile(file, text);
      await page.reload();
      const log = page.locator('pre.log');
      await log.waitFor();
      assert.equal(await log.innerText(), text);
      await page.getByText('The last run (update) finished.').waitFor();
      // At its end, where the outcome is.
      const scrolled = (await page.evaluate("(() => { const p = document.querySelector('pre.log'); return p.scrollHeight - p.clientHeight - p.scrollTop; })()")) as number;
      assert.ok(scrolled <= 2, `${scrolled} px above the end`);
      const download = page.getByRole('link', { name: 'Download the whole log' });
      assert.equal(await download.getAttribute('href'), '/manager/ramdisk.log');
      assert.equal(await (await fetch(`${base}/manager/ramdisk.log`)).text(), text);
      assert.ok(((await page.evaluate(OVERFLOW)) as number) <= 0, 'no horizontal scrolling at 360 px');
      await shot('rescue-log-360');
    } finally {
      await rm(file, { force: true });
    }
  });
});
