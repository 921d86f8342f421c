import {
  ERRORS,
  isSubtype,
  type DeferDirectiveArgs,
  type FieldSelection,
  type FragmentSelection,
  type NamedType,
  type Operation,
  type Schema,
  type SelectionSet,
  type Type,
} from '@apollo/federation-internals';
import type { GraphQLError } from 'graphql';

/**
 * The last step of executing a query plan: the subgraphs' merged answers, which carry extra fields (keys,
 * `__typename`, what other fetches needed), become exactly the response the client asked for, in its field
 * order, with @skip/@include applied, invalid leaf values and bad `__typename`s reported, and nulls bubbled up
 * to the nearest nullable field.
 *
 * The rules are Apollo Gateway's own (`computeResponse`, the same messages and the same bubbling); what
 * differs is the cost. Apollo walks its operation model on every request, asking the schema about each type;
 * here the operation is compiled once per plan into plain steps whose type questions are answered already.
 */

type Condition = { skip?: boolean | string; include?: boolean | string } | undefined;

type TypeStep =
  | { kind: 'nonNull'; of: TypeStep; display: string }
  | { kind: 'list'; of: TypeStep; display: string }
  | { kind: 'composite'; name: string; display: string }
  | { kind: 'leaf'; valid: (value: unknown) => boolean; display: string };

type Step =
  | { kind: 'typename'; responseName: string; condition: Condition }
  | { kind: 'field'; responseName: string; condition: Condition; type: TypeStep; steps: Step[] | undefined }
  | {
      kind: 'fragment';
      condition: Condition;
      typeCondition: string | undefined;
      appliesTo: ReadonlySet<string> | undefined;
      steps: Step[];
      /** The fragment's @defer, after the operation's defers were normalised (every one labelled). */
      defer: DeferMark | undefined;
    };

/** A deferred fragment: its label, and the variable that turns it on when it is conditional. */
interface DeferMark {
  label: string;
  ifVariable: string | undefined;
}

export interface CompiledShape {
  steps: Step[];
  rootType: string;
  /** Variable defaults, under the request's own values. */
  defaults: Record<string, unknown>;
  /** Every type name of the API schema, and which of them are object or composite types. */
  types: ReadonlySet<string>;
  objectTypes: ReadonlySet<string>;
  compositeTypes: ReadonlySet<string>;
}

/** Why an operation is left to Apollo's executor, or undefined when it can be compiled. */
export function unsupportedReason(operation: Operation): 'introspection' | 'reserved_response_name' | undefined {
  let reason: 'introspection' | 'reserved_response_name' | undefined;
  const visit = (selectionSet: SelectionSet) => {
    for (const selection of selectionSet.selections()) {
      if (reason) return;
      if (selection.kind === 'FieldSelection') {
        const field = selection.element;
        if (field.definition.isSchemaIntrospectionField()) reason = 'introspection';
        else if (field.responseName() in Object.prototype) reason = 'reserved_response_name';
      }
      if (selection.selectionSet) visit(selection.selectionSet);
    }
  };
  visit(operation.selectionSet);
  return reason;
}

interface SchemaFacts {
  types: ReadonlySet<string>;
  objectTypes: ReadonlySet<string>;
  compositeTypes: ReadonlySet<string>;
  subtypesOf(condition: NamedType): ReadonlySet<string>;
}

