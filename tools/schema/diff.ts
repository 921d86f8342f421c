import {
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isSpecifiedDirective,
  isSpecifiedScalarType,
  isUnionType,
  print,
  astFromValue,
  type GraphQLArgument,
  type GraphQLDirective,
  type GraphQLField,
  type GraphQLInputField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLSchema,
  type GraphQLType,
} from 'graphql';

export type Severity = 'breaking' | 'dangerous' | 'safe';

export type ChangeCode =
  | 'TYPE_REMOVED'
  | 'TYPE_ADDED'
  | 'TYPE_KIND_CHANGED'
  | 'ROOT_TYPE_CHANGED'
  | 'FIELD_REMOVED'
  | 'FIELD_ADDED'
  | 'FIELD_TYPE_CHANGED'
  | 'REQUIRED_ARG_ADDED'
  | 'OPTIONAL_ARG_ADDED'
  | 'ARG_REMOVED'
  | 'ARG_TYPE_CHANGED'
  | 'ARG_DEFAULT_CHANGED'
  | 'REQUIRED_INPUT_FIELD_ADDED'
  | 'OPTIONAL_INPUT_FIELD_ADDED'
  | 'INPUT_FIELD_REMOVED'
  | 'INPUT_FIELD_TYPE_CHANGED'
  | 'INPUT_FIELD_DEFAULT_CHANGED'
  | 'ENUM_VALUE_REMOVED'
  | 'ENUM_VALUE_ADDED'
  | 'UNION_MEMBER_REMOVED'
  | 'UNION_MEMBER_ADDED'
  | 'INTERFACE_REMOVED'
  | 'INTERFACE_ADDED'
  | 'DIRECTIVE_REMOVED'
  | 'DIRECTIVE_ADDED'
  | 'DIRECTIVE_LOCATION_REMOVED'
  | 'DIRECTIVE_LOCATION_ADDED'
  | 'DEPRECATION_ADDED'
  | 'DEPRECATION_REMOVED'
  | 'DEPRECATION_REASON_CHANGED'
  | 'DESCRIPTION_CHANGED';

export interface SchemaChange {
  readonly severity: Severity;
  readonly code: ChangeCode;
  /** Schema coordinate of the changed element: `Type`, `Type.field`, `Type.field(arg:)`, `Enum.VALUE`, `@dir`. */
  readonly coordinate: string;
  readonly message: string;
  /**
   * Usage keys (see operations.ts): an operation that uses any of them is affected by this change. A removed
   * argument affects only operations that pass it; a new required argument affects every caller of the field.
   */
  readonly affects: readonly string[];
}

/**
 * Every difference between two API schemas that a client could notice, classified the way a reviewer would:
 * breaking (an existing valid operation can fail or get a different response shape), dangerous (valid, but
 * behaviour may change: a new enum value, a changed default) or safe (additions, deprecations, descriptions).
 */
export function diffSchemas(base: GraphQLSchema, target: GraphQLSchema): SchemaChange[] {
  const changes: SchemaChange[] = [];
  const add = (severity: Severity, code: ChangeCode, coordinate: string, message: string, affects: string[] = []) =>
    changes.push({ severity, code, coordinate, message, affects });

  diffRootTypes(base, target, add);

  const baseTypes = base.getTypeMap();
  const targetTypes = target.getTypeMap();
  for (const [name, baseType] of Object.entries(baseTypes)) {
    if (isBuiltIn(baseType)) continue;
    const targetType = targetTypes[name];
    if (!targetType) {
      add('breaking', 'TYPE_REMOVED', name, `Type ${name} was removed`, [name]);
    } else if (kindOf(baseType) !== kindOf(targetType)) {
      add('breaking', 'TYPE_KIND_CHANGED', name, `${name} changed from ${kindOf(baseType)} to ${kindOf(targetType)}`, [
        name,
      ]);
    } else {
      diffNamedType(baseType, targetType, add);
    }
  }
  for (const [name, targetType] of Object.entries(targetTypes)) {
    if (!isBuiltIn(targetType) && !baseTypes[name])
      add('safe', 'TYPE_ADDED', name, `${kindOf(targetType)} ${name} was added`);
  }

  diffDirectives(base.getDirectives(), target.getDirectives(), add);
  return changes.sort(bySeverityThenCoordinate);
}

/**
 * Introspection types never change, and graphql-js lists a built-in scalar only while some field uses it, so
 * its appearing or disappearing says nothing a client could notice.
 */
const isBuiltIn = (type: GraphQLNamedType): boolean => type.name.startsWith('__') || isSpecifiedScalarType(type);

type AddChange = (
  severity: Severity,
  code: ChangeCode,
  coordinate: string,
  message: string,
  affects?: string[],
) => void;

