// The jobs domain's expected refusals, each a class with the SPEC's machine code and no HTTP in it.

/** Codes for a request the domain refuses because of what it says (SPEC §2, §6). */
export type JobInputErrorCode =
  | 'invalid_request'
  | 'invalid_time'
  | 'invalid_cron'
  | 'invalid_timezone'
  | 'invalid_interval'
  | 'payload_too_large'
  | 'private_webhook_url';

/** Codes for a command that cannot apply to the jobs as they are stored (raised by the store, SPEC §2). */
export type JobStateErrorCode =
  'job_not_found' | 'id_conflict' | 'already_completed' | 'job_cancelled' | 'over_capacity' | 'dead_letter_not_found';

/** Every code the jobs domain raises; the API's one status table maps each of them. */
export type JobErrorCode = JobInputErrorCode | JobStateErrorCode;

/** A job body or field that breaks the contract; `field` names it as the client wrote it (`retry.max_attempts`). */
export class JobInputError extends Error {
  readonly code: JobInputErrorCode;
  readonly field: string;

  constructor(code: JobInputErrorCode, field: string, message: string) {
    super(message);
    this.name = 'JobInputError';
    this.code = code;
    this.field = field;
  }
}

/** A well-formed command that the stored state refuses: unknown id, another body under the same id, and so on. */
export class JobStateError extends Error {
  readonly code: JobStateErrorCode;
  readonly jobId: string;

  constructor(code: JobStateErrorCode, jobId: string, message: string) {
    super(message);
    this.name = 'JobStateError';
    this.code = code;
    this.jobId = jobId;
  }
}
