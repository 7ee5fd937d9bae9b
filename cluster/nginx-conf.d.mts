// Types of cluster/nginx-conf.mjs, for the TypeScript tests that use it.
export function pointAt(conf: string, httpPorts: readonly number[], listenPort: number): string;
