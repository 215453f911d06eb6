// The TextMate grammar on the example pipelines: scopes of keywords, strings, comments, types,
// names and functions, asserted on the real files (node test/grammar.test.js; exit 1 on failure).
'use strict';

const fs = require('fs');
const path = require('path');
const assert = require('assert');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const root = path.join(__dirname, '..', '..', '..');
const grammarPath = path.join(__dirname, '..', 'syntaxes', 'fdl.tmLanguage.json');

async function grammar() {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm')).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) =>
      scopeName === 'source.fdl'
        ? vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath)
        : null,
  });
  return registry.loadGrammar('source.fdl');
}

/// Every token of a file: { line, start, end, text, scopes }.
function tokenize(g, text) {
  const out = [];
  let state = vsctm.INITIAL;
  text.split('\n').forEach((line, i) => {
    const r = g.tokenizeLine(line, state);
    for (const t of r.tokens) {
      out.push({ line: i, start: t.startIndex, end: t.endIndex, text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes });
    }
    state = r.ruleStack;
  });
  return out;
}

let failures = 0;
let checks = 0;

function check(name, fn) {
  checks += 1;
  try {
    fn();
  } catch (e) {
    failures += 1;
    console.error(`FAIL ${name}\n  ${e.message.split('\n').join('\n  ')}`);
  }
}

/// The innermost scope of the `nth` occurrence of `needle` (at `shift` characters into it).
function scopeOf(tokens, text, needle, nth = 0, shift = 0) {
  let at = -1;
  for (let i = 0; i <= nth; i++) {
    at = text.indexOf(needle, at + 1);
    assert.notStrictEqual(at, -1, `\`${needle}\` (occurrence ${nth}) not in the file`);
  }
  at += shift;
  const line = text.slice(0, at).split('\n').length - 1;
  const col = at - (text.lastIndexOf('\n', at - 1) + 1);
  const t = tokens.find((x) => x.line === line && x.start <= col && col < x.end);
  assert.ok(t, `no token at ${line}:${col}`);
  return t.scopes;
}

function expectScope(file, tokens, text, needle, scope, nth = 0, shift = 0) {
  check(`${file}: \`${needle}\`#${nth} is ${scope}`, () => {
    const scopes = scopeOf(tokens, text, needle, nth, shift);
    assert.ok(scopes.includes(scope), `scopes ${JSON.stringify(scopes)}`);
  });
}

