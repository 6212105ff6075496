// The boot settings as the API answers them: the schema is the declaration of
// BootSettings too (a leaf module: the Manager UI imports the type).
import { T, type Static } from '../schema';

export const BootView = T.Object({
  mode: T.Union([T.Literal('normal'), T.Literal('rescue')]),
  kind: T.Union([T.Literal('grub'), T.Literal('gateway')]),
  /** The gateway's three values (also shown for grub, as its entries say). */
  kernelCommandLine: T.String(),
  initrdFile: T.String(),
  ramdiskSize: T.String(),
});
export type BootSettings = Readonly<Static<typeof BootView>>;
export type BootMode = BootSettings['mode'];
