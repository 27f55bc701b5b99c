import {
  type $ZodDiscriminatedUnion,
  type $ZodObject,
  type $ZodString,
  type $ZodStringDef,
  type $ZodType,
  globalRegistry,
  type JSONSchema,
  toJSONSchema,
} from 'zod/v4/core';

/**
 * zod schemas to OpenAPI 3.1 schema objects (JSON Schema draft 2020-12), with zod's own
 * `toJSONSchema`: it reads the core types only, so classic and `zod/mini` schemas convert alike.
 * A schema registered with an `id` (`.meta({ id })` or `.register(z.globalRegistry, { id })`)
 * becomes `#/components/schemas/<id>` and a `$ref` wherever it is used.
 *
 * Request bodies, path, query and header parameters are converted as inputs (a field with a
 * default is optional, a coerced or transformed value is what is sent), responses as outputs. Two
 * things of zod's output form are not what the API promises, and are taken back: responses are not
 * parsed on their way out, so a field with a default stays optional and an object that is not
 * strict stays open (no `additionalProperties: false`), as in requests.
 */
export type SchemaObject = JSONSchema.JSONSchema;
export type Io = 'input' | 'output';

const COMPONENT_PREFIX = '#/components/schemas/';
const DEFS_PREFIX = '#/$defs/';

/** A field zod accepts absent on input: optional, or with a default. */
const optionalOnInput = (field: $ZodType) => field._zod.optin !== undefined;

type OverrideContext = { zodSchema: $ZodType; jsonSchema: SchemaObject };

/** Undoes what the output form adds to an object and the API does not promise (see above). */
const openOutputObject = ({ zodSchema, jsonSchema }: OverrideContext) => {
  const { shape, catchall } = (zodSchema as $ZodObject)._zod.def;
  if (!catchall) delete jsonSchema.additionalProperties;
  const required = (jsonSchema.required ?? []).filter((key) => !optionalOnInput(shape[key] as $ZodType));
  if (required.length > 0) jsonSchema.required = required;
  else delete jsonSchema.required;
};

/**
 * A string format (`z.iso.datetime()`, `z.email()`...) is its `format`: zod adds the regular
 * expression it validates with as a `pattern`, which only a hand-written `.regex()` becomes here.
 */
const formatPatternOff = ({ zodSchema, jsonSchema }: OverrideContext) => {
  const { format, checks = [] } = (zodSchema as $ZodString)._zod.def as $ZodStringDef & { format?: string };
  const regex = checks.some((check) => (check._zod.def as { format?: string }).format === 'regex');
  if (format && format !== 'regex' && !regex) delete jsonSchema.pattern;
};

/**
 * A discriminated union of components names them by discriminator value (the form OpenAPI tools
 * read to pick the branch); one with inline branches is a plain `oneOf`.
 */
const discriminatorOf = ({ zodSchema, jsonSchema }: OverrideContext) => {
  const { discriminator, options } = (zodSchema as $ZodDiscriminatedUnion)._zod.def;
  if (!discriminator || !jsonSchema.oneOf) return;
  const mapping: Record<string, string> = {};
  for (const option of options) {
    const id = globalRegistry.get(option)?.id;
    if (!id) return;
    for (const value of option._zod.propValues?.[discriminator] ?? []) {
      mapping[String(value)] = COMPONENT_PREFIX + id;
    }
  }
  Object.assign(jsonSchema, { discriminator: { propertyName: discriminator, mapping } });
};

