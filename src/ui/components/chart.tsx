// One metric over the last hour (uPlot), redrawn every 5 s, its latest value
// beside the title. A failed load leaves the last drawing and says why.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api } from '../api';
import { errorText } from './errors';

export type Format = (value: number) => string;

export function Chart({ title, name, labels, format }: { title: string; name: string; labels: Record<string, string>; format: Format }) {
  const box = useRef<HTMLDivElement>(null);
  const [last, setLast] = useState<string>('…');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let plot: uPlot | null = null;
    const controller = new AbortController();
    const draw = async () => {
      const query = new URLSearchParams({ range: 'hour', ...labels }).toString();
      let r: { points: [number, number][] };
      try {
        r = await api<{ points: [number, number][] }>('GET', `/metrics/${name}?${query}`, undefined, controller.signal);
      } catch (err) {
        if (!controller.signal.aborted) setError(errorText(err));
        return;
      }
      if (controller.signal.aborted || !box.current) return;
      setError(null);
      const xs = r.points.map((p) => p[0] / 1000);
      const ys = r.points.map((p) => p[1]);
      if (ys.length) setLast(format(ys[ys.length - 1]!));
      const data: uPlot.AlignedData = [xs, ys];
      if (!plot) {
        plot = new uPlot({ width: Math.min(560, box.current.clientWidth || 320), height: 160, series: [{}, { label: title, stroke: '#2563eb', width: 2 }], axes: [{}, { size: 72, values: (_u, v) => v.map((x) => format(x)) }], legend: { show: false } }, data, box.current);
      } else plot.setData(data);
    };
    void draw();
    const timer = setInterval(() => void draw(), 5000);
    return () => {
      controller.abort();
      clearInterval(timer);
      plot?.destroy();
    };
  }, [name]);
  return (
    <figure class="chart" data-metric={name}>
      <figcaption>
        {title}: <strong>{last}</strong>
        {error && (
          <span class="error" role="alert">
            {' '}
            ({error})
          </span>
        )}
      </figcaption>
      <div ref={box} />
    </figure>
  );
}
