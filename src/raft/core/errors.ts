// Expected refusals of the core's API, each with a stable code the application matches on.

export type RaftErrorCode =
  | 'not_leader'
  | 'leadership_transfer_in_progress'
  | 'conf_change_in_progress'
  | 'invalid_conf_change'
  | 'invalid_transfer_target'
  | 'snapshot_out_of_range'
  | 'proposal_too_large';

export class RaftError extends Error {
  readonly code: RaftErrorCode;

  constructor(code: RaftErrorCode, message: string) {
    super(message);
    this.name = 'RaftError';
    this.code = code;
  }
}
