// A job as the API answers it: the schema (checked against answers in tests,
// shown by the OpenAPI document) and its type, one declaration. A leaf module,
// so the Manager UI imports the type without the jobs' Node code.
import { T, type Static } from '../api';

export const JobView = T.Object({
  id: T.String(),
  kind: T.String({ description: 'backup, restore, cleanup, analyse, install, …' }),
  target: T.String({ description: 'what it works on, e.g. an instance id' }),
  state: T.Union([T.Literal('running'), T.Literal('succeeded'), T.Literal('failed')]),
  startedAt: T.String({ format: 'date-time' }),
  finishedAt: T.Union([T.String({ format: 'date-time' }), T.Null()]),
  progress: T.Object({ done: T.Number({ description: 'steps done' }), total: T.Union([T.Number(), T.Null()], { description: 'when known' }), note: T.String() }),
  message: T.String({ description: 'the outcome for people (or what it is doing)' }),
  output: T.Array(T.String(), { description: 'the last lines of its output' }),
});
export type JobView = Static<typeof JobView>;

export type JobState = JobView['state'];
