// One metric as a chart over the range the System page chose. uPlot draws the
// line and the grid; the axis labels are text laid over it where ../axes
// placed them (measured, so none is clipped and none overlaps its neighbour),
// which also lets them follow the page's colours. The caption says the unit,
// the latest value (of its whole, when it has one) and the range's min and
// max. The chart follows its box's width; a failed load keeps the last drawing
// and says why.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api } from '../api';
import { formatValue, RANGES, timeAxis, valueAxis, type Axis, type Range, type ValueScale } from '../axes';
import { duration, percent } from '../format';
import { errorText } from './errors';

export interface ChartSpec extends ValueScale {
  readonly title: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The whole this is a part of: the caption says "x of total (p %)". */
  readonly of?: { readonly total: number; readonly what?: string };
  /** A level drawn as a dashed line, and what it means. */
  readonly line?: { readonly value: number; readonly text: string };
}

type Points = [number, number][];

const HEIGHT = 180;
const PAD_TOP = 10;
const TIME_ROW = 24;
const LABEL_GAP = 6;
const MINUTE = 60_000;

/** A colour of the page's theme (style.css), read when drawn so a change of light or dark mode is followed. */
function themed(name: string, fallback: string): () => string {
  return () => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}
const LINE = themed('--accent', '#2563eb');
const GRID = themed('--border', '#d9e2ec');
const DANGER = themed('--danger', '#b91c1c');

/** The chart's drawing: uPlot, the labels over it, and the layout both follow. */
class Drawing {
  private plot: uPlot | null = null;
  private x: Axis = { min: 0, max: 1, ticks: [] };
  private y: Axis = { min: 0, max: 1, ticks: [] };
  private yWidth = 40;
  private readonly labels: HTMLDivElement;
  private readonly measure: (text: string) => number;
  /** Half the widest time label: room at both ends of the plot, so a label on its edge fits. */
  private readonly edge: number;
  private last: { points: Points; spec: ChartSpec; span: number } | null = null;

  constructor(private readonly box: HTMLDivElement) {
    this.labels = document.createElement('div');
    this.labels.className = 'ticks';
    this.labels.setAttribute('aria-hidden', 'true');
    box.append(this.labels);
    const context = document.createElement('canvas').getContext('2d')!;
    this.measure = (text) => {
      context.font = getComputedStyle(this.labels).font || '12px sans-serif';
      return Math.ceil(context.measureText(text).width);
    };
    this.edge = Math.ceil(this.measure('00:00:00') / 2) + 2;
  }

  draw(points: Points, spec: ChartSpec, span: number): void {
    this.last = { points, spec, span };
    const width = Math.max(120, this.box.clientWidth);
    const plotHeight = HEIGHT - PAD_TOP - TIME_ROW;
    this.y = valueAxis(
      points.map((p) => p[1]),
      spec,
      plotHeight,
    );
    this.yWidth = Math.max(this.edge, ...this.y.ticks.map((t) => this.measure(t.label) + 2 * LABEL_GAP));
    const end = points.at(-1)?.[0] ?? Date.now();
    // The data's own extent when it is shorter than the range (a box that just started shows its minutes, not an empty week), a minute at least.
    const start = Math.min(Math.max(points[0]?.[0] ?? end - span, end - span), end - MINUTE);
    this.x = timeAxis(start, end, width - this.yWidth - this.edge, this.measure, { left: this.yWidth, right: this.edge });
    const data: uPlot.AlignedData = [points.map((p) => p[0]), points.map((p) => p[1])];
    if (!this.plot) this.plot = new uPlot(this.options(width), data, this.box);
    else this.plot.setData(data);
    // Always: a new label width must lay the plot out again, which setData alone does not when the scales stay.
    this.plot.setSize({ width, height: HEIGHT });
  }

  /** Draws again at the box's width (the window was resized) or in the page's current colours. */
  redraw(): void {
    if (this.last) this.draw(this.last.points, this.last.spec, this.last.span);
  }

  destroy(): void {
    this.plot?.destroy();
    this.labels.remove();
  }

