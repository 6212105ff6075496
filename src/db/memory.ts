// What a PostgreSQL client connection costs in memory, for planning one that
// does not exist yet. What the cluster's processes take now is read by
// src/budget from /proc (PSS of the postmaster and every process below it).

/**
 * What one client connection (a backend) costs, measured with
 * tools/bench/stack.mjs on the ipx10 settings (docs/benchmarks.md): 3.0–4.7 MB
 * PSS after some queries, whatever the board (work_mem is per sort, not held).
 * src/budget uses it until a connection can be measured.
 */
export const CONNECTION_BYTES = 5 * 1024 * 1024;
