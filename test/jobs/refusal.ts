// Test helper: runs a call that must refuse its input, and returns the JobInputError's code, field and message.
import { JobInputError } from '../../src/jobs/errors.js';

export function refusal(fn: () => unknown): { code: string; field: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof JobInputError) return { code: err.code, field: err.field, message: err.message };
    throw err;
  }
  throw new Error('expected a JobInputError');
}
