// The flags of `ap ctl`'s command groups. The command line's parser owns which
// flags exist (an unknown one is a UsageError before anything is asked); the
// groups' code in src/ctl reads them from here.

/** Flags of `ap ctl instance`, per subcommand. */
export const INSTANCE_VALUE_FLAGS = [
  'service', 'path', 'password', 'db-name', 'db-user', 'db-password',
  'external-host', 'external-db', 'external-user', 'external-password',
  'trace-flags', 'exclude-from-backup', 'max-body-size',
] as const;
export const INSTANCE_SWITCHES = ['stopped', 'adopt-database', 'drop-database', 'new-password', 'new-db-password', 'no-wait'] as const;

/** `ap ctl backup …` and `ap ctl restore …`. */
export const BACKUP_VALUE_FLAGS = ['file', 'url', 'method', 'name', 'domain', 'replace', 'key-file'] as const;
export const BACKUP_SWITCHES = ['restore-test', 'key-stdin', 'force', 'yes'] as const;

/** `ap ctl update …`, `boot …`, `fsck`. */
export const UPDATE_VALUE_FLAGS = ['label'] as const;
export const UPDATE_SWITCHES = ['force'] as const;

/** `ap ctl service …`, `system …` and the rest. */
export const SERVICE_VALUE_FLAGS = ['bytes', 'build', 'memory', 'instance-memory', 'cpu-weight', 'pids'] as const;
export const SERVICE_SWITCHES = ['yes', 'default', 'instances', 'drop-databases', 'keep-logs'] as const;

/** `ap ctl token create`. */
export const TOKEN_VALUE_FLAGS = ['scope', 'expires-days'] as const;
