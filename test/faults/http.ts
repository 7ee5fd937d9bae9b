// One client request with a deadline, answered as a status and body or as the error that stood in for them.
import { answerOfError, type HttpAnswer } from './history.js';

export async function call(baseUrl: string, method: string, path: string, body: unknown, timeoutMs: number): Promise<HttpAnswer> {
  try {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch (_err) {
      // nginx's own error pages are HTML: kept as text.
    }
    return { status: response.status, body: parsed };
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