const SEVERITY_ORDER: Record<Severity, number> = { breaking: 0, dangerous: 1, safe: 2 };

const bySeverityThenCoordinate = (a: SchemaChange, b: SchemaChange): number =>
  SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
  a.coordinate.localeCompare(b.coordinate, 'en', { numeric: true }) ||
  a.code.localeCompare(b.code);

function diffRootTypes(base: GraphQLSchema, target: GraphQLSchema, add: AddChange): void {
  const roots = [
    ['query', base.getQueryType(), target.getQueryType()],
    ['mutation', base.getMutationType(), target.getMutationType()],
    ['subscription', base.getSubscriptionType(), target.getSubscriptionType()],
  ] as const;
  for (const [operation, before, after] of roots) {
    if (before?.name === after?.name) continue;
    if (!before && after) {
      add('safe', 'ROOT_TYPE_CHANGED', after.name, `The schema now supports ${operation} operations (${after.name})`);
    } else if (before) {
      const now = after ? `is now ${after.name}` : 'was removed';
      add('breaking', 'ROOT_TYPE_CHANGED', before.name, `The ${operation} root type ${before.name} ${now}`, [
        before.name,
      ]);
    }
  }
}

function kindOf(type: GraphQLNamedType): string {
  if (isObjectType(type)) return 'object type';
  if (isInterfaceType(type)) return 'interface';
  if (isUnionType(type)) return 'union';
  if (isEnumType(type)) return 'enum';
  if (isInputObjectType(type)) return 'input type';
  if (isScalarType(type)) return 'scalar';
  return 'type';
}

function diffNamedType(before: GraphQLNamedType, after: GraphQLNamedType, add: AddChange): void {
  const name = before.name;
  diffDescription(name, before.description, after.description, add);
  if ((isObjectType(before) || isInterfaceType(before)) && (isObjectType(after) || isInterfaceType(after))) {
    diffInterfaces(name, before.getInterfaces(), after.getInterfaces(), add);
    diffOutputFields(name, before.getFields(), after.getFields(), add);
  } else if (isUnionType(before) && isUnionType(after)) {
    const members = new Set(after.getTypes().map((type) => type.name));
    const previous = new Set(before.getTypes().map((type) => type.name));
    for (const member of previous) {
      if (!members.has(member))
        add('breaking', 'UNION_MEMBER_REMOVED', name, `${member} was removed from union ${name}`, [name]);
    }
    for (const member of members) {
      if (!previous.has(member)) {
        add(
          'dangerous',
          'UNION_MEMBER_ADDED',
          name,
          `${member} was added to union ${name}; clients may not expect it`,
          [name],
        );
      }
    }
  } else if (isEnumType(before) && isEnumType(after)) {
    const values = new Map(after.getValues().map((value) => [value.name, value]));
    for (const value of before.getValues()) {
      const coordinate = `${name}.${value.name}`;
      const now = values.get(value.name);
      if (!now) {
        add('breaking', 'ENUM_VALUE_REMOVED', coordinate, `Enum value ${coordinate} was removed`, [coordinate]);
        continue;
      }
      diffDescription(coordinate, value.description, now.description, add);
      diffDeprecation(coordinate, value.deprecationReason, now.deprecationReason, add, [coordinate]);
    }
    const previous = new Set(before.getValues().map((value) => value.name));
    for (const value of after.getValues()) {
      if (!previous.has(value.name)) {
        const coordinate = `${name}.${value.name}`;
        add(
          'dangerous',
          'ENUM_VALUE_ADDED',
          coordinate,
          `Enum value ${coordinate} was added; clients switching on ${name} may not handle it`,
          [name],
        );
      }
    }
  } else if (isInputObjectType(before) && isInputObjectType(after)) {
    diffInputFields(name, before.getFields(), after.getFields(), add);
  }
}

function diffInterfaces(
  name: string,
  before: readonly GraphQLNamedType[],
  after: readonly GraphQLNamedType[],
  add: AddChange,
): void {
  const now = new Set(after.map((type) => type.name));
  const previous = new Set(before.map((type) => type.name));
  for (const iface of previous) {
    if (!now.has(iface)) add('breaking', 'INTERFACE_REMOVED', name, `${name} no longer implements ${iface}`, [name]);
  }
  for (const iface of now) {
    if (!previous.has(iface)) {
      add(
        'dangerous',
        'INTERFACE_ADDED',
        name,
        `${name} now implements ${iface}; it can appear where ${iface} is returned`,
        [iface],
      );
    }
  }
}