const overrideFor =
  (io: Io) =>
  (ctx: OverrideContext): void => {
    const type = ctx.zodSchema._zod.def.type;
    if (type === 'object' && io === 'output') openOutputObject(ctx);
    if (type === 'string') formatPatternOff(ctx);
    if (type === 'union') discriminatorOf(ctx);
    // A record's key schema (`propertyNames`) is not in the document: its keys are described in words.
    if (type === 'record') delete ctx.jsonSchema.propertyNames;
  };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * `anyOf: [X, { type: 'null' }]`, zod's nullable, as `type: [X's type, 'null']` when X is a plain
 * typed schema (not a `$ref`, not a union): the form the document has always had, which generated
 * clients read as `X | null`. An enum gains `null` among its values.
 */
const compactNullable = (schema: Record<string, unknown>) => {
  const options = schema.anyOf;
  if (!Array.isArray(options) || options.length !== 2 || schema.type !== undefined) return;
  const nullIndex = options.findIndex((option) => isObject(option) && option.type === 'null');
  const inner = options[1 - nullIndex];
  if (nullIndex < 0 || Object.keys(options[nullIndex]).length !== 1 || !isObject(inner)) return;
  const { anyOf: _, ...outer } = schema;
  if (Array.isArray(inner.anyOf) && Object.keys(inner).length === 1) {
    schema.anyOf = [...inner.anyOf, options[nullIndex]];
    return;
  }
  if (typeof inner.type !== 'string' || inner.$ref || inner.anyOf || inner.oneOf || inner.allOf) return;
  for (const key of Object.keys(schema)) delete schema[key];
  Object.assign(schema, inner, outer, { type: [inner.type, 'null'] });
  if (Array.isArray(inner.enum)) schema.enum = [...inner.enum, null];
};

/** The order of a schema object's keywords in the document (the order it has always had). */
const KEYWORD_ORDER = [
  '$ref',
  'anyOf',
  'oneOf',
  'allOf',
  'discriminator',
  'type',
  'enum',
  'properties',
  'items',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minItems',
  'maxItems',
  'pattern',
  'default',
  'required',
  'additionalProperties',
  'format',
  'description',
  'example',
];
const rank = (key: string) => {
  const index = KEYWORD_ORDER.indexOf(key);
  return index < 0 ? KEYWORD_ORDER.length : index;
};

const SUBSCHEMA_MAPS = ['properties', 'patternProperties', '$defs'];
const SUBSCHEMAS = ['items', 'additionalProperties', 'propertyNames', 'not', 'contains'];
const SUBSCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];

/** Calls `visit` on a schema and its subschemas, innermost first (not on values: `default`, `enum`...). */
const walk = (schema: unknown, visit: (schema: Record<string, unknown>) => void): void => {
  if (!isObject(schema)) return;
  for (const key of SUBSCHEMA_MAPS) {
    if (isObject(schema[key])) for (const child of Object.values(schema[key])) walk(child, visit);
  }
  for (const key of SUBSCHEMAS) walk(schema[key], visit);
  for (const key of SUBSCHEMA_LISTS) {
    if (Array.isArray(schema[key])) for (const child of schema[key]) walk(child, visit);
  }
  visit(schema);
};

/** JSON with sorted keys: two values that say the same thing read the same. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_, item) =>
    isObject(item) ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => a.localeCompare(b))) : item,
  );

/**
 * A schema that refines a component (`Component.meta({ description })`) is a `$ref` beside the
 * keywords zod could not tell were the component's own; those that repeat it go.
 */
const dropRepeats = (defs: Record<string, unknown>) => (schema: Record<string, unknown>) => {
  const ref =
    typeof schema.$ref === 'string' && schema.$ref.startsWith(DEFS_PREFIX) ? schema.$ref : undefined;
  const target = ref && defs[ref.slice(DEFS_PREFIX.length)];
  if (!isObject(target)) return;
  for (const key of Object.keys(schema)) {
    if (key !== '$ref' && key in target && canonical(schema[key]) === canonical(target[key]))
      delete schema[key];
  }
};

/**
 * `$defs` references become component references, literals `enum`s, nullables compact, a `$ref`
 * stands alone, and the keywords take the document's order.
 */
const rewrite = (schema: Record<string, unknown>) => {
  if (typeof schema.$ref === 'string' && schema.$ref.startsWith(DEFS_PREFIX)) {
    schema.$ref = COMPONENT_PREFIX + schema.$ref.slice(DEFS_PREFIX.length);
  }
  // A literal: `enum` of one value, as the document has always spelled it (`const` says the same).
  if ('const' in schema && !('enum' in schema)) {
    schema.enum = [schema.const];
    delete schema.const;
  }
  compactNullable(schema);
  // Beside a `$ref`, draft-07 readers (Prism) ignore every keyword: a `default` of a component
  // goes beside an `allOf` of the reference instead; a description may stay.
  const { $ref, description: _, ...siblings } = schema;
  if ($ref && Object.keys(siblings).length > 0) {
    delete schema.$ref;
    schema.allOf = [{ $ref }];
  }
  const entries = Object.entries(schema).sort(([a], [b]) => rank(a) - rank(b));
  for (const [key] of entries) delete schema[key];
  Object.assign(schema, Object.fromEntries(entries));
};

/** The components a document's schemas refer to, filled as the document's schemas are converted. */
export class SchemaComponents {
  readonly schemas: Record<string, SchemaObject> = {};
  readonly #io = new Map<string, Io>();

  /** The schema object of a zod schema: inline, or a `$ref` when it has an id. */
  convert(schema: $ZodType, io: Io): SchemaObject {
    const converted = toJSONSchema(schema, {
      target: 'draft-2020-12',
      io,
      metadata: globalRegistry,
      // A type JSON cannot carry (a date, a bigint, a custom check) throws: the API has none.
      unrepresentable: 'throw',
      override: overrideFor(io),
    }) as SchemaObject;
    const { $schema: _, $defs = {}, ...root } = converted;
    for (const schema of [root, ...Object.values($defs)]) walk(schema, dropRepeats($defs));
    for (const schema of [root, ...Object.values($defs)]) walk(schema, rewrite);
    for (const [id, def] of Object.entries($defs)) {
      if (id.startsWith('__schema')) throw new Error(`A recursive schema without an id: give it one (${id})`);
      this.#add(id, def as SchemaObject, io);
    }
    return root;
  }

  /** One component per id: the same schema must read the same as an input and as an output. */
  #add(id: string, schema: SchemaObject, io: Io) {
    const existing = this.schemas[id];
    if (existing && JSON.stringify(existing) !== JSON.stringify(schema)) {
      throw new Error(
        `Component ${id} differs as an ${this.#io.get(id)} and as an ${io}: give each form its own id`,
      );
    }
    this.schemas[id] = schema;
    this.#io.set(id, io);
  }

  /**
   * The parameters an object schema describes, one per property, in its order: described by the
   * property's description, required unless optional (or defaulted) on input.
   */
  parameters(object: $ZodObject, location: 'path' | 'query' | 'header') {
    const converted = this.convert(object, 'input');
    const required = new Set(converted.required ?? []);
    return Object.entries(converted.properties ?? {}).map(([name, schema]) => {
      const description =
        (schema as SchemaObject).description ??
        globalRegistry.get(object._zod.def.shape[name] as $ZodType)?.description;
      return {
        schema,
        required: required.has(name),
        ...(description ? { description } : {}),
        name,
        in: location,
      };
    });
  }
}
