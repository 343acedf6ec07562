/**
 * Checkpoint I/O: PyTorch `.pth` (zip and legacy) and safetensors.
 *
 * - Tensor level: {@link load}, {@link save}, {@link saveSafetensors} (checkpoint.ts) and
 *   {@link convertCheckpoint} (convert.ts).
 * - Raw level (no native addon needed): everything in core.ts.
 */

export * from './core';
export { load, save, saveSafetensors, type LoadOptions, type MapLocation } from './checkpoint';