/** What compiled shapes ask of a schema, computed once per schema and shared by every operation on it. */
const SCHEMA_FACTS = new WeakMap<Schema, SchemaFacts>();
function factsOf(schema: Schema): SchemaFacts {
  let facts = SCHEMA_FACTS.get(schema);
  if (facts) return facts;
  const types = new Set<string>();
  const objectTypes = new Set<string>();
  const compositeTypes = new Set<string>();
  const composites: NamedType[] = [];
  for (const type of schema.allTypes()) {
    types.add(type.name);
    if (type.kind === 'ObjectType') objectTypes.add(type.name);
    if (type.kind === 'ObjectType' || type.kind === 'InterfaceType' || type.kind === 'UnionType') {
      compositeTypes.add(type.name);
      composites.push(type);
    }
  }
  // Bounded by the schema's composite types.
  const appliesTo = new Map<string, Set<string>>();
  const subtypesOf = (condition: NamedType): Set<string> => {
    let set = appliesTo.get(condition.name);
    if (!set) {
      set = new Set(
        composites.filter((candidate) => isSubtype(condition, candidate)).map((candidate) => candidate.name),
      );
      appliesTo.set(condition.name, set);
    }
    return set;
  };
  facts = { types, objectTypes, compositeTypes, subtypesOf };
  SCHEMA_FACTS.set(schema, facts);
  return facts;
}

export function compileShape(operation: Operation): CompiledShape {
  const schema = operation.schema();
  const { types, objectTypes, compositeTypes, subtypesOf } = factsOf(schema);
  const compileSelectionSet = (selectionSet: SelectionSet): Step[] =>
    selectionSet.selections().map((selection): Step => {
      const condition = conditionOf(selection, schema);
      if (selection.kind === 'FieldSelection') return compileField(selection, condition);
      const fragment = (selection as FragmentSelection).element;
      const typeCondition = fragment.typeCondition;
      return {
        kind: 'fragment',
        condition,
        typeCondition: typeCondition?.name,
        appliesTo: typeCondition ? subtypesOf(typeCondition) : undefined,
        steps: compileSelectionSet(selection.selectionSet!),
        defer: deferMarkOf(fragment.deferDirectiveArgs()),
      };
    });
  const compileField = (selection: FieldSelection, condition: Condition): Step => {
    const field = selection.element;
    if (field.name === '__typename') return { kind: 'typename', responseName: field.responseName(), condition };
    return {
      kind: 'field',
      responseName: field.responseName(),
      condition,
      type: compileType(field.definition.type!, schema),
      steps: selection.selectionSet ? compileSelectionSet(selection.selectionSet) : undefined,
    };
  };
  return {
    steps: compileSelectionSet(operation.selectionSet),
    rootType: schema.schemaDefinition.rootType(operation.rootKind)!.name,
    defaults: operation.collectDefaultedVariableValues(),
    types,
    objectTypes,
    compositeTypes,
  };
}

function deferMarkOf(args: DeferDirectiveArgs | undefined): DeferMark | undefined {
  // Unlabelled defers were given labels by `withNormalizedDefer` before compiling; a literal `if` was resolved.
  if (!args?.label) return undefined;
  return { label: args.label, ifVariable: typeof args.if === 'object' ? args.if.name : undefined };
}

function conditionOf(selection: FieldSelection | FragmentSelection, schema: Schema): Condition {
  const element = selection.element;
  const skip = element.appliedDirectivesOf(schema.skipDirective())[0];
  const include = element.appliedDirectivesOf(schema.includeDirective())[0];
  if (!skip && !include) return undefined;
  const value = (directive: typeof skip) => {
    const argument = directive!.arguments().if as unknown;
    if (argument !== null && typeof argument === 'object' && 'name' in argument)
      return String((argument as { name: string }).name);
    return Boolean(argument);
  };
  return { ...(skip ? { skip: value(skip) } : {}), ...(include ? { include: value(include) } : {}) };
}

const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

