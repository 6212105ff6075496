// types.ts imports the server's answer types from leaf modules, which name
// src/api; src/api names Node's Buffer for its streams. The UI never touches
// those values, so here a Buffer is only its bytes: a type and no Node
// global, so UI code that tried `Buffer.from` would still not compile.
type Buffer = Uint8Array;
