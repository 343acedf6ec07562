/** ModuleList, Sequential and ModuleDict: children named by index ('.0.', '.1.') or key. */
import { Tensor } from '../tensor';
import { Module } from './module';

/** A list of modules; child i is named `i` in the state dict. */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  [index: number]: M;
  constructor(modules: M[] = []) {
    super();
    modules.forEach((m, i) => this.set(i, m));
  }
  get length(): number {
    return this.children().length;
  }
  set(i: number, m: M): void {
    Object.defineProperty(this, String(i), { value: m, enumerable: true, writable: true, configurable: true });
  }
  push(m: M): this {
    this.set(this.length, m);
    return this;
  }
  at(i: number): M {
    const n = this.length;
    return this[i < 0 ? i + n : i];
  }
  *[Symbol.iterator](): Iterator<M> {
    for (const c of this.children()) yield c as M;
  }
  forward(): never {
    throw new Error('ModuleList has no forward(); iterate it');
  }
}

/** Modules applied in order; forward(x) chains them. */
export class Sequential extends ModuleList<Module & { forward(x: Tensor): Tensor }> {
  override forward(x?: Tensor): never {
    let y = x as Tensor;
    for (const m of this) y = m.forward(y);
    return y as never;
  }
}

/** Modules by name; insertion order is the state-dict order. */
export class ModuleDict<M extends Module = Module> extends Module {
  constructor(entries: Record<string, M> = {}) {
    super();
    for (const [k, m] of Object.entries(entries)) this.set(k, m);
  }
  set(key: string, m: M): void {
    Object.defineProperty(this, key, { value: m, enumerable: true, writable: true, configurable: true });
  }
  get(key: string): M | undefined {
    const v = (this as unknown as Record<string, unknown>)[key];
    return v instanceof Module ? (v as M) : undefined;
  }
  keys(): string[] {
    return this.namedChildren().map(([k]) => k);
  }
}
