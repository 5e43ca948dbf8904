import { Option, type Schema, SchemaAST as AST } from "effect"

// A fast path for decoding valid values: the schema's own AST compiled once into plain
// checks, with no Either, Option or issue objects per field. It answers either "valid, and
// here is exactly what Schema's decoder returns" or NOT_FAST. A failure, and any schema
// construct it does not know, is left to Schema's decoder, which alone words the messages.
// It follows ParseResult's decoding step by step: same predicates, same output objects
// (keys in the same order), filters called as Schema calls them.

/** The fast path cannot vouch for the value: decode it with Schema. */
export const NOT_FAST: unique symbol = Symbol.for("herald/domain/FastDecode/NOT_FAST")
type Fast = (input: unknown) => unknown

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const hasOwn = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key)

/** Nodes whose decoded value is the input itself, so any member of a union of them that accepts gives the same output. */
const keepsInput = (ast: AST.AST): boolean => {
  switch (ast._tag) {
    case "Literal": case "StringKeyword": case "NumberKeyword": case "BooleanKeyword": case "UndefinedKeyword":
    case "UnknownKeyword": case "AnyKeyword":
      return true
    case "Refinement":
      return keepsInput(ast.from)
    case "Union":
      return ast.types.every(keepsInput)
    default:
      return false
  }
}

const typeOf = (type: string): Fast => (u) => (typeof u === type ? u : NOT_FAST)

const compile = (ast: AST.AST): Fast | undefined => {
  if (Option.isSome(AST.getParseOptionsAnnotation(ast)) || Option.isSome(AST.getDecodingFallbackAnnotation(ast))) return undefined
  switch (ast._tag) {
    case "StringKeyword": return typeOf("string")
    case "NumberKeyword": return typeOf("number")
    case "BooleanKeyword": return typeOf("boolean")
    case "UndefinedKeyword": return typeOf("undefined")
    case "UnknownKeyword": case "AnyKeyword": return (u) => u
    case "Literal": {
      const literal = ast.literal
      return (u) => (u === literal ? u : NOT_FAST)
    }
    case "Refinement": {
      const from = compile(ast.from)
      if (from === undefined) return undefined
      const filter = ast.filter
      return (u) => {
        const a = from(u)
        return a !== NOT_FAST && Option.isNone(filter(a, AST.defaultParseOption, ast)) ? a : NOT_FAST
      }
    }
    case "Union": {
      if (!keepsInput(ast)) return undefined
      const members = ast.types.map(compile)
      if (members.some((m) => m === undefined)) return undefined
      return (u) => ((members as ReadonlyArray<Fast>).some((m) => m(u) !== NOT_FAST) ? u : NOT_FAST)
    }
    case "TypeLiteral": return typeLiteral(ast)
    case "Transformation": return transformation(ast)
    default: return undefined
  }
}

/**
 * The keys of a struct's encoded side that the type side checks with the very same schema
 * (and no property transformation touches): their values were just decoded by it, and decoding
 * a decoded value again gives the same value, so the second check is skipped.
 */
const decodedBy = (from: AST.TypeLiteral, moved: ReadonlySet<PropertyKey>) => (ps: AST.PropertySignature) =>
  !moved.has(ps.name) && from.propertySignatures.some((f) => f.name === ps.name && f.type === ps.type && f.isOptional === ps.isOptional)

const passThrough: Fast = (u) => u

const typeLiteral = (ast: AST.TypeLiteral, decoded: (ps: AST.PropertySignature) => boolean = () => false): Fast | undefined => {
  if (ast.propertySignatures.length === 0 && ast.indexSignatures.length === 0) return (u) => (u === null || u === undefined ? NOT_FAST : u)
  const properties: Array<readonly [string, boolean, Fast]> = []
  for (const ps of ast.propertySignatures) {
    const parse = decoded(ps) ? passThrough : compile(ps.type)
    if (parse === undefined || typeof ps.name !== "string") return undefined
    properties.push([ps.name, ps.isOptional, parse])
  }
  const values: Array<Fast> = []
  for (const is of ast.indexSignatures) {
    const parse = compile(is.type)
    if (parse === undefined || is.parameter._tag !== "StringKeyword") return undefined
    values.push(parse)
  }
  const expected = new Set(properties.map(([name]) => name))
  return (u) => {
    if (!isRecord(u)) return NOT_FAST
    const out: Record<string, unknown> = {}
    for (const [name, optional, parse] of properties) {
      if (optional && !hasOwn(u, name)) continue
      const v = parse(u[name])
      if (v === NOT_FAST) return NOT_FAST
      out[name] = v
    }
    for (const parse of values) {
      for (const key of Object.keys(u)) {
        const v = parse(u[key])
        if (v === NOT_FAST) return NOT_FAST
        if (!expected.has(key)) out[key] = v
      }
    }
    return out
  }
}

// Optional keys with defaults (`optionalWith(…, { default })`): decode the encoded struct,
// move or fill each key as the property transformation says, then decode the type side.
const transformation = (ast: AST.Transformation): Fast | undefined => {
  if (ast.transformation._tag !== "TypeLiteralTransformation") return undefined
  const pst = ast.transformation.propertySignatureTransformations
  const from = compile(ast.from)
  const to = ast.from._tag === "TypeLiteral" && ast.to._tag === "TypeLiteral"
    ? typeLiteral(ast.to, decodedBy(ast.from, new Set(pst.flatMap((s) => [s.from, s.to]))))
    : compile(ast.to)
  if (from === undefined || to === undefined) return undefined
  const steps = pst.map((s) => [s.from as string, s.to as string, s.decode] as const)
  // Schema deletes and re-adds each key, which only reorders keys; a type side without index
  // signatures builds its output in its own key order, so then a plain assignment is the same.
  const reorders = !(ast.to._tag === "TypeLiteral" && ast.to.indexSignatures.length === 0)
  return (u) => {
    const a = from(u)
    if (a === NOT_FAST || !isRecord(a)) return NOT_FAST
    for (const [key, target, decode] of steps) {
      const present = hasOwn(a, key)
      const o = decode(present ? Option.some(a[key]) : Option.none())
      if (present && (Option.isNone(o) || reorders || key !== target)) delete a[key]
      if (Option.isSome(o)) a[target] = o.value
    }
    return to(a)
  }
}

/**
 * The fast decoder of `schema`: its output for a value Schema would decode, else NOT_FAST.
 * A schema it cannot compile gets a decoder that always answers NOT_FAST.
 */
export const fastDecoder = <A, I>(schema: Schema.Schema<A, I, never>): ((input: unknown) => A | typeof NOT_FAST) =>
  (compile(schema.ast) ?? (() => NOT_FAST)) as (input: unknown) => A | typeof NOT_FAST
