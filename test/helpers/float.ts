/** Float32 rounding facts the tests derive their tolerances from. */

/** torch.finfo(torch.float32).eps = 2^-23: the spacing of float32 numbers at 1 (unit roundoff is eps/2). */
export const FLOAT32_EPS = 2 ** -23;
