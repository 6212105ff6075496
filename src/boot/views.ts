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

/** The GRUB menu (x86_64, p1/grub/grub.cfg) as written on the disk. */
export const GrubMenu = T.Object({
  defaultEntry: T.Union([T.Integer(), T.Null()], { description: 'the entry `set default=N` boots (0 rescue/setup, 1 the App Platform); null when the file says none' }),
  entries: T.Array(T.Object({ title: T.String(), kernelCommandLine: T.String({ description: 'the arguments of its linux line' }) })),
});
export type GrubMenu = Static<typeof GrubMenu>;

/** The boot control as a person reads it: the settings, the file behind them and, on x86_64, the GRUB menu. */
export const BootState = T.Object({
  settings: BootView,
  control: T.Union([T.Literal('gateway'), T.Literal('grub'), T.Literal('none')], { description: "the board's kind: none on a workstation, where the file is kept but nothing boots from it" }),
  file: T.String({ description: 'the file that holds the setting' }),
  written: T.Boolean({ description: 'false when the file is missing: it reads as the rescue system, which writes it again' }),
  grub: T.Union([GrubMenu, T.Null()], { description: 'the menu in grub.cfg (x86_64 only)' }),
});
export type BootState = Static<typeof BootState>;
