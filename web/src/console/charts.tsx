// Two small hand-written SVG charts; each comes with a table of the same
// numbers next to it, so screen readers read the table and skip the picture.

export interface Bar {
  label: string;
  value: number;
  text: string;
}

export function BarChart({ bars, title }: { bars: Bar[]; title: string }) {
  const max = Math.max(1, ...bars.map((b) => b.value));
  const row = 28;
  const height = Math.max(row, bars.length * row);
  return (
    <svg className="chart" viewBox={`0 0 600 ${height}`} role="img" aria-label={title} preserveAspectRatio="xMinYMin meet">
      {bars.map((b, i) => {
        const w = Math.max(2, (b.value / max) * 290);
        return (
          <g key={b.label} transform={`translate(0 ${i * row})`}>
            <text x="0" y="18" className="chart-label">{b.label.length > 30 ? `${b.label.slice(0, 29)}…` : b.label}</text>
            <rect x="220" y="5" width={w} height="17" rx="4" className={`bar bar-${i % 6}`} />
            <text x={226 + w} y="18" className="chart-value">{b.text}</text>
          </g>
        );
      })}
    </svg>
  );
}

export interface Point {
  label: string;
  value: number;
  text: string;
}

export function ColumnChart({ points, title }: { points: Point[]; title: string }) {
  const max = Math.max(1, ...points.map((p) => p.value));
  const w = 600;
  const h = 180;
  const base = h - 24;
  const slot = w / Math.max(1, points.length);
  const bw = Math.min(36, slot * 0.7);
  return (
    <svg className="chart" viewBox={`0 0 ${w} ${h}`} role="img" aria-label={title}>
      <line x1="0" x2={w} y1={base} y2={base} className="axis" />
      {points.map((p, i) => {
        const ph = (p.value / max) * (base - 18);
        const x = i * slot + (slot - bw) / 2;
        return (
          <g key={p.label}>
            <rect x={x} y={base - ph} width={bw} height={Math.max(1, ph)} rx="3" className="bar bar-0">
              <title>{`${p.label}: ${p.text}`}</title>
            </rect>
            {(points.length <= 12 || i % Math.ceil(points.length / 12) === 0) && (
              <text x={x + bw / 2} y={h - 6} textAnchor="middle" className="chart-label">{p.label}</text>
            )}
          </g>
        );
      })}
    </svg>
  );
}
