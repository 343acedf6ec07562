/** The schedulers gathered for `optim.lrScheduler` (torch.optim.lr_scheduler). */
export { LRScheduler, LambdaLR, StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR, CosineAnnealingLR } from './lr_scheduler';
export { SequentialLR, ChainedScheduler, ReduceLROnPlateau } from './lr_scheduler_compose';
