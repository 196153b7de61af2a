// libvirt's remote_error, decoded and turned into the daemon's domain errors. The libvirt code and
// error domain stay on the error (`err.libvirt`) so callers can still branch on specifics.
import {
  AlreadyExistsError,
  DeadlineExceededError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  PermissionDeniedError,
  UnavailableError,
  type VmrError,
} from '../../../plugin-api/index.js';
import { ErrorNumber } from './constants.js';
import { XdrReader } from './xdr.js';
import { STRING_MAX } from './packet.js';

export interface RemoteError {
  /** virErrorNumber, e.g. 42 VIR_ERR_NO_DOMAIN. */
  code: number;
  /** virErrorDomain, e.g. 12 test driver, 19 network. */
  domain: number;
  message: string | null;
  level: number;
  str1: string | null;
  str2: string | null;
  str3: string | null;
  int1: number;
  int2: number;
}

/** What every error that came from libvirtd carries besides its domain-error class. */
export interface LibvirtErrorDetails {
  code: number;
  domain: number;
  message: string;
}

export type LibvirtVmrError = VmrError & { libvirt?: LibvirtErrorDetails };

export function decodeRemoteError(payload: Buffer): RemoteError {
  const r = new XdrReader(payload);
  const optStr = () => r.optional((x) => x.string(STRING_MAX));
  const code = r.int();
  const domain = r.int();
  const message = optStr();
  const level = r.int();
  // remote_domain (name, uuid, id) — always NULL in practice, decoded for strictness.
  r.optional((x) => {
    x.string(STRING_MAX);
    x.fixedOpaque(16);
    return x.int();
  });
  const str1 = optStr();
  const str2 = optStr();
  const str3 = optStr();
  const int1 = r.int();
  const int2 = r.int();
  r.optional((x) => {
    x.string(STRING_MAX);
    return x.fixedOpaque(16);
  });
  r.end();
  return { code, domain, message, level, str1, str2, str3, int1, int2 };
}

/** Maps a libvirt error to the domain error a user should see; `what` names the operation. */
export function toVmrError(e: RemoteError, what: string): LibvirtVmrError {
  const text = e.message ?? `libvirt error ${e.code}`;
  const msg = `${what}: ${text}`;
  let err: VmrError;
  switch (e.code) {
    case ErrorNumber.NO_DOMAIN:
    case ErrorNumber.NO_NETWORK:
    case ErrorNumber.NO_STORAGE_POOL:
    case ErrorNumber.NO_STORAGE_VOL:
    case ErrorNumber.NO_DOMAIN_METADATA:
      err = new NotFoundError(msg);
      break;
    case ErrorNumber.DOM_EXIST:
    case ErrorNumber.STORAGE_VOL_EXIST:
      err = new AlreadyExistsError(msg);
      break;
    case ErrorNumber.INVALID_ARG:
    case ErrorNumber.XML_ERROR:
    case ErrorNumber.XML_INVALID_SCHEMA:
    case ErrorNumber.CONFIG_UNSUPPORTED:
    case ErrorNumber.ARGUMENT_UNSUPPORTED:
      err = new InvalidArgumentError(msg);
      break;
    case ErrorNumber.OPERATION_INVALID:
    case ErrorNumber.MULTIPLE_DOMAINS:
      err = new FailedPreconditionError(msg);
      break;
    case ErrorNumber.NO_SUPPORT:
    case ErrorNumber.OPERATION_UNSUPPORTED:
      err = new NotImplementedError(msg);
      break;
    case ErrorNumber.OPERATION_DENIED:
    case ErrorNumber.ACCESS_DENIED:
    case ErrorNumber.AUTH_FAILED:
      err = new PermissionDeniedError(msg);
      break;
    case ErrorNumber.OPERATION_TIMEOUT:
      err = new DeadlineExceededError(msg);
      break;
    case ErrorNumber.AUTH_UNAVAILABLE:
    case ErrorNumber.AGENT_UNRESPONSIVE:
    case ErrorNumber.RESOURCE_BUSY:
      err = new UnavailableError(msg);
      break;
    case ErrorNumber.RPC:
      err = /unknown procedure/i.test(text)
        ? new NotImplementedError(`${msg} (the libvirt daemon is too old for this call)`)
        : new UnavailableError(msg);
      break;
    case ErrorNumber.OPERATION_FAILED:
      // libvirt reports "network 'x' already exists" and friends as a generic failure.
      err = /already exists/i.test(text) ? new AlreadyExistsError(msg) : new InternalError(msg);
      break;
    case ErrorNumber.INTERNAL_ERROR:
      err = /connection not open/i.test(text) ? new UnavailableError(msg) : new InternalError(msg);
      break;
    default:
      err = /already exists/i.test(text) ? new AlreadyExistsError(msg) : new InternalError(msg);
  }
  return Object.assign(err, { libvirt: { code: e.code, domain: e.domain, message: text } });
}

/** The libvirt error code carried by an error from this client, if any. */
export function libvirtCode(err: unknown): number | undefined {
  return (err as LibvirtVmrError | undefined)?.libvirt?.code;
}
