/**
 * Metrics across ranks: each rank computes its own numbers on its shard; the loops log the average
 * (`reduceMetrics`) on the main process only (process_group.ts `isMainProcess`).
 */
import { torch } from '../tensor';
import { argError } from '../tensor/errors';
import { allReduce, getWorldSize, isInitialized, type ReduceOp } from './process_group';

/**
 * Reduces each number of `record` across ranks (default the mean; 'sum', 'min', 'max' too) with one
 * collective. Every rank must call it with the same keys. Without a process group (or with one rank) it
 * returns a copy. Values are reduced in float64.
 */
export async function reduceMetrics(record: Record<string, number>, op: ReduceOp = 'avg'): Promise<Record<string, number>> {
  if (record === null || typeof record !== 'object') argError('reduceMetrics', 'record', 'an object of numbers', record);
  const keys = Object.keys(record).sort();
  for (const k of keys) if (typeof record[k] !== 'number') argError('reduceMetrics', `record.${k}`, 'a number', record[k]);
  if (!isInitialized() || getWorldSize() === 1 || keys.length === 0) return { ...record };
  const t = torch.tensor(
    keys.map((k) => record[k]),
    { dtype: 'float64' },
  );
  try {
    await allReduce(t, op);
    const values = t.toArray();
    return Object.fromEntries(keys.map((k, i) => [k, Number(values[i])]));
  } finally {
    t.dispose();
  }
}
