// Types of cluster/allocator.mjs, for the TypeScript bench and tests that use it.
export const jemallocPackage: string;
export function hasJemalloc(): boolean;
export function allocatorChoice(env: Record<string, string | undefined>): 'auto' | 'jemalloc' | 'glibc';
export function ensureJemalloc(env: Record<string, string | undefined>, log: (line: string) => void): void;
export function allocatorEnv(env: Record<string, string | undefined>, installed?: () => boolean): Record<string, string>;
