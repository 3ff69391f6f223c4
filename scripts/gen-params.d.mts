// Types of scripts/gen-params.mjs for tests/params.test.ts.
import type { ParamStruct } from "../src/kernels/params.js";
export declare const SOURCE: string;
export declare const ASSEMBLY_OUT: string;
export declare const HOST_OUT: string;
export declare function loadStructs(): Promise<Record<string, ParamStruct>>;
export declare function assemblySource(structs: Record<string, ParamStruct>): string;
export declare function hostSource(structs: Record<string, ParamStruct>): string;
export declare function generateParams(options?: { check?: boolean }): Promise<string[]>;
