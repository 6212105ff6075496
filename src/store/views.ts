// The App Store's apps as the API answers them: each schema with its type, one
// declaration (a leaf module: the Manager UI imports the types).
import { T, type Static } from '../api';

export const StoreVersion = T.Object({
  id: T.String({ description: 'the version as people read it, e.g. "1.2.0" or "13r3"' }),
  build: T.String({ description: "the build number: the package's folder in the store" }),
  label: T.String(),
});
export type StoreVersion = Readonly<Static<typeof StoreVersion>>;

export const StoreApp = T.Object({
  id: T.String(),
  folder: T.String({ description: "the service's name: its folder in the store and on the box (/apps/<folder>)" }),
  binary: T.String(),
  title: T.String(),
  manufacturer: T.String(),
  description: T.String(),
  versions: T.Array(StoreVersion, { description: 'newest build first' }),
});
export type StoreApp = Readonly<Static<typeof StoreApp>>;

export const StoreList = T.Object({
  store: T.String({ description: 'the App Store URL' }),
  arch: T.String(),
  apps: T.Array(T.Intersect([StoreApp, T.Object({ installed: T.Union([T.Object({ version: T.String(), label: T.String() }), T.Null()], { description: 'the version installed here' }) })])),
  skipped: T.Array(T.String(), { description: 'entries of apps.json that were not understood' }),
});
export type StoreList = Static<typeof StoreList>;
