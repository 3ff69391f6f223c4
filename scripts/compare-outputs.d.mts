/** Outputs by name: dims and data (any numeric array; int64 as bigint). */
export type ComparedOutputs = Record<string, { dims: readonly number[]; data: ArrayLike<number | bigint> }>;
export declare const TOLERANCE: number;
export declare function compareOutputs(
  got: ComparedOutputs,
  want: ComparedOutputs,
  tolerance?: number,
): { worst: { output: string; relErr: number }; failure?: string };
