// The domain's error classes carry a stable code (and the field or job), and no HTTP status.
import t from 'tap';
import { JobInputError, JobStateError } from '../../src/jobs/errors.js';

t.test('a JobInputError names its code and field', async (t) => {
  const err = new JobInputError('invalid_cron', 'cron_expression', 'bad');
  t.ok(err instanceof Error);
  t.strictSame([err.name, err.code, err.field, err.message], ['JobInputError', 'invalid_cron', 'cron_expression', 'bad']);
  t.notOk('status' in err || 'statusCode' in err);
});

t.test('a JobStateError names its code and job', async (t) => {
  const err = new JobStateError('id_conflict', 'job-1', 'other body');
  t.ok(err instanceof Error);
  t.strictSame([err.name, err.code, err.jobId, err.message], ['JobStateError', 'id_conflict', 'job-1', 'other body']);
});
