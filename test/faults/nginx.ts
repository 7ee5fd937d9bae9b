// nginx in front of the fault cluster's client ports, with the project's own cluster/nginx.conf (its upstream and
// listen lines pointed at this run's ports), so clients also see what a load balancer does to outcomes.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pointAt } from '../../cluster/nginx-conf.mjs';
import { freePort } from '../cluster/process-cluster.js';
import { sleep } from './clock.js';

const rootDir = join(import.meta.dirname, '..', '..');
export const nginxBinary = '/usr/sbin/nginx';

export class Nginx {
  private constructor(readonly url: string, readonly child: ChildProcess) {}

  static available(): boolean {
    return existsSync(nginxBinary);
  }

  static async start(httpPorts: readonly number[], runDir: string): Promise<Nginx> {
    const prefix = join(runDir, 'nginx');
    for (const dir of ['tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(prefix, dir), { recursive: true });
    const port = await freePort();
    const shipped = readFileSync(join(rootDir, 'cluster', 'nginx.conf'), 'utf8');
    const conf = pointAt(shipped, httpPorts, port);
    const confPath = join(prefix, 'nginx.conf');
    writeFileSync(confPath, conf);
    const child = spawn(nginxBinary, ['-p', `${prefix}/`, '-c', confPath, '-e', join(prefix, 'error.log')], { stdio: 'ignore' });
    const nginx = new Nginx(`http://127.0.0.1:${port}`, child);
    for (let i = 0; i < 50; i++) {
      if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}); see ${join(prefix, 'error.log')}`);
      try {
        const r = await fetch(`${nginx.url}/health`, { signal: AbortSignal.timeout(500) });
        await r.arrayBuffer();
        return nginx;
      } catch (_err) {
        await sleep(100);
      }
    }
    await nginx.stop();
    throw new Error('nginx did not answer');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}
