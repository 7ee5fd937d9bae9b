// One client request with a deadline, answered as a status and body or as the error that stood in for them.
import { fetchAnswer } from '../cluster/process-cluster.js';
import { answerOfError, type HttpAnswer } from './history.js';

export async function call(baseUrl: string, method: string, path: string, body: unknown, timeoutMs: number): Promise<HttpAnswer> {
  try {
    return await fetchAnswer(`${baseUrl}${path}`, method, body, {}, timeoutMs);
  } catch (err) {
    return answerOfError(err);
  }
}

/** GET that must answer 200 (setup and final reads); throws otherwise. */
export async function getJson(baseUrl: string, path: string, timeoutMs = 5000): Promise<unknown> {
  const answer = await call(baseUrl, 'GET', path, undefined, timeoutMs);
  if ('error' in answer) throw new Error(`GET ${baseUrl}${path}: ${answer.error}`);
  if (answer.status !== 200) throw new Error(`GET ${baseUrl}${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}
