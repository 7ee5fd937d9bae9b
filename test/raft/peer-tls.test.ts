// Mutual TLS between peers (PEER_TLS_*): peers with certificates of the cluster's CA talk; anyone else is refused.
import t from 'tap';
import { Agent, request } from 'undici';
import { silentLogger } from '../../src/raft/core/index.js';
import { HttpTransport } from '../../src/raft/http-transport.js';
import type { PeerTls } from '../../src/raft/http-transport.js';
import { encodeWire } from '../../src/raft/wire.js';
import { makePki } from '../tls-certs.js';

const cluster = makePki('cluster');
const stranger = makePki('stranger');
t.teardown(() => {
  cluster.remove();
  stranger.remove();
});

async function transport(id: string, tls: PeerTls, onForward: () => Promise<unknown> = async () => 'ok') {
  return HttpTransport.listen({
    nodeId: id, host: '127.0.0.1', port: 0, advertiseAddress: '', clusterSecret: null, bodyBytesMax: 1 << 20, requestReceiveMs: 30_000,
    queuedMessagesMax: 10, logger: silentLogger, tls,
  }, { acceptsFrom: () => true, onMessages: () => {}, onForward, onStateDigest: async () => ({ state: 'unknown', error: 'none' }) });
}

t.test('two peers of the same CA forward over TLS; plain HTTP and a foreign certificate are refused', async (t) => {
  const tls = { cert: cluster.cert, key: cluster.key, ca: cluster.ca };
  const b = await transport('b', tls, async () => ({ served: 'b' }));
  const a = await transport('a', tls);
  const outsider = await transport('x', { cert: stranger.cert, key: stranger.key, ca: cluster.ca });
  t.teardown(async () => {
    await Promise.all([a.close(), b.close(), outsider.close()]);
  });
  a.setPeerAddress('b', `127.0.0.1:${b.port()}`);
  t.same(await a.forward('b', { kind: 'transfer', to: null }, 3000), { served: 'b' });
  t.equal(await a.ping(`127.0.0.1:${b.port()}`, 2000), 'b');

  outsider.setPeerAddress('b', `127.0.0.1:${b.port()}`);
  await t.rejects(outsider.forward('b', { kind: 'transfer', to: null }, 3000), 'a certificate from another CA is refused');
  t.equal(await outsider.ping(`127.0.0.1:${b.port()}`, 2000), null);

  await t.rejects(request(`http://127.0.0.1:${b.port()}/raft/ping`), 'plain HTTP gets no answer');
  const noClientCert = new Agent({ connect: { ca: cluster.ca } });
  await t.rejects(
    request(`https://127.0.0.1:${b.port()}/raft/forward`, {
      method: 'POST', dispatcher: noClientCert, body: encodeWire({ kind: 'transfer', to: null }),
      headers: { 'content-type': 'application/msgpack' },
    }),
    'TLS without a client certificate is refused',
  );
  await noClientCert.close();
});
