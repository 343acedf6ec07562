/** Errors raised by the training loops (lib/train), with stable codes. */
import { TorchError } from '../tensor/errors';

export type TrainErrorCode =
  /** A caller passed an invalid option (the message names it, with the expected and the actual value). */
  | 'ERR_INVALID_ARG'
  /** A run directory or a saved trainer state does not fit what is being resumed. */
  | 'ERR_BAD_STATE'
  /** The loss became NaN or infinite (the message names epoch and step). */
  | 'ERR_NONFINITE_LOSS';

export class TrainError extends TorchError {
  declare readonly code: TrainErrorCode;
  constructor(message: string, code: TrainErrorCode) {
    super(message, code);
    this.name = 'TrainError';
  }
}