function diffOutputFields(
  typeName: string,
  before: Record<string, GraphQLField<unknown, unknown>>,
  after: Record<string, GraphQLField<unknown, unknown>>,
  add: AddChange,
): void {
  for (const [fieldName, field] of Object.entries(before)) {
    const coordinate = `${typeName}.${fieldName}`;
    const now = after[fieldName];
    if (!now) {
      add('breaking', 'FIELD_REMOVED', coordinate, `Field ${coordinate} was removed`, [coordinate]);
      continue;
    }
    if (String(field.type) !== String(now.type)) {
      const safe = isSafeOutputTypeChange(field.type, now.type);
      const why = safe
        ? 'clients still get a value of the type they expect'
        : 'clients may get a value they cannot handle';
      add(
        safe ? 'safe' : 'breaking',
        'FIELD_TYPE_CHANGED',
        coordinate,
        `${coordinate} changed type from ${String(field.type)} to ${String(now.type)}; ${why}`,
        safe ? [] : [coordinate],
      );
    }
    diffDescription(coordinate, field.description, now.description, add);
    diffDeprecation(coordinate, field.deprecationReason, now.deprecationReason, add, [coordinate]);
    diffArguments(coordinate, field.args, now.args, add);
  }
  for (const fieldName of Object.keys(after)) {
    if (!before[fieldName]) {
      const coordinate = `${typeName}.${fieldName}`;
      add('safe', 'FIELD_ADDED', coordinate, `Field ${coordinate} was added`);
    }
  }
}

/** Arguments of a field (`Type.field`) or of a directive (`@dir`); `owner` is that coordinate. */
function diffArguments(
  owner: string,
  before: readonly GraphQLArgument[],
  after: readonly GraphQLArgument[],
  add: AddChange,
): void {
  const now = new Map(after.map((argument) => [argument.name, argument]));
  for (const argument of before) {
    const coordinate = `${owner}(${argument.name}:)`;
    const current = now.get(argument.name);
    if (!current) {
      add('breaking', 'ARG_REMOVED', coordinate, `Argument ${coordinate} was removed`, [coordinate]);
      continue;
    }
    diffInputValue(owner, coordinate, argument, current, 'ARG_TYPE_CHANGED', 'ARG_DEFAULT_CHANGED', add);
  }
  const previous = new Set(before.map((argument) => argument.name));
  for (const argument of after) {
    if (previous.has(argument.name)) continue;
    const coordinate = `${owner}(${argument.name}:)`;
    if (isRequired(argument)) {
      add(
        'breaking',
        'REQUIRED_ARG_ADDED',
        coordinate,
        `Required argument ${coordinate} was added; existing callers do not pass it`,
        [owner],
      );
    } else {
      add('safe', 'OPTIONAL_ARG_ADDED', coordinate, `Optional argument ${coordinate} was added`);
    }
  }
}

function diffInputFields(
  typeName: string,
  before: Record<string, GraphQLInputField>,
  after: Record<string, GraphQLInputField>,
  add: AddChange,
): void {
  for (const [fieldName, field] of Object.entries(before)) {
    const coordinate = `${typeName}.${fieldName}`;
    const now = after[fieldName];
    if (!now) {
      add('breaking', 'INPUT_FIELD_REMOVED', coordinate, `Input field ${coordinate} was removed`, [coordinate]);
      continue;
    }
    diffInputValue(typeName, coordinate, field, now, 'INPUT_FIELD_TYPE_CHANGED', 'INPUT_FIELD_DEFAULT_CHANGED', add);
  }
  for (const [fieldName, field] of Object.entries(after)) {
    if (before[fieldName]) continue;
    const coordinate = `${typeName}.${fieldName}`;
    if (isRequired(field)) {
      add(
        'breaking',
        'REQUIRED_INPUT_FIELD_ADDED',
        coordinate,
        `Required input field ${coordinate} was added; existing inputs lack it`,
        [typeName],
      );
    } else {
      add('safe', 'OPTIONAL_INPUT_FIELD_ADDED', coordinate, `Optional input field ${coordinate} was added`);
    }
  }
}

/**
 * Shared by arguments and input fields. `owner` is who must supply the value (the field or the input type):
 * when a value becomes required, every user of the owner is affected, not only those who already pass it.
 */
