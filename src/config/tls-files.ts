// Reads the PEM files the TLS_* and PEER_TLS_* settings name, and checks that each holds what its setting says,
// so a wrong file stops the start with one line naming the setting rather than a TLS error at the first handshake.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Config } from './schema.js';

/** A TLS file a setting names that cannot be read, or does not hold what the setting says: one line, exit code 2. */
export class TlsFileError extends Error {
  readonly code = 'tls_file';

  constructor(key: string, path: string, what: string) {
    super(`config: ${key} ${path}: ${what.replace(/\s*\n\s*/g, ' ')}`);
    this.name = 'TlsFileError';
  }
}

async function readTlsFile(key: string, path: string | null): Promise<Buffer | null> {
  if (path === null) return null;
  try {
    return await readFile(path);
  } catch (err) {
    throw new TlsFileError(key, path, `cannot be read: ${(err as Error).message}`);
  }
}

/** Each file on its own, so a refusal names the one at fault; then the cert and key together, which must match. */
function checkTlsFiles(files: { key: string; path: string | null; bytes: Buffer | null; part: 'cert' | 'key' | 'ca' }[]): void {
  const check = (options: SecureContextOptions, key: string, path: string | null): void => {
    try {
      createSecureContext(options);
    } catch (err) {
      throw new TlsFileError(key, path ?? '', (err as Error).message);
    }
  };
  for (const { key, path, bytes, part } of files) {
    if (bytes === null) continue;
    if (part !== 'ca') {
      check({ [part]: bytes }, key, path);
      continue;
    }
    // A secure context takes a CA file that holds no certificate without a word; the first one must parse.
    try {
      new X509Certificate(bytes);
    } catch (err) {
      throw new TlsFileError(key, path ?? '', `holds no CA certificate: ${(err as Error).message}`);
    }
  }
  const cert = files.find((f) => f.part === 'cert');
  const key = files.find((f) => f.part === 'key');
  if (cert?.bytes && key?.bytes) {
    check({ cert: cert.bytes, key: key.bytes }, key.key, `${key.path} does not go with ${cert.key} ${cert.path}`);
  }
}

/**
 * Reads the PEM files named by TLS_* and PEER_TLS_* (the config checked that they come in complete sets) and checks
 * that each holds what its setting says.
 */
export async function readTls(config: Config): Promise<{
  clientTls: { cert: Buffer; key: Buffer } | null; peerTls: { cert: Buffer; key: Buffer; ca: Buffer } | null;
}> {
  const [cert, key, peerCert, peerKey, peerCa] = await Promise.all([
    readTlsFile('TLS_CERT_FILE', config.tlsCertFile), readTlsFile('TLS_KEY_FILE', config.tlsKeyFile),
    readTlsFile('PEER_TLS_CERT_FILE', config.peerTlsCertFile), readTlsFile('PEER_TLS_KEY_FILE', config.peerTlsKeyFile),
    readTlsFile('PEER_TLS_CA_FILE', config.peerTlsCaFile),
  ]);
  checkTlsFiles([
    { key: 'TLS_CERT_FILE', path: config.tlsCertFile, bytes: cert, part: 'cert' },
    { key: 'TLS_KEY_FILE', path: config.tlsKeyFile, bytes: key, part: 'key' },
  ]);
  checkTlsFiles([
    { key: 'PEER_TLS_CERT_FILE', path: config.peerTlsCertFile, bytes: peerCert, part: 'cert' },
    { key: 'PEER_TLS_KEY_FILE', path: config.peerTlsKeyFile, bytes: peerKey, part: 'key' },
    { key: 'PEER_TLS_CA_FILE', path: config.peerTlsCaFile, bytes: peerCa, part: 'ca' },
  ]);
  return {
    clientTls: cert !== null && key !== null ? { cert, key } : null,
    peerTls: peerCert !== null && peerKey !== null && peerCa !== null ? { cert: peerCert, key: peerKey, ca: peerCa } : null,
  };
}
