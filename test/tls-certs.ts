// Test helper: a throwaway CA and a certificate for 127.0.0.1 (server and client use), made with openssl.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  remove(): void;
}

export function makePki(name = 'test'): TestPki {
  const dir = mkdtempSync(join(tmpdir(), `sdb-pki-${name}-`));
  const at = (f: string): string => join(dir, f);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}-ca`, '-keyout', at('ca.key'), '-out', at('ca.pem'));
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', at('node.key'), '-out', at('node.csr'));
  writeFileSync(at('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  ssl('x509', '-req', '-in', at('node.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-days', '2',
    '-extfile', at('ext.cnf'), '-out', at('node.pem'));
  return {
    dir, caFile: at('ca.pem'), certFile: at('node.pem'), keyFile: at('node.key'),
    ca: readFileSync(at('ca.pem')), cert: readFileSync(at('node.pem')), key: readFileSync(at('node.key')),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
