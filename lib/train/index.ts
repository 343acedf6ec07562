/**
 * Training loops: pretraining (SocialMAE) and finetuning (SocialMAEFT) over DataLoaders, with the
 * reference's optimiser, lr policy, augmentation and metrics, checkpoints in the reference's layout,
 * resume, and mixed precision on CUDA.
 */
export { pretrain, CONTRAST_SCOPES, type ContrastScope, type PretrainLoopOptions } from './pretrain';
export { finetune, summarize, BEST_METRICS, type FinetuneLoopOptions, type FinetuneResult } from './finetune';
export { predictScores, resolveLoss, lossFunction, modelInputs, targetMatrix, TASKS, LOSS_KINDS, type LossKind } from './supervised';
export { evaluate, reportFromScores, writeEvalReport, type EvalOptions, type EvalReport, type EvalPrediction } from './evaluate';
export { MetricsLog, METRICS_FILE } from './metrics_log';
export { lineChartSvg, confusionSvg, writeCurves, writeConfusion, PLOTS_DIR, type Series } from './plots';
export { EpochBar } from './progress';
export { reconstructionPng, type ReconstructionOptions } from './recon_picture';
export { embedDataset, writeEmbeddings, readEmbeddings, EMBEDDINGS_FILE, INDEX_FILE, type EmbeddingSet, type EmbeddingKind } from './embed';
export { cosineMatrix, retrievalMetrics, labelRetrievalMetrics, topK, crossModalRetrieval, type RetrievalMetrics } from './retrieval';
export { fit, withAmp, type FitOptions, type FitTask } from './fit';
export { ReferenceSchedule, type LrScheduleOptions } from './schedule';
export { specAugment, fbankNoise, MASKED_FBANK_FILL, type SpecAugmentOptions } from './augment';
export {
  classificationStats,
  classificationReport,
  regressionReport,
  confusionMatrix,
  balancedAccuracy,
  argmaxRows,
  averagePrecision,
  rocAuc,
  type ClassificationStats,
  type ClassificationReport,
  type RegressionReport,
} from './metrics';
export { RunDir, type EpochRecord, type TrainerState } from './run_dir';
export { TrainError, type TrainErrorCode } from './errors';