function compileType(type: Type, schema: Schema): TypeStep {
  const display = type.toString();
  if (type.kind === 'NonNullType') return { kind: 'nonNull', of: compileType(type.ofType, schema), display };
  if (type.kind === 'ListType') return { kind: 'list', of: compileType(type.ofType, schema), display };
  if (type.kind === 'ObjectType' || type.kind === 'InterfaceType' || type.kind === 'UnionType')
    return { kind: 'composite', name: type.name, display };
  // Leaf values as Apollo's isValidLeafValue judges them.
  if (type.kind === 'EnumType') {
    const values = new Set(type.values.map((value) => value.name));
    return { kind: 'leaf', display, valid: (value) => typeof value === 'string' && values.has(value) };
  }
  if (type.kind !== 'ScalarType') return { kind: 'leaf', display, valid: () => false };
  switch (type.name) {
    case 'Boolean':
      return { kind: 'leaf', display, valid: (value) => typeof value === 'boolean' };
    case 'Int':
      return {
        kind: 'leaf',
        display,
        valid: (value) => typeof value === 'number' && Number.isFinite(value) && INTEGER.test(String(value)),
      };
    case 'ID':
      return {
        kind: 'leaf',
        display,
        valid: (value) =>
          typeof value === 'string' ||
          (typeof value === 'number' && Number.isFinite(value) && INTEGER.test(String(value))),
      };
    case 'Float':
      return { kind: 'leaf', display, valid: (value) => typeof value === 'number' && Number.isFinite(value) };
    case 'String':
      return { kind: 'leaf', display, valid: (value) => typeof value === 'string' };
    default:
      // Custom scalars: anything the subgraph sends.
      return { kind: 'leaf', display, valid: () => true };
  }
}

interface Run {
  shape: CompiledShape;
  variables: Record<string, unknown>;
  errors: GraphQLError[];
  /** Set by `update`: the value is null where it must not be (bubble up), and an error was already reported. */
  invalid: boolean;
  hasErrors: boolean;
  /** Labels of the deferred fragments delivered later: left out of this payload. */
  deferred: ReadonlySet<string> | undefined;
}

/** The client's response from the merged subgraph data, and the value-completion errors found on the way. */
export function shapeResponse(
  shape: CompiledShape,
  input: Record<string, unknown>,
  variables: Record<string, unknown> | undefined,
  deferred?: ReadonlySet<string>,
): { data: Record<string, unknown> | null; errors: GraphQLError[] } {
  const run = newRun(shape, variables, deferred);
  const data: Record<string, unknown> = {};
  const ok = applySteps(run, shape.steps, input, data, [], shape.rootType);
  return { data: ok ? data : null, errors: run.errors };
}

function newRun(
  shape: CompiledShape,
  variables: Record<string, unknown> | undefined,
  deferred: ReadonlySet<string> | undefined,
): Run {
  return {
    shape,
    variables: variables ? { ...shape.defaults, ...variables } : shape.defaults,
    errors: [],
    invalid: false,
    hasErrors: false,
    deferred,
  };
}

/** One object of a deferred fragment's payload: where it goes in the response, and its fields. */
export interface DeferredItem {
  path: (string | number)[];
  data: Record<string, unknown> | null;
}

/**
 * A deferred fragment's payload: one item per object the fragment applies to (a fragment inside a list applies
 * to each element), each shaped to the fragment's own selection, without the fragments deferred inside it
 * (`deferred`). A non-null field that is null in a fragment makes that item's data null, not its parent's: the
 * parent was delivered already.
 */
export function shapeDeferred(
  shape: CompiledShape,
  input: Record<string, unknown>,
  variables: Record<string, unknown> | undefined,
  label: string,
  deferred: ReadonlySet<string>,
): { items: DeferredItem[]; errors: GraphQLError[] } {
  const run = newRun(shape, variables, deferred);
  const found: { path: (string | number)[]; input: Record<string, unknown>; steps: Step[]; type: string }[] = [];
  findFragment(run, shape.steps, input, [], shape.rootType, label, found);
  const items = found.map(({ path, input: object, steps, type }): DeferredItem => {
    const data: Record<string, unknown> = {};
    return { path, data: applySteps(run, steps, object, data, [...path], type) ? data : null };
  });
  return { items, errors: run.errors };
}

