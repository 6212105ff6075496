// The API's schemas come from the leaf src/schema, which app.json, the config
// file, manifests and backups use too; re-exported so the API's modules keep
// their imports.
export { asSentence, check, fits, Flag, knowFormats, problem, T, type Static, type TSchema } from '../schema';
