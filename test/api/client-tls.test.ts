// TLS on the client port (TLS_CERT_FILE / TLS_KEY_FILE): the API answers over HTTPS only.
import t from 'tap';
import { Agent, request } from 'undici';
import { makePki } from '../tls-certs.js';
import { startSingleNode } from './single-node.js';

t.test('with TLS files the API serves HTTPS and refuses plain HTTP', async (t) => {
  const pki = makePki('client');
  const solo = await startSingleNode({ TLS_CERT_FILE: pki.certFile, TLS_KEY_FILE: pki.keyFile });
  const agent = new Agent({ connect: { ca: pki.ca } });
  t.teardown(async () => {
    await agent.close();
    await solo.stop();
    pki.remove();
  });
  const url = `https://127.0.0.1:${solo.node.httpPort}`;
  const created = await request(`${url}/jobs`, {
    method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'secure', type: 'unico', timestamp: '2030-01-01T00:00:00Z' }),
  });
  t.equal(created.statusCode, 201);
  await created.body.dump();
  const health = await request(`${url}/health`, { dispatcher: agent });
  t.match(await health.body.json(), { status: 'ok', node_id: 'solo' });
  await t.rejects(request(`http://127.0.0.1:${solo.node.httpPort}/health`, { headersTimeout: 2000 }), 'plain HTTP gets no answer');
});