/** Every object where the fragment labelled `label` applies, walking the merged data as the client's response. */
function findFragment(
  run: Run,
  steps: Step[],
  input: Record<string, unknown>,
  path: (string | number)[],
  parentType: string,
  label: string,
  found: { path: (string | number)[]; input: Record<string, unknown>; steps: Step[]; type: string }[],
): void {
  for (const step of steps) {
    if (step.condition && skipped(run, step.condition)) continue;
    if (step.kind === 'typename') continue;
    if (step.kind === 'fragment') {
      if (!fragmentApplies(run, step, input, parentType)) continue;
      const type = step.typeCondition ?? parentType;
      if (step.defer?.label === label) found.push({ path: [...path], input, steps: step.steps, type });
      else findFragment(run, step.steps, input, path, type, label, found);
      continue;
    }
    if (!step.steps) continue;
    const visit = (value: unknown, at: (string | number)[]) => {
      if (value === null || typeof value !== 'object') return;
      if (Array.isArray(value)) {
        value.forEach((element, index) => visit(element, [...at, index]));
        return;
      }
      const record = value as Record<string, unknown>;
      const typename = typeof record.__typename === 'string' ? record.__typename : namedType(step.type);
      findFragment(run, step.steps!, record, at, typename, label, found);
    };
    visit(input[step.responseName], [...path, step.responseName]);
  }
}

function namedType(type: TypeStep): string {
  return type.kind === 'nonNull' || type.kind === 'list'
    ? namedType(type.of)
    : type.kind === 'composite'
      ? type.name
      : '';
}

function fragmentApplies(
  run: Run,
  step: Extract<Step, { kind: 'fragment' }>,
  input: Record<string, unknown>,
  parentType: string,
): boolean {
  const typename = input.__typename;
  if (typename && typeof typename !== 'string')
    throw new Error(`Got unexpected value for __typename: ${String(typename)}`);
  return (
    !step.appliesTo ||
    (typename
      ? run.shape.types.has(typename as string) && step.appliesTo.has(typename as string)
      : step.appliesTo.has(parentType))
  );
}

function skipped(run: Run, condition: Condition): boolean {
  if (!condition) return false;
  return (
    (condition.skip !== undefined && conditionValue(run, condition.skip)) ||
    (condition.include !== undefined && !conditionValue(run, condition.include))
  );
}

function conditionValue(run: Run, argument: boolean | string): boolean {
  if (typeof argument === 'boolean') return argument;
  const variable = run.variables[argument];
  if (typeof variable !== 'boolean') {
    throw new Error(`Unexpected value ${String(variable)} for variable $${argument} of @skip/@include`);
  }
  return variable;
}

/** Returns false when a null must bubble up past this object. */
function applySteps(
  run: Run,
  steps: Step[],
  input: Record<string, unknown>,
  output: Record<string, unknown>,
  path: (string | number)[],
  parentType: string,
): boolean {
  for (const step of steps) {
    if (step.condition && skipped(run, step.condition)) continue;
    if (step.kind === 'fragment') {
      if (step.defer && run.deferred?.has(step.defer.label)) continue;
      if (
        fragmentApplies(run, step, input, parentType) &&
        !applySteps(run, step.steps, input, output, path, step.typeCondition ?? parentType)
      )
        return false;
      continue;
    }
    const responseName = step.responseName;
    const outputValue = output[responseName];
    let inputValue = input[responseName];
    // JSON never holds functions: one found here is Object.prototype's, not the subgraph's.
    if (inputValue === undefined || typeof inputValue === 'function') inputValue = null;
    if (step.kind === 'typename') {
      if (outputValue === undefined) {
        if (inputValue === null && responseName !== '__typename') inputValue = input.__typename ?? null;
        const type = typeof inputValue === 'string' && run.shape.types.has(inputValue) ? inputValue : parentType;
        if (!run.shape.objectTypes.has(type)) return false;
        output[responseName] = type;
      }
      continue;
    }
    path.push(responseName);
    output[responseName] = update(run, outputValue, step.type, inputValue, step.steps, path, parentType);
    path.pop();
    if (run.invalid) return false;
  }
  return true;
}