function diffInputValue(
  owner: string,
  coordinate: string,
  before: GraphQLArgument | GraphQLInputField,
  after: GraphQLArgument | GraphQLInputField,
  typeCode: 'ARG_TYPE_CHANGED' | 'INPUT_FIELD_TYPE_CHANGED',
  defaultCode: 'ARG_DEFAULT_CHANGED' | 'INPUT_FIELD_DEFAULT_CHANGED',
  add: AddChange,
): void {
  if (String(before.type) !== String(after.type)) {
    const safe = isSafeInputTypeChange(before.type, after.type);
    const becameRequired = !isRequired(before) && isRequired(after);
    let why = 'values clients send today may be rejected';
    if (safe) why = 'every value clients send today is still accepted';
    else if (becameRequired) why = 'clients that omit it or send null are rejected';
    add(
      safe ? 'safe' : 'breaking',
      typeCode,
      coordinate,
      `${coordinate} changed type from ${String(before.type)} to ${String(after.type)}; ${why}`,
      safe ? [] : [becameRequired ? owner : coordinate],
    );
  }
  const beforeDefault = printDefault(before);
  const afterDefault = printDefault(after);
  if (beforeDefault !== afterDefault) {
    add(
      'dangerous',
      defaultCode,
      coordinate,
      `Default of ${coordinate} changed from ${beforeDefault ?? 'none'} to ${afterDefault ?? 'none'}; clients that omit it get a different result`,
      [owner],
    );
  }
  diffDescription(coordinate, before.description, after.description, add);
  diffDeprecation(coordinate, before.deprecationReason, after.deprecationReason, add, [coordinate]);
}

function diffDirectives(before: readonly GraphQLDirective[], after: readonly GraphQLDirective[], add: AddChange): void {
  const now = new Map(after.map((directive) => [directive.name, directive]));
  for (const directive of before) {
    const coordinate = `@${directive.name}`;
    const current = now.get(directive.name);
    if (!current) {
      add('breaking', 'DIRECTIVE_REMOVED', coordinate, `Directive ${coordinate} was removed`, [coordinate]);
      continue;
    }
    if (isSpecifiedDirective(directive)) continue;
    for (const location of directive.locations) {
      if (!current.locations.includes(location)) {
        add(
          'breaking',
          'DIRECTIVE_LOCATION_REMOVED',
          coordinate,
          `${coordinate} can no longer be used on ${location}`,
          [coordinate],
        );
      }
    }
    for (const location of current.locations) {
      if (!directive.locations.includes(location)) {
        add('safe', 'DIRECTIVE_LOCATION_ADDED', coordinate, `${coordinate} can now be used on ${location}`);
      }
    }
    diffArguments(coordinate, directive.args, current.args, add);
  }
  const previous = new Set(before.map((directive) => directive.name));
  for (const directive of after) {
    if (!previous.has(directive.name))
      add('safe', 'DIRECTIVE_ADDED', `@${directive.name}`, `Directive @${directive.name} was added`);
  }
}

function diffDescription(
  coordinate: string,
  before: string | null | undefined,
  after: string | null | undefined,
  add: AddChange,
): void {
  if ((before ?? '') !== (after ?? ''))
    add('safe', 'DESCRIPTION_CHANGED', coordinate, `Description of ${coordinate} changed`);
}

function diffDeprecation(
  coordinate: string,
  before: string | null | undefined,
  after: string | null | undefined,
  add: AddChange,
  affects: string[],
): void {
  if (before == null && after != null) {
    add('safe', 'DEPRECATION_ADDED', coordinate, `${coordinate} was deprecated: ${after}`, affects);
  } else if (before != null && after == null) {
    add('safe', 'DEPRECATION_REMOVED', coordinate, `${coordinate} is no longer deprecated`);
  } else if (before != null && after != null && before !== after) {
    add('safe', 'DEPRECATION_REASON_CHANGED', coordinate, `Deprecation reason of ${coordinate} is now: ${after}`);
  }
}

const isRequired = (value: GraphQLArgument | GraphQLInputField): boolean =>
  isNonNullType(value.type) && value.defaultValue === undefined;

function printDefault(value: GraphQLArgument | GraphQLInputField): string | undefined {
  if (value.defaultValue === undefined) return undefined;
  const ast = astFromValue(value.defaultValue, value.type);
  return ast ? print(ast) : String(value.defaultValue);
}

/**
 * An output type may only get stricter: a client that handled `[Int]` handles `[Int!]!`, but not the reverse,
 * and not a different named type or list depth.
 */
function isSafeOutputTypeChange(before: GraphQLType, after: GraphQLType): boolean {
  if (isNonNullType(before)) return isNonNullType(after) && isSafeOutputTypeChange(before.ofType, after.ofType);
  if (isNonNullType(after)) return isSafeOutputTypeChange(before, after.ofType);
  if (isListType(before)) return isListType(after) && isSafeOutputTypeChange(before.ofType, after.ofType);
  return !isListType(after) && before.name === after.name;
}

/** An input type may only get looser: what was accepted must still be accepted, so `Int!` -> `Int` is fine. */
function isSafeInputTypeChange(before: GraphQLInputType, after: GraphQLInputType): boolean {
  if (isNonNullType(before)) {
    const inner = isNonNullType(after) ? after.ofType : after;
    return isSafeInputTypeChange(before.ofType, inner);
  }
  if (isNonNullType(after)) return false;
  if (isListType(before)) return isListType(after) && isSafeInputTypeChange(before.ofType, after.ofType);
  return !isListType(after) && before.name === after.name;
}
