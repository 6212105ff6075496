// Every error code, declared once: the HTTP status the API answers it with,
// and whether it is a setting the administrator still has to make (logged as a
// warning, never as an internal error), and the CLI's exit status: 2 for a
// command line or configuration the user has to correct, 1 for the rest. An
// ApError can only be made with a code from here, so an API answer is never a
// 500 by omission.
interface Spec {
  readonly status: number;
  /** The CLI's exit status (default 1). */
  readonly exit?: 2;
  /** A setting is missing or wrong: the API logs it as a warning. */
  readonly setting?: true;
}

const bad = { status: 400 } as const;
const usage = { status: 400, exit: 2 } as const;
const notFound = { status: 404 } as const;
const conflict = { status: 409 } as const;
const unprocessable = { status: 422 } as const;
const gateway = { status: 502 } as const;
const unavailable = { status: 503 } as const;
const internal = { status: 500 } as const;
const setting = { status: 409, setting: true } as const;

export const ERROR_CODES = {
  // A request or its input is wrong; nothing was changed.
  BAD_REQUEST: bad,
  INVALID_FIELD: bad,
  USAGE: usage,
  BAD_CONFIG_FILE: usage,
  BAD_CONFIG_VALUE: usage,
  UNKNOWN_BOARD: usage,
  NEEDS_HTTP: bad,
  BAD_PACKAGE: bad,
  ENTRY_MISSING: bad,
  MANIFEST_INVALID: bad,
  SERVICE_NAME_INVALID: bad,
  UPLOAD_ABORTED: bad,
  UPLOAD_REFUSED: bad,
  UPLOAD_STALLED: bad,
  BAD_KEY: bad,
  BAD_TARGET: bad,
  PASSWORDS_DIFFER: bad,
  INVALID_COMMAND_FILE: bad,
  CERT_BAD: bad,
  CERT_BAD_ISSUER: bad,
  CERT_BAD_OPTIONS: bad,
  CERT_EXPIRED: bad,
  CERT_KEY_MISMATCH: bad,
  CERT_KEY_UNSUPPORTED: bad,
  CERT_NOT_YET_VALID: bad,
  CERT_NO_CERTIFICATE: bad,
  CERT_NO_KEY: bad,
  CERT_TOO_LARGE: bad,
  CERT_KEY_ENCRYPTED: bad,
  CERT_CHAIN_ORDER: bad,
  // Who asks.
  LOGIN_FAILED: { status: 401 },
  UNAUTHENTICATED: { status: 401 },
  BAD_ORIGIN: { status: 403 },
  CSRF: { status: 403 },
  PASSWORD_CHANGE_REQUIRED: { status: 403 },
  // An API token whose scopes do not allow the request (src/tokens).
  TOKEN_SCOPE: { status: 403 },
  DEVELOPER_MODE_OFF: { status: 403, setting: true },
  TOO_MANY_ATTEMPTS: { status: 429 },
  // What is asked for.
  NOT_FOUND: notFound,
  NO_COMMAND_FILE: notFound,
  NO_IMAGE: notFound,
  // The App Store's index has no app of that id.
  UNKNOWN_APP: notFound,
  // The App Installer (src/installer): the domain has no instance of the app to uninstall, or the service is not installed to update.
  INSTALLER_NOT_INSTALLED: notFound,
  METHOD_NOT_ALLOWED: { status: 405 },
  MANAGER_ELSEWHERE: { status: 421 },
  EXISTS: conflict,
  CONFLICT: conflict,
  DATABASE_EXISTS: conflict,
  BACKUP_OF_OTHER_INSTANCE: conflict,
  SERVICE_NAME_RESERVED: conflict,
  // An uninstall of a service that has instances, not asked to delete them too.
  HAS_INSTANCES: conflict,
  // What it needs does not fit in the memory budget (src/budget); force: true admits it anyway.
  MEMORY_BUDGET: conflict,
  NOT_RUNNING: conflict,
  // The App Installer: the domain has the app already (or is getting it); updates are the administrator's in shared mode; the newest build runs already.
  INSTALLER_EXISTS: conflict,
  INSTALLER_SHARED_UPDATE: conflict,
  INSTALLER_UP_TO_DATE: conflict,
  UNSUPPORTED: conflict,
  // Replication (src/replication): the seed's limit of 8, a name taken, not a primary, turning off without confirm.
  STANDBY_LIMIT: conflict,
  STANDBY_EXISTS: conflict,
  NOT_PRIMARY: conflict,
  // A primary is not set up as a standby directly: replication off first.
  IS_PRIMARY: conflict,
  CONFIRM_REQUIRED: conflict,
  // A standby: apps change on the primary; the primary refused the standby's password or does not know its name.
  NOT_ON_STANDBY: conflict,
  // A standby's Manager backup (its standby.conf) offered to a box that is not a standby.
  STANDBY_BACKUP: conflict,
  STANDBY_AUTH: unprocessable,
  STANDBY_UNKNOWN: unprocessable,
  // The standby's name streams from the primary already (another box, or this one).
  STANDBY_IN_USE: conflict,
  STANDBY_CONF_INVALID: unprocessable,
  PORT_IN_USE: conflict,
  PACKAGE_TOO_LARGE: { status: 413 },
  NO_ROOM: { status: 507 },
  UPLOAD_TOO_LARGE: { status: 413 },
  BAD_BACKUP: unprocessable,
  // Encrypted backups (docs/backup.md): the box has no key, or another one than the file's; a key set already.
  BACKUP_KEY_MISSING: conflict,
  BACKUP_KEY_WRONG: unprocessable,
  BACKUP_KEY_EXISTS: conflict,
  BAD_IMAGE: unprocessable,
  EXTERNAL_DB_UNREACHABLE: unprocessable,
  PASSWD_FAILED: unprocessable,
  SERVICE_NOT_READY: unprocessable,
  // Settings the administrator has not made yet.
  SMTP_NOT_CONFIGURED: setting,
  NO_STORE: setting,
  NO_TRUSTED_KEYS: setting,
  // Another server (the App Store, a backup target, the mail server) failed.
  BAD_STORE: gateway,
  STORE_UNAVAILABLE: gateway,
  DOWNLOAD_FAILED: gateway,
  MAIL_FAILED: gateway,
  PRIMARY_UNREACHABLE: gateway,
  // Not now.
  BUSY: unavailable,
  STARTING: unavailable,
  DB_UNAVAILABLE: unavailable,
  // The supervisor is stopping (or was asked to while starting).
  STOPPED: unavailable,
  // Ours: logged with the details, answered as INTERNAL.
  INTERNAL: internal,
  CHANNEL_MALFORMED: internal,
  ERROR: internal,
  CANCELLED: internal,
  ADMIN_PROTOCOL: internal,
  ADMIN_TIMEOUT: internal,
  ADMIN_UNREACHABLE: internal,
  UNKNOWN_COMMAND: bad,
  ANALYSE_FAILED: internal,
  CLEANUP_FAILED: internal,
  DUMP_CANCELLED: internal,
  DUMP_FAILED: internal,
  EXTERNAL_DB: internal,
  GC_UNAVAILABLE: internal,
  INSTALL_FAILED: internal,
  LISTEN_FAILED: internal,
  NATIVE_MISSING: internal,
  PASSWORD_LIST_MISSING: internal,
  PG_INITDB_FAILED: internal,
  PG_NOT_FOUND: internal,
  PG_ORPHAN: internal,
  PG_START_FAILED: internal,
  PROVISIONING_FAILED: internal,
  RESTORE_FAILED: internal,
  UPLOAD_FAILED: internal,
  USER_CREATE_FAILED: internal,
  VACUUMDB_MISSING: internal,
  PG_NO_USER: internal,
  PG_DATA_DIR_NOT_EMPTY: internal,
  REPLICATION_FAILED: internal,
  SCHEMA_TOO_NEW: internal,
  MIGRATION_FAILED: internal,
  ALREADY_RUNNING: internal,
} as const satisfies Record<string, Spec>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The spec of a code; codes another process reported may be unknown here. */
export function errorSpec(code: string): Spec {
  return (ERROR_CODES as Record<string, Spec>)[code] ?? internal;
}
