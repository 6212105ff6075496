// The version and build label, stamped into the bundle by tools/build.mjs.
import pkg from '../package.json';

declare const __AP_BUILD_LABEL__: string | undefined;

export const VERSION: string = pkg.version;
/** The build's label (date and commit), or "source" when run from the TypeScript sources. */
export const BUILD_LABEL: string = typeof __AP_BUILD_LABEL__ === 'string' ? __AP_BUILD_LABEL__ : 'source';
