/** Bytes as people read them on the box's pages: "12.3 MB", one decimal below 10 MB. */
export const MB = (v: number) => `${(v / 1048576).toFixed(v < 10 * 1048576 ? 1 : 0)} MB`;
