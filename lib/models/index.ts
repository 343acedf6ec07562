/** models/: Social-MAE (pretraining and finetuning) with CAV-MAE compatibility. */
export * from './social_mae';
