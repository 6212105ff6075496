// The monitor's answers the Manager UI reads: the schema with its type, one
// declaration (a leaf module: the UI imports the type).
import { T, type Static } from '../api';

export const Labels = T.Record(T.String(), T.String());

/** Every series with its latest value (GET /metrics). */
export const SeriesList = T.Object({
  series: T.Array(T.Object({ name: T.String(), labels: Labels, value: T.Number(), at: T.Number({ description: 'when, in ms since 1970' }) })),
});
export type SeriesList = Static<typeof SeriesList>;
