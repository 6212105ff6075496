// File writes that survive a power cut: a file is either the old one or the
// new one, never half of each. Every file that must survive goes through here.
export { ensureDir, fsyncDir, fsyncTree, unwritableFile, writeFileAtomic, writeStreamAtomic, writeZeroFileAtomic } from './atomic';
export { JsonStateFile } from './state';
export { readTextIfExists } from './read';
