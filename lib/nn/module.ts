/**
 * nn.Module: parameters, buffers and children are registered from the object's own fields, so field
 * names are the state-dict schema (`blocks_a.3.attn.qkv.weight`). Order is PyTorch's: a module's own
 * parameters in field order, then its buffers, then each child recursively. Declare fields in the same
 * order as the PyTorch `__init__` assigns them (class fields are defined in declaration order).
 */
import { Tensor, TorchError, torch } from '../tensor';
import { isBuffer, isParameter } from './parameter';
import { StateDictIssue, StateDictError } from './state_dict_error';

export type StateDict = Map<string, Tensor>;

export abstract class Module {
  /** Training mode (dropout, drop-path active). */
  training = true;

  /** Own entries in field order: [name, value] for parameters, buffers and child modules. */
  private ownEntries(): [string, unknown][] {
    return Object.entries(this).filter(([, v]) => v instanceof Module || isParameter(v) || isBuffer(v));
  }

  namedChildren(): [string, Module][] {
    return this.ownEntries().filter((e): e is [string, Module] => e[1] instanceof Module);
  }
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }
  /** This module and every descendant, depth first, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  private namedTensors(kind: (v: unknown) => v is Tensor, prefix: string, recurse: boolean): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const visit = (m: Module, pre: string) => {
      for (const [name, v] of m.ownEntries()) {
        if (kind(v) && !seen.has(v)) {
          seen.add(v);
          out.push([pre + name, v]);
        }
      }
      if (recurse) for (const [name, child] of m.namedChildren()) visit(child, `${pre}${name}.`);
    };
    visit(this, prefix ? `${prefix}.` : '');
    return out;
  }
  /** [name, parameter] pairs in PyTorch's order (duplicates once). */
  namedParameters(prefix = '', recurse = true): [string, Tensor][] {
    return this.namedTensors(isParameter, prefix, recurse);
  }
  parameters(recurse = true): Tensor[] {
    return this.namedParameters('', recurse).map(([, p]) => p);
  }
  namedBuffers(prefix = '', recurse = true): [string, Tensor][] {
    return this.namedTensors(isBuffer, prefix, recurse);
  }
  buffers(recurse = true): Tensor[] {
    return this.namedBuffers('', recurse).map(([, b]) => b);
  }

  /**
   * Parameters and buffers keyed as PyTorch names them (own parameters, own buffers, then children).
   * Values are detached handles sharing the parameters' storage: dispose them (or use tidy) when done.
   */
  stateDict(prefix = ''): StateDict {
    const out: StateDict = new Map();
    const visit = (m: Module, pre: string) => {
      const own = m.ownEntries();
      for (const [name, v] of own) if (isParameter(v)) out.set(pre + name, (v as Tensor).detach());
      for (const [name, v] of own) if (isBuffer(v)) out.set(pre + name, (v as Tensor).detach());
      for (const [name, child] of m.namedChildren()) visit(child, `${pre}${name}.`);
    };
    visit(this, prefix ? `${prefix}.` : '');
    return out;
  }

  /**
   * Copies a state dict into this module's parameters and buffers (values are converted to each
   * parameter's dtype and device). Keys may all carry the `module.` prefix of DataParallel/DDP.
   * strict (default): throws one StateDictError listing every missing, unexpected and shape-mismatched
   * key. Non-strict: loads what matches by name and reports missing and unexpected keys; a shape
   * mismatch is still an error (as in PyTorch).
   */
  loadStateDict(
    sd: Map<string, Tensor> | Record<string, Tensor>,
    opts: { strict?: boolean } = {},
  ): { missingKeys: string[]; unexpectedKeys: string[]; mismatchedKeys: string[] } {
    const strict = opts.strict ?? true;
    let entries = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
    if (entries.length > 0 && entries.every(([k]) => k.startsWith('module.'))) {
      entries = entries.map(([k, v]) => [k.slice('module.'.length), v]);
    }
    const incoming = new Map(entries);
    const own = new Map([...this.namedParameters(), ...this.namedBuffers()]);
    const issues: StateDictIssue[] = [];
    const missingKeys: string[] = [];
    const unexpectedKeys: string[] = [];
    const mismatchedKeys: string[] = [];
    for (const [key, value] of incoming) {
      if (!(value instanceof Tensor)) {
        issues.push({ code: 'invalid_value', key, message: `${key}: expected a Tensor` });
        continue;
      }
      const target = own.get(key);
      if (!target) {
        unexpectedKeys.push(key);
        issues.push({ code: 'unexpected_key', key, message: `unexpected key ${key} ${JSON.stringify(value.shape)}` });
        continue;
      }
      const a = target.shape,
        b = value.shape;
      if (a.length !== b.length || a.some((s, i) => s !== b[i])) {
        mismatchedKeys.push(key);
        issues.push({
          code: 'shape_mismatch',
          key,
          expected: a,
          found: b,
          message: `size mismatch for ${key}: expected ${JSON.stringify(a)}, found ${JSON.stringify(b)}`,
        });
      }
    }
    for (const key of own.keys()) {
      if (!incoming.has(key)) {
        missingKeys.push(key);
        issues.push({ code: 'missing_key', key, message: `missing key ${key}` });
      }
    }
    // As PyTorch: a shape mismatch is an error even when strict is off.
    const fatal = strict ? issues : issues.filter((i) => i.code === 'invalid_value' || i.code === 'shape_mismatch');
    if (fatal.length > 0) throw new StateDictError(this.constructor.name, fatal);
    const skip = new Set(mismatchedKeys);
    torch.noGrad(() => {
      for (const [key, value] of incoming) {
        const target = own.get(key);
        if (target && !skip.has(key)) target.copy_(value);
      }
    });
    return { missingKeys, unexpectedKeys, mismatchedKeys };
  }

  /** Sets training mode here and in every descendant. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Moves/casts every parameter and buffer in place (same tensor objects, as torch's module.to). */
  to(target: string): this {
    torch.noGrad(() => {
      for (const t of [...this.parameters(), ...this.buffers()]) {
        const moved = t.to(target);
        t.setData_(moved);
        moved.dispose();
      }
    });
    return this;
  }

  /** Sets requiresGrad on every parameter (false freezes the module). */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad_(flag);
    return this;
  }

  /** Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = undefined;
  }

  /** Applies fn to every module (children first, then this one), as torch's Module.apply. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  /** Frees every parameter and buffer of the tree. The module is unusable afterwards. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.buffers()]) t.dispose();
  }

  /** Number of parameter elements (trainable only when asked). */
  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    return this.parameters()
      .filter((p) => !opts.trainableOnly || p.requiresGrad)
      .reduce((n, p) => n + p.numel(), 0);
  }
}

export { TorchError };