  private options(width: number): uPlot.Options {
    const blank = (_u: uPlot, splits: number[]) => splits.map(() => '');
    const grid = { stroke: GRID, width: 1 };
    return {
      width,
      height: HEIGHT,
      padding: [PAD_TOP, this.edge, 0, 0],
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false, range: () => [this.x.min, this.x.max] }, y: { range: () => [this.y.min, this.y.max] } },
      series: [{}, { stroke: LINE, width: 2, points: { show: false } }],
      axes: [
        { size: TIME_ROW, splits: () => this.x.ticks.map((t) => t.value), values: blank, grid, ticks: { show: false } },
        { size: () => this.yWidth, splits: () => this.y.ticks.map((t) => t.value), values: blank, grid, ticks: { show: false } },
      ],
      hooks: { draw: [(u) => this.overlay(u)] },
    };
  }

  /** The labels at the ticks' places, and the level line. */
  private overlay(u: uPlot): void {
    const { offsetLeft: left, offsetTop: top, clientWidth: w, clientHeight: h } = u.over;
    const label = (text: string, style: Partial<CSSStyleDeclaration>, kind: string) => {
      const span = document.createElement('span');
      span.className = kind;
      span.textContent = text;
      Object.assign(span.style, style);
      return span;
    };
    const spans = [
      ...this.y.ticks.map((t) => label(t.label, { right: `${this.box.clientWidth - left + LABEL_GAP}px`, top: `${top + (1 - t.at) * h}px` }, 'y')),
      ...this.x.ticks.map((t) => label(t.label, { left: `${left + t.at * w}px`, top: `${top + h + 4}px` }, 'x')),
    ];
    const line = this.last?.spec.line;
    if (line && line.value <= this.y.max) {
      const at = u.valToPos(line.value, 'y', true);
      const ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = DANGER();
      ctx.lineWidth = 1.5 * uPlot.pxRatio;
      ctx.setLineDash([6 * uPlot.pxRatio, 4 * uPlot.pxRatio]);
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, at);
      ctx.lineTo(u.bbox.left + u.bbox.width, at);
      ctx.stroke();
      ctx.restore();
    }
    this.labels.replaceChildren(...spans);
  }
}

/** min and max of the points' values. */
function extent(points: Points): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const [, v] of points) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

export function Chart({ spec, range }: { spec: ChartSpec; range: Range }) {
  const box = useRef<HTMLDivElement>(null);
  const drawing = useRef<Drawing | null>(null);
  // The answer kept with the range it answers: after a switch the old range's points are not shown as the new one's.
  const [held, setHeld] = useState<{ range: Range; points: Points } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const query = new URLSearchParams({ range, ...spec.labels }).toString();

  useEffect(() => {
    const controller = new AbortController();
    const load = async () => {
      try {
        const r = await api<{ points: Points }>('GET', `/metrics/${spec.name}?${query}`, undefined, controller.signal);
        if (controller.signal.aborted) return;
        setHeld({ range, points: r.points });
        setError(null);
      } catch (err) {
        if (!controller.signal.aborted) setError(errorText(err));
      }
    };
    void load();
    // The hour ring moves every sample; the 5-minute averages slowly.
    const timer = setInterval(() => void load(), range === 'hour' ? 5000 : 30_000);
    return () => {
      controller.abort();
      clearInterval(timer);
    };
  }, [spec.name, query]);

  useEffect(() => {
    const d = (drawing.current = new Drawing(box.current!));
    const resized = new ResizeObserver(() => d.redraw());
    resized.observe(box.current!);
    const scheme = matchMedia('(prefers-color-scheme: dark)');
    const recolour = () => d.redraw();
    scheme.addEventListener('change', recolour);
    return () => {
      resized.disconnect();
      scheme.removeEventListener('change', recolour);
      d.destroy();
      drawing.current = null;
    };
  }, []);

  const points = held?.range === range ? held.points : null;
  const span = RANGES.find((r) => r.range === range)!.ms;
  useEffect(() => {
    if (points) drawing.current?.draw(points, spec, span);
  }, [points, spec, span]);

  const latest = points?.at(-1)?.[1];
  const [min, max] = points?.length ? extent(points) : [0, 0];
  const said = (v: number) => formatValue(spec.unit, v);
  const now = latest === undefined ? (points ? 'no data yet' : 'loading…') : spec.of ? `${said(latest)} of ${said(spec.of.total)}${spec.of.what ? ` ${spec.of.what}` : ''} (${percent(latest, spec.of.total)})` : said(latest);
  const over = points && points.length > 1 ? duration((points.at(-1)![0] - points[0]![0]) / 1000) : null;
  const summary = over ? `min ${said(min)}, max ${said(max)} over the last ${over}` : null;
  return (
    <figure class="chart" data-metric={spec.name}>
      <figcaption>
        <span class="chart-title">{spec.title}</span> <strong class="latest">{now}</strong>
        {summary && <span class="span-stats">{summary}</span>}
        {spec.line && <span class="level-note">{spec.line.text}</span>}
        {error && (
          <span class="error" role="alert">
            {error}
          </span>
        )}
      </figcaption>
      <div class="plot-area">
        {/* uPlot and the labels live in this box, outside Preact's children. */}
        <div class="plot" ref={box} role="img" aria-label={`${spec.title}: ${now}${summary ? `; ${summary}` : ''}`} />
        {points?.length === 0 && <p class="empty">no data yet</p>}
      </div>
    </figure>
  );
}
