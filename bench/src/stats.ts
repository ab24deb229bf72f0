/** Latency and rate arithmetic shared by every scenario. Times are in milliseconds. */

export interface LatencySummary {
  count: number
  mean: number
  p50: number
  p90: number
  p99: number
  max: number
}

/** Nearest-rank percentile of an ascending array; NaN when it is empty. */
export function percentile (sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p / 100 * sorted.length)))
  return sorted[rank - 1] as number
}

export function summarize (samples: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samples).sort()
  let sum = 0
  for (const x of sorted) sum += x
  return {
    count: sorted.length,
    mean: round(sorted.length > 0 ? sum / sorted.length : Number.NaN),
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.length > 0 ? sorted[sorted.length - 1] as number : Number.NaN)
  }
}

/** Rounds to `digits` decimals; keeps NaN (JSON turns it into null, which the report shows as "–"). */
export function round (x: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** a / b rounded, or NaN when b is 0 or either is missing. */
export function ratio (a: number | undefined, b: number | undefined, digits = 2): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return Number.NaN
  return round(a / b, digits)
}
