/** optim: torch.optim equivalents (optimizers with PyTorch-layout state dicts, LR schedulers). */
export { Optimizer } from './optimizer';
export type { ParamGroup, ParamGroupInit, Params, ParamState, OptimizerStateDict } from './optimizer';
export { Adam, AdamW } from './adam';
export { GradScaler } from './grad_scaler';
export type { GradScalerOptions } from './grad_scaler';
export type { AdamOptions, AdamState } from './adam';
export { SGD } from './sgd';
export type { SGDOptions, SGDState } from './sgd';
export { LRScheduler, LambdaLR, StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR, CosineAnnealingLR } from './lr_scheduler';
export { SequentialLR, ChainedScheduler, ReduceLROnPlateau } from './lr_scheduler_compose';
export type { ReduceLROnPlateauOptions } from './lr_scheduler_compose';
/** torch.optim.lr_scheduler as a namespace too (`optim.lrScheduler.StepLR`). */
export * as lrScheduler from './schedulers';
