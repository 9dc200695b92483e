#!/usr/bin/env node
// Generates the per-operator Node-API bindings from libtorch's ATen/RegistrationDeclarations.h.
//   node native/gen-ops.mjs HEADER_DIR OUT_FILE [OPS_LIST]   (binding.gyp runs it at configure time)
// Each line of native/ops.txt names one ATen schema ("add.Tensor", "matmul"); the generator finds
// its C++ signature and schema defaults, and emits `ops.<name>` (dots become underscores) calling
// at::_ops::<name>::call, so that method-only and composite ops go through the same dispatcher
// path PyTorch uses (autograd, autocast). Arguments left undefined take the schema default.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [headerDir, outFile, opsList = join(here, 'ops.txt')] = process.argv.slice(2);
if (!headerDir || !outFile) {
  console.error('usage: node native/gen-ops.mjs HEADER_DIR OUT_FILE [OPS_LIST]');
  process.exit(2);
}

const wanted = readFileSync(opsList, 'utf8')
  .split('\n')
  .map((l) => l.replace(/#.*/, '').trim())
  .filter(Boolean);

const decls = new Map();
for (const line of readFileSync(join(headerDir, 'ATen', 'RegistrationDeclarations.h'), 'utf8').split('\n')) {
  const m = /^(.*?\));\s*\/\/\s*(\{.*\})\s*$/.exec(line);
  if (!m) continue;
  const schema = JSON.parse(m[2]).schema;
  const name = /^aten::([^(]+)\(/.exec(schema)[1];
  decls.set(name, { cpp: m[1], schema });
}

/** Split on commas outside <>, (), []. */
function splitTop(s) {
  const out = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if ('<([{'.includes(ch)) depth++;
    if ('>)]}'.includes(ch)) depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** Schema defaults by argument name, as C++ expressions for the converted type. */
function schemaDefaults(schema) {
  const args = /\((.*)\) ->/.exec(schema)[1];
  const defaults = new Map();
  for (const a of splitTop(args)) {
    if (a === '*') continue;
    const m = /^(.*) (\w+)(?:=(.*))?$/.exec(a);
    if (m && m[3] !== undefined) defaults.set(m[2], m[3]);
  }
  return defaults;
}

function cppDefault(type, value) {
  if (value === 'None') return null; // optional types already accept undefined
  if (value === 'True') return 'true';
  if (value === 'False') return 'false';
  if (value === 'Mean') return 'static_cast<int64_t>(at::Reduction::Mean)';
  if (value === 'Sum') return 'static_cast<int64_t>(at::Reduction::Sum)';
  if (/^'.*'$/.test(value) || /^".*"$/.test(value)) return `std::string(${JSON.stringify(value.slice(1, -1))})`;
  if (/^\[.*\]$/.test(value)) return `IntList{${value.slice(1, -1)}}`;
  if (/^-?[\d.e+-]+$/.test(value)) {
    if (/Scalar/.test(type)) return /[.e]/.test(value) ? `at::Scalar(${value})` : `at::Scalar(static_cast<int64_t>(${value}))`;
    return value;
  }
  if (value === 'contiguous_format') return null;
  if (value === 'long' && /ScalarType/.test(type)) return 'c10::optional<at::ScalarType>(at::kLong)';
  throw new Error(`unsupported default ${value} for ${type}`);
}

// C++ parameter type -> how to build it from a JS value. `conv` produces a local; `pass` turns the
// local into the call argument. `hidden` types take no JS argument (always the default).
const TYPES = {
  'const Tensor &': { conv: (v, w) => `toTensor(${v}, ${w})`, ref: true },
  'Tensor &': { conv: (v, w) => `toTensor(${v}, ${w})`, ref: true },
  'const c10::optional<Tensor> &': { conv: (v, w) => `toOptTensor(${v}, ${w})` },
  'const Scalar &': { conv: (v, w) => `toScalar(${v}, ${w})` },
  'const c10::optional<Scalar> &': { conv: (v, w) => `opt<at::Scalar>(${v}, toScalar, ${w})` },
  int64_t: { conv: (v, w) => `toInt(${v}, ${w})` },
  'c10::SymInt': { conv: (v, w) => `toInt(${v}, ${w})`, pass: (x) => `c10::SymInt(${x})` },
  'c10::optional<int64_t>': { conv: (v, w) => `opt<int64_t>(${v}, toInt, ${w})` },
  'c10::optional<c10::SymInt>': {
    conv: (v, w) => `opt<int64_t>(${v}, toInt, ${w})`,
    pass: (x) => `(${x} ? c10::optional<c10::SymInt>(c10::SymInt(*${x})) : c10::nullopt)`,
  },
  double: { conv: (v, w) => `toDouble(${v}, ${w})` },
  'c10::optional<double>': { conv: (v, w) => `opt<double>(${v}, toDouble, ${w})` },
  bool: { conv: (v, w) => `toBool(${v}, ${w})` },
  'c10::optional<bool>': { conv: (v, w) => `opt<bool>(${v}, toBool, ${w})` },
  IntArrayRef: { conv: (v, w) => `toIntList(${v}, ${w})` },
  'c10::SymIntArrayRef': { conv: (v, w) => `toIntList(${v}, ${w})`, pass: (x) => `c10::fromIntArrayRef(${x})` },
  OptionalIntArrayRef: {
    conv: (v, w) => `opt<IntList>(${v}, toIntList, ${w})`,
    pass: (x) => `(${x} ? at::OptionalIntArrayRef(*${x}) : at::OptionalIntArrayRef())`,
  },
  OptionalSymIntArrayRef: {
    conv: (v, w) => `opt<IntList>(${v}, toIntList, ${w})`,
    pass: (x) => `(${x} ? at::OptionalSymIntArrayRef(c10::fromIntArrayRef(*${x})) : at::OptionalSymIntArrayRef(c10::nullopt))`,
  },
  'c10::optional<ArrayRef<double>>': {
    conv: (v, w) => `opt<std::vector<double>>(${v}, toDoubleList, ${w})`,
    pass: (x) => `(${x} ? c10::optional<at::ArrayRef<double>>(*${x}) : c10::nullopt)`,
  },
  ScalarType: { conv: (v, w) => `toScalarType(${v}, ${w})` },
  'c10::optional<ScalarType>': { conv: (v, w) => `opt<at::ScalarType>(${v}, toScalarType, ${w})` },
  Device: { conv: (v, w) => `toDevice(${v}, ${w})` },
  'c10::optional<Device>': { conv: (v, w) => `opt<at::Device>(${v}, toDevice, ${w})` },
  TensorList: { conv: (v, w) => `toTensorList(${v}, ${w})`, pass: (x) => `at::TensorList(${x})` },
  'const ITensorListRef &': { conv: (v, w) => `toTensorList(${v}, ${w})`, pass: (x) => `at::ITensorListRef(at::TensorList(${x}))` },
  'c10::string_view': { conv: (v, w) => `toStr(${v}, ${w})`, pass: (x) => `c10::string_view(${x})` },
  'c10::optional<c10::string_view>': {
    conv: (v, w) => `opt<std::string>(${v}, toStr, ${w})`,
    pass: (x) => `(${x} ? c10::optional<c10::string_view>(c10::string_view(*${x})) : c10::nullopt)`,
  },
  'c10::optional<Layout>': { hidden: 'c10::nullopt' },
  'c10::optional<Generator>': { hidden: 'c10::nullopt' },
  'c10::optional<MemoryFormat>': { hidden: 'c10::nullopt' },
  MemoryFormat: { hidden: 'at::MemoryFormat::Contiguous' },
};

/** Spells a C++ type as libtorch 1.13 does, so later releases (std::optional, at:: prefixes) map too. */
function normalizeType(t) {
  return t
    .trim()
    .replace(/(::)?std::optional</g, 'c10::optional<')
    .replace(/(::)?std::string_view/g, 'c10::string_view')
    .replace(/\bat::/g, '')
    .replace(/c10::ArrayRef</g, 'ArrayRef<')
    .replace(/\s+/g, ' ')
    .replace(/ ([&*])/g, ' $1');
}

const RETURNS = {
  Tensor: (r) => `return wrap(env, ${r});`,
  'Tensor &': (r) => `${r}; return env.Undefined();`, // in-place: the JS side returns `this`
  '::std::vector<Tensor>': (r) => `return wrapList(env, ${r});`,
  bool: (r) => `return Napi::Boolean::New(env, ${r});`,
  double: (r) => `return Napi::Number::New(env, ${r});`,
  int64_t: (r) => `return Napi::Number::New(env, static_cast<double>(${r}));`,
  Scalar: (r) => `return scalarToJs(env, ${r});`,
  void: (r) => `${r}; return env.Undefined();`,
};

function returnCode(ret, call) {
  if (RETURNS[ret]) return RETURNS[ret](call);
  const tm = /^::std::tuple<(.*)>$/.exec(ret);
  if (tm && splitTop(tm[1]).every((t) => t === 'Tensor')) {
    const n = splitTop(tm[1]).length;
    const sets = Array.from({ length: n }, (_, i) => `    a.Set(${i}u, wrap(env, std::get<${i}>(r)));`).join('\n');
    return `auto r = ${call};\n    auto a = Napi::Array::New(env, ${n});\n${sets}\n    return a;`;
  }
  throw new Error(`unsupported return type ${ret}`);
}

const headers = new Set();
const fns = [];
const regs = [];
const errors = [];
for (const name of wanted) {
  const d = decls.get(name);
  if (!d) {
    errors.push(`${name}: not in RegistrationDeclarations.h`);
    continue;
  }
  try {
    const m = /^(.*?)\s*\b(\w+)\((.*)\)$/.exec(d.cpp);
    const ret = normalizeType(m[1]);
    const params = m[3].trim() ? splitTop(m[3]) : [];
    const defaults = schemaDefaults(d.schema);
    const ident = name.replace(/\./g, '_');
    const base = /^[^.]+/.exec(name)[0];
    const headerBase = base.endsWith('_') && !base.endsWith('__') ? base.slice(0, -1) : base;
    const h = `ATen/ops/${headerBase}_ops.h`;
    headers.add(existsSync(join(headerDir, h)) ? h : 'ATen/Operators.h');

    const lines = [];
    const callArgs = [];
    let js = 0;
    for (const p of params) {
      const pm = /^(.*?)\s*(\w+)$/.exec(p);
      const type = normalizeType(pm[1]);
      const pname = pm[2];
      const t = TYPES[type];
      if (!t) throw new Error(`unsupported argument type '${type}' (${pname})`);
      if (t.hidden) {
        callArgs.push(t.hidden);
        continue;
      }
      const what = JSON.stringify(`argument ${js + 1} (${pname})`);
      const v = `info[${js}]`;
      const def = defaults.has(pname) ? cppDefault(type, defaults.get(pname)) : null;
      let expr = t.conv(v, what);
      if (def !== null) expr = `(${v}.IsUndefined() ? ${def} : ${expr})`;
      const local = `a${js}`;
      if (t.ref && def === null) lines.push(`    auto& ${local} = ${expr};`);
      else lines.push(`    auto ${local} = ${expr};`);
      callArgs.push(t.pass ? t.pass(local) : local);
      js++;
    }
    const call = `at::_ops::${ident}::call(${callArgs.join(', ')})`;
    fns.push(
      `static Napi::Value op_${ident}(const Napi::CallbackInfo& info) {\n` +
        `  return guard(info, ${JSON.stringify(name)}, [&]() -> Napi::Value {\n` +
        `    Napi::Env env = info.Env();\n` +
        `${lines.join('\n')}${lines.length ? '\n' : ''}` +
        `    ${returnCode(ret, call)}\n` +
        `  });\n}\n`,
    );
    regs.push(`  ops.Set(${JSON.stringify(ident)}, Napi::Function::New(env, op_${ident}, ${JSON.stringify(ident)}));`);
  } catch (e) {
    errors.push(`${name}: ${e.message}\n    ${d.cpp}`);
  }
}
if (errors.length) {
  console.error(`gen-ops: cannot bind:\n  ${errors.join('\n  ')}`);
  process.exit(1);
}

const out =
  `// GENERATED by native/gen-ops.mjs from ATen/RegistrationDeclarations.h and native/ops.txt. Do not edit.\n` +
  `#include "convert.h"\n` +
  [...headers].sort().map((h) => `#include <${h}>`).join('\n') +
  `\n\nnamespace d2po {\n\n${fns.join('\n')}\n` +
  `void registerOps(Napi::Env env, Napi::Object exports) {\n  Napi::Object ops = Napi::Object::New(env);\n${regs.join('\n')}\n  exports.Set("ops", ops);\n}\n\n}  // namespace d2po\n`;

mkdirSync(dirname(outFile), { recursive: true });
// Keep the file (and its mtime) when unchanged so rebuilds do not recompile it.
if (!existsSync(outFile) || readFileSync(outFile, 'utf8') !== out) writeFileSync(outFile, out);
process.stdout.write(outFile);
