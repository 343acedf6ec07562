/**
 * The per-epoch progress bar on a terminal (the maintained `cli-progress` package): batches done, items
 * per second, the running mean loss and the ETA. fit() uses it when `progressBar` is set (the CLI sets it
 * on a TTY unless --quiet); elsewhere fit() prints plain lines every `logEvery` steps instead.
 */
import { SingleBar } from 'cli-progress';

export class EpochBar {
  private readonly bar: SingleBar;
  private readonly t0 = Date.now();

  /** `total`: batches in the epoch. */
  constructor(epoch: number, epochs: number, total: number, stream: NodeJS.WritableStream = process.stderr) {
    this.bar = new SingleBar({
      stream,
      format: `epoch ${epoch}/${epochs} [{bar}] {value}/{total} batches | {rate} items/s | loss {loss} | ETA {eta_formatted}`,
      barsize: 24,
      hideCursor: false,
      clearOnComplete: true,
      etaBuffer: 20,
      // Redraw at most 5 times a second; the bar is only drawn on a TTY (cli-progress' default check).
      fps: 5,
    });
    this.bar.start(total, 0, { rate: '-', loss: '-' });
  }

  /** After a step: `steps` batches and `samples` items done, `loss` the running mean (null: not read yet). */
  update(steps: number, samples: number, loss: number | null): void {
    const s = (Date.now() - this.t0) / 1000;
    this.bar.update(steps, { rate: s > 0 ? (samples / s).toFixed(1) : '-', ...(loss !== null ? { loss: loss.toFixed(4) } : {}) });
  }

  stop(): void {
    this.bar.stop();
  }
}
