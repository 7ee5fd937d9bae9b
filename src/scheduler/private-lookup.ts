// WEBHOOK_DENY_PRIVATE at connect: a DNS lookup hook that refuses names resolving to private, loopback or link-local addresses.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isPrivateAddress } from '../jobs/job.js';

/** A webhook host that is, or resolves to, a private, loopback or link-local address while WEBHOOK_DENY_PRIVATE is on. */
export class PrivateAddressError extends Error {
  readonly code = 'private_address';
  readonly hostname: string;
  readonly address: string;

  constructor(hostname: string, address: string) {
    super(`webhook host ${hostname} is private, loopback or link-local (${address})`);
    this.name = 'PrivateAddressError';
    this.hostname = hostname;
    this.address = address;
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * net.connect's `lookup` hook that refuses a name when any of its addresses is private, so a name that passed the
 * create-time check cannot be pointed (or rebound) at an internal host between create and fire. It resolves every
 * address whatever it is asked, and answers in the shape asked: one address, or all of them (`{all: true}`, which
 * net uses for happy eyeballs). IP literals never reach a lookup hook; `send` checks those itself.
 */
export function privateDenyingLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err !== null) {
      callback(err, '');
      return;
    }
    const denied = addresses.find((a) => isPrivateAddress(a.address));
    const first = addresses[0];
    if (denied !== undefined) {
      callback(new PrivateAddressError(hostname, denied.address), '');
    } else if (options.all === true) {
      callback(null, addresses);
    } else if (first === undefined) {
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '');
    } else {
      callback(null, first.address, first.family);
    }
  });
}