function describe(path: (string | number)[], type: TypeStep, parentType: string): string {
  const element = path[path.length - 1];
  return typeof element === 'string'
    ? `field ${parentType}.${element}`
    : `array element of type ${type.display} at index ${element}`;
}

function update(
  run: Run,
  outputValue: unknown,
  type: TypeStep,
  inputValue: unknown,
  steps: Step[] | undefined,
  path: (string | number)[],
  parentType: string,
): unknown {
  run.invalid = false;
  run.hasErrors = false;
  if (outputValue === null || (outputValue !== undefined && !steps)) return outputValue;
  switch (type.kind) {
    case 'nonNull': {
      const updated = update(run, outputValue, type.of, inputValue, steps, path, parentType);
      if (updated === null) {
        if (!run.hasErrors) {
          run.errors.push(
            ERRORS.INVALID_GRAPHQL.err(`Cannot return null for non-nullable ${describe(path, type.of, parentType)}.`, {
              path: [...path],
            }),
          );
        }
        run.invalid = true;
        run.hasErrors = true;
        return null;
      }
      run.invalid = false;
      run.hasErrors = false;
      return updated;
    }
    case 'list': {
      if (inputValue === null) return null;
      if (!Array.isArray(inputValue))
        throw new Error(
          `Invalid non-list value ${String(inputValue)} returned by subgraph for list type ${type.display}`,
        );
      if (outputValue !== undefined && !Array.isArray(outputValue))
        throw new Error(
          `Invalid non-list value ${String(outputValue)} returned by subgraph for list type ${type.display}`,
        );
      const existing = outputValue as unknown[] | undefined;
      if (existing && existing.length !== inputValue.length)
        throw new Error(`[${inputValue.length}] !== [${existing.length}] list lengths`);
      const updated = new Array<unknown>(inputValue.length);
      let nullify = false;
      let hasErrors = false;
      for (let index = 0; index < inputValue.length; index++) {
        path.push(index);
        updated[index] = update(run, existing?.[index], type.of, inputValue[index], steps, path, parentType);
        path.pop();
        nullify ||= run.invalid;
        hasErrors ||= run.hasErrors;
      }
      run.invalid = false;
      run.hasErrors = hasErrors;
      return nullify ? null : updated;
    }
    case 'composite': {
      if (inputValue === null) return null;
      if (!steps) throw new Error(`Invalid empty selection set for composite type ${type.display}`);
      if (typeof inputValue !== 'object')
        throw new Error(
          `Invalid non-object value ${String(inputValue)} returned by subgraph for composite type ${type.display}`,
        );
      const record = inputValue as Record<string, unknown>;
      const typename = record.__typename;
      if (typename !== undefined && typeof typename !== 'string')
        throw new Error(`Invalid non-string value ${String(typename)} for __typename at ${path.join('.')}`);
      let objectType = type.name;
      if (typename) {
        if (!run.shape.compositeTypes.has(typename)) {
          run.errors.push(
            ERRORS.INVALID_GRAPHQL.err(`Invalid __typename found for object at ${describe(path, type, parentType)}.`, {
              path: [...path],
            }),
          );
          run.invalid = false;
          run.hasErrors = true;
          return null;
        }
        objectType = typename;
      }
      const object = outputValue === undefined ? {} : (outputValue as Record<string, unknown>);
      const ok = applySteps(run, steps, record, object, path, objectType);
      run.invalid = false;
      run.hasErrors = !ok;
      return ok ? object : null;
    }
    case 'leaf': {
      if (inputValue === null) return null;
      if (outputValue !== undefined) throw new Error(`Expected output to be undefined for type ${type.display}`);
      const valid = type.valid(inputValue);
      if (!valid)
        run.errors.push(
          ERRORS.INVALID_GRAPHQL.err(`Invalid value found for ${describe(path, type, parentType)}.`, {
            path: [...path],
          }),
        );
      run.hasErrors = !valid;
      return valid ? inputValue : null;
    }
  }
}
