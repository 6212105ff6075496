// An alarm as the API and the event socket show it: the schema and its type,
// one declaration (a leaf module: the Manager UI imports the type).
import { T, type Static } from '../api';

export const AlarmView = T.Object({
  id: T.Integer(),
  source: T.String({ description: 'who raises it, e.g. "disk", "service:echo", "backup:app@example.com", "tls"' }),
  code: T.String({ description: 'stable, e.g. DISK_FULL, CRASH_LOOP, BACKUP_FAILED, CERT_EXPIRING' }),
  severity: T.Union([T.Literal('critical'), T.Literal('major'), T.Literal('minor'), T.Literal('warning')]),
  text: T.String(),
  raisedAt: T.String({ format: 'date-time' }),
  clearedAt: T.Union([T.String({ format: 'date-time' }), T.Null()]),
  acknowledgedAt: T.Optional(T.String({ format: 'date-time', description: 'when a person said they have seen it (POST /alarms/{id}/acknowledge); it stays active until its cause is gone, and a raise to a higher severity takes the acknowledgement back' })),
  todo: T.Optional(T.String({ description: 'what to do about it, in a sentence or two' })),
  link: T.Optional(T.Object({ href: T.String({ description: "the Manager page where one does it, a hash route such as #/system (relative to /manager/)" }), label: T.String({ description: 'the name of that page' }) })),
});
export type Alarm = Readonly<Static<typeof AlarmView>>;
export type Severity = Alarm['severity'];
