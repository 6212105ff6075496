// The SDK's types for services written in TypeScript: dist/sdk.d.ts beside
// dist/sdk.js. tsc declares src/sdk/index.ts; what it imports from the rest of
// the supervisor (an instance record's fields, the trace flags' names) is
// written out in place, so the file stands alone: a service needs nothing of
// this repository but the two files (and @types/node).
import ts from 'typescript';

/** dist/sdk.d.ts's text, declared from `entry` (src/sdk/index.ts). */
export function sdkDeclarations(entry) {
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    skipLibCheck: true,
    types: ['node'],
    declaration: true,
    emitDeclarationOnly: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  // Each type imported from elsewhere in src/, by its local name, spelt out.
  const spelt = new Map();
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) || !statement.moduleSpecifier.text.startsWith('.')) continue;
    for (const specifier of statement.importClause?.namedBindings?.elements ?? []) {
      const symbol = checker.getAliasedSymbol(checker.getSymbolAtLocation(specifier.name));
      if (!(symbol.flags & ts.SymbolFlags.Type)) continue;
      const type = checker.typeToString(checker.getDeclaredTypeOfSymbol(symbol), undefined, ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.InTypeAlias);
      spelt.set(specifier.name.text, `type ${specifier.name.text} = ${type};`);
    }
  }
  let declared = '';
  program.emit(source, (_name, text) => (declared = text), undefined, true);
  const dts = ts.createSourceFile('sdk.d.ts', declared, ts.ScriptTarget.ES2022);
  let out = declared;
  // From the end, so earlier positions stay valid.
  for (const statement of [...dts.statements].reverse()) {
    if (!ts.isImportDeclaration(statement) || !statement.moduleSpecifier.text.startsWith('.')) continue;
    const names = statement.importClause?.namedBindings?.elements.map((e) => e.name.text) ?? [];
    const missing = names.filter((name) => !spelt.has(name));
    if (missing.length > 0 || names.length === 0) throw new Error(`sdk.d.ts: cannot spell out ${missing.join(', ') || statement.getText(dts)} from ${statement.moduleSpecifier.text}`);
    out = out.slice(0, statement.getStart(dts)) + names.map((name) => spelt.get(name)).join('\n') + out.slice(statement.end);
  }
  return out;
}
