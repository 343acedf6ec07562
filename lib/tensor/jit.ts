/**
 * torch.jit: TorchScript modules saved by PyTorch (`torch.jit.script(m).save(path)` or traced), loaded
 * by LibTorch and run on our tensors. `forward` and every other exported method are callable.
 */
import { native as N } from '../native/binding';
import { checkDevice } from './dtype';
import { TorchError, argError } from './errors';
import { Tensor, wrap } from './tensor';

/** What a TorchScript method returns: tensors, numbers, booleans, null, and tuples/lists of them. */
export type ScriptValue = Tensor | number | boolean | null | ScriptValue[];

function fromNative(v: unknown): ScriptValue {
  if (Array.isArray(v)) return v.map(fromNative);
  if (v !== null && typeof v === 'object') return wrap((v as { tensor: number }).tensor);
  return v as number | boolean | null;
}

export class ScriptModule {
  private disposed = false;
  constructor(private readonly handle: number) {}

  /** Names of the module's methods (`forward` first when present). */
  methods(): string[] {
    return N.jitMethods(this.handle);
  }
  /** Runs `method` with tensor arguments. Results are new tensors the caller owns (tidy or dispose). */
  call(method: string, ...inputs: Tensor[]): ScriptValue {
    if (typeof method !== 'string') argError('ScriptModule.call', 'method', 'a method name', method);
    inputs.forEach((x, i) => (x instanceof Tensor ? undefined : argError('ScriptModule.call', `inputs[${i}]`, 'a Tensor', x)));
    return fromNative(
      N.jitCall(
        this.handle,
        method,
        inputs.map((x) => x.id),
      ),
    );
  }
  forward(...inputs: Tensor[]): ScriptValue {
    return this.call('forward', ...inputs);
  }
  train(mode = true): this {
    N.jitTrain(this.handle, mode);
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  /** Frees the module (idempotent). */
  dispose(): void {
    if (!this.disposed) N.jitDispose(this.handle);
    this.disposed = true;
  }
}

export const jit = {
  /** Loads a TorchScript file (`mapLocation`: the device its tensors go to, default 'cpu'). */
  load(path: string, opts: { mapLocation?: string } = {}): ScriptModule {
    if (typeof path !== 'string') argError('jit.load', 'path', 'a file path', path);
    const device = checkDevice('jit.load', opts.mapLocation ?? 'cpu');
    try {
      return new ScriptModule(N.jitLoad(path, device));
    } catch (e) {
      const err = e as TorchError;
      throw new TorchError(`jit.load(${JSON.stringify(path)}): ${err.message}`, err.code ?? 'ERR_TORCH');
    }
  },
};
