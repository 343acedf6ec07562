/** nn: Module with PyTorch names, layers, containers, init, functional. */
export { Module } from './module';
export type { StateDict } from './module';
export { Parameter, Buffer, isParameter, isBuffer } from './parameter';
export { StateDictError } from './state_dict_error';
export type { StateDictIssue } from './state_dict_error';
export { ModuleList, Sequential, ModuleDict } from './containers';
export { Linear, LayerNorm, Conv1d, Conv2d, Conv3d, GELU, ReLU, Identity, Dropout, DropPath, Embedding } from './layers';
export * as init from './init';
export { F as functional } from '../tensor';
export * as utils from './utils';