(async () => {
  const g = await grammar();
  const files = [
    'pipelines/customer360/crm.fdl',
    'pipelines/customer360/shop.fdl',
    'pipelines/customer360/customer_360.fdl',
    'pipelines/fleet/fleet.fdl',
    'pipelines/fleet/formats.fdl',
    'pipelines/fleet/views.fdl',
  ];
  const tok = {};
  for (const f of files) {
    const text = fs.readFileSync(path.join(root, f), 'utf8');
    const tokens = tokenize(g, text);
    tok[f] = { text, tokens };
    // Whole-line comments are comments from their first character to their end, and no
    // keyword, string or type scope leaks into any comment.
    text.split('\n').forEach((line, i) => {
      const at = line.search(/\S/);
      if (at >= 0 && line.startsWith('//', at)) {
        check(`${f}:${i + 1} is a comment`, () => {
          const ts = tokens.filter((t) => t.line === i && t.end > at);
          for (const t of ts) {
            assert.ok(t.scopes.includes('comment.line.double-slash.fdl'), `${JSON.stringify(t)}`);
            assert.ok(!t.scopes.some((s) => s.startsWith('keyword') || s.startsWith('string') || s.startsWith('storage')), `${JSON.stringify(t)}`);
          }
        });
      }
    });
  }
  const e = (f, needle, scope, nth = 0, shift = 0) => expectScope(f, tok[f].tokens, tok[f].text, needle, scope, nth, shift);

  const crm = 'pipelines/customer360/crm.fdl';
  e(crm, 'system crm', 'keyword.other.declaration.fdl');
  e(crm, 'system crm', 'entity.name.type.fdl', 0, 7);
  e(crm, 'projection customers', 'keyword.other.declaration.fdl');
  e(crm, 'projection customers', 'entity.name.type.fdl', 0, 11);
  e(crm, '"crm.public.customers"', 'string.quoted.double.fdl', 0, 3);
  e(crm, 'as debezium', 'keyword.other.fdl');
  e(crm, 'as debezium', 'support.type.format.fdl', 0, 3);
  e(crm, 'key id', 'keyword.other.fdl');
  e(crm, 'int      <- CUSTOMER_ID', 'storage.type.fdl');
  e(crm, '<- CUSTOMER_ID', 'keyword.operator.arrow.fdl');
  e(crm, 'string?', 'storage.type.fdl');
  e(crm, 'datetime <- SIGNUP_TS', 'storage.type.fdl');
  e(crm, '| trim', 'entity.name.function.cast.fdl', 0, 2);
  e(crm, '| from_unix_millis', 'entity.name.function.cast.fdl', 0, 2);
  e(crm, '"standard"', 'string.quoted.double.fdl');
  e(crm, 'unique index', 'storage.modifier.fdl');
  e(crm, 'unique index', 'keyword.other.fdl', 0, 7);
  e(crm, '/* Addresses', 'comment.block.fdl');
  e(crm, 'one row per kind', 'comment.block.fdl');
  e(crm, 'first_name string', 'variable.other.field.fdl');
  e(crm, '-> one', 'keyword.operator.arrow.fdl');
  e(crm, '-> one', 'storage.modifier.fdl', 0, 3);
  e(crm, 'where addresses', 'keyword.control.fdl');

  const view = 'pipelines/customer360/customer_360.fdl';
  e(view, 'single view customer_360', 'keyword.other.declaration.fdl');
  e(view, 'single view customer_360', 'keyword.other.declaration.fdl', 0, 7);
  e(view, 'single view customer_360', 'entity.name.type.fdl', 0, 12);
  e(view, 'root customers', 'keyword.other.fdl');
  e(view, 'concat(', 'entity.name.function.fdl');
  e(view, 'count(customer_orders)', 'entity.name.function.fdl');
  e(view, 'match customers.tier', 'keyword.control.fdl');
  e(view, 'else               =>', 'keyword.control.fdl');
  e(view, '=> "premium"', 'keyword.operator.arrow.fdl');
  e(view, 'sort by placed_at', 'keyword.control.fdl');
  e(view, 'limit 10', 'keyword.control.fdl');
  e(view, 'limit 10', 'constant.numeric.fdl', 0, 6);
  e(view, '1000.00d', 'constant.numeric.fdl');
  e(view, '"%Y-%m-%d"', 'string.quoted.double.fdl', 0, 2);
  e(view, 'if sum', 'keyword.control.fdl');
  e(view, '?? "unknown"', 'keyword.operator.fdl');
  e(view, 'on root delete', 'keyword.other.fdl');
  e(view, 'mark deleted', 'storage.modifier.fdl');
  e(view, 'customer_id = customers.id', 'variable.other.field.fdl', 1);

  const fleet = 'pipelines/fleet/fleet.fdl';
  e(fleet, 'import "formats.fdl"', 'keyword.other.declaration.fdl');
  e(fleet, 'import "formats.fdl"', 'string.quoted.double.fdl', 0, 8);
  e(fleet, '= true', 'constant.language.fdl', 0, 2);
  e(fleet, 'float?', 'storage.type.fdl');
  e(fleet, 'parse_date("%d/%m/%Y")', 'entity.name.function.cast.fdl');
  e(fleet, 'as telematics_cdc', 'support.type.format.fdl', 0, 3);
  e(fleet, 'as golden-gate', 'support.type.format.fdl', 0, 8);

  const formats = 'pipelines/fleet/formats.fdl';
  e(formats, 'format telematics_cdc', 'keyword.other.declaration.fdl');
  e(formats, 'format telematics_cdc', 'entity.name.type.fdl', 0, 7);
  e(formats, 'operation = header', 'keyword.other.fdl');
  e(formats, 'header "op"', 'keyword.other.fdl');
  e(formats, 'insert "I"', 'keyword.other.fdl');

  const views = 'pipelines/fleet/views.fdl';
  e(views, 'not vehicles', 'keyword.operator.logical.fdl');
  e(views, '=> null', 'constant.language.fdl', 0, 3);
  e(views, 'is_null(', 'entity.name.function.fdl');

  if (failures > 0) {
    console.error(`${failures} of ${checks} grammar checks failed`);
    process.exit(1);
  }
  console.log(`grammar: ${checks} checks passed on ${files.length} example files`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
