/**
 * Demand control: the static cost of an operation, computed from the supergraph's `@cost` and `@listSize`
 * before the operation is planned, so that an operation over the maximum is refused without touching a subgraph.
 *
 * The rules are those of the IBM GraphQL Cost Directives specification (https://ibm.github.io/graphql-specs/
 * cost-spec.html, "static query analysis") as Apollo Router's demand control applies them
 * (https://www.apollographql.com/docs/graphos/routing/security/demand-control), with one deliberate difference:
 *
 * - **Field cost.** A field returning an object, interface or union costs 1; a scalar or enum field costs 0.
 *   `@cost(weight:)` on the field overrides that, else `@cost` on the type it returns (object, scalar, enum).
 *   A field's cost is its own weight plus the cost of its selections.
 * - **Lists.** A field whose type is a list multiplies that cost by the list's estimated size: the value of the
 *   `@listSize(slicingArguments:)` arguments (a literal, a variable, the variable's default, or the argument's
 *   default in the schema; the largest when several are given), else `@listSize(assumedSize:)`, else
 *   `defaultListSize`. `sizedFields` hand that size to the named list fields of the returned object instead (a
 *   connection's `edges` or `nodes`), so `users(first: 5) { edges { node } }` counts 5 users, not 10. Nested
 *   lists multiply: 5 users with `orders(first: 3)` are 15 orders. A list of lists counts one size, as in
 *   Apollo Router.
 *   `requireOneSlicingArgument` is not enforced: a static estimate never refuses, it only counts.
 * - **Arguments.** An argument given in the operation adds its `@cost` weight (or its type's); an input object
 *   value costs 1 (or its weight) plus its fields, a list value the sum of its items (Apollo Router). Argument
 *   costs are counted once per field instance, not multiplied by the field's own list size.
 * - **Mutations.** Every root mutation field adds 10. The IBM specification and Apollo Router add 10 once per
 *   mutation operation; we add it per root field because each one is a separate write, so 500 aliased
 *   `createUser` fields cost at least 5,000 rather than 1,010.
 * - **`@requires`.** A field that `@requires` others (read from the supergraph's `@join__field`) also costs
 *   what the required selection costs, as in Apollo Router: the planner fetches it even when the client did
 *   not ask for it.
 * - **Free.** `__typename`, introspection (`__schema`, `__type`) and anything under it cost 0, as do fields and
 *   types the supergraph does not know: validation, which has not run yet, reports those.
 * - **Conditions.** A field, fragment spread or inline fragment excluded by `@skip`/`@include` (literal or
 *   variable) costs 0. Named fragments are expanded where they are spread; a fragment already being expanded
 *   (a cycle, which validation would reject) costs 0 there, and each fragment is costed once per context, so
 *   neither cycles nor fragments that spread others many times can make the walk exponential.
 *
 * Everything that depends only on the schema (every field's weight, list size rule, argument weights and
 * `@requires` cost) is computed once per supergraph in `createCostModel`; `costOf` is one walk over the
 * operation with map lookups.
 */
import {
  Kind,
  buildASTSchema,
  getNamedType,
  isCompositeType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  parse,
  valueFromASTUntyped,
  type ConstDirectiveNode,
  type DirectiveNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type GraphQLType,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';

export interface DemandControlOptions {
  /** Operations whose static cost exceeds this are rejected before planning. Default 20000 (`COST_MAX`). */
  maxCost: number;
  /**
   * Estimated size of a list field with no `@listSize` slicing argument or `assumedSize`.
   * Default 10 (`COST_DEFAULT_LIST_SIZE`).
   */
  defaultListSize: number;
}

export const DEFAULT_DEMAND_CONTROL: Readonly<DemandControlOptions> = Object.freeze({
  maxCost: 20_000,
  defaultListSize: 10,
});

export interface CostModel {
  /**
   * The static cost of the operation `operationName` (or the document's only operation) with these variables.
   * 0 when there is no such operation: GraphQL validation reports that.
   */
  costOf(
    document: DocumentNode,
    operationName: string | undefined,
    variables: Record<string, unknown> | undefined,
  ): number;
}

const MUTATION_FIELD_COST = 10;
const INPUT_OBJECT_COST = 1;
/** Input values nested deeper than this (recursive input types) add nothing more; it bounds the recursion. */
const MAX_INPUT_DEPTH = 64;
const COST_SPEC = 'https://specs.apollo.dev/cost/';
const FEDERATION_SPEC = 'https://specs.apollo.dev/federation/';
const JOIN_SPEC = 'https://specs.apollo.dev/join/';

interface ListSizeRule {
  readonly assumedSize: number | undefined;
  /**
   * Argument names. IBM's nested `input.field` paths are not read: federation composition rejects them
   * ("Slicing argument ... is not an argument of ...").
   */
  readonly slicingArguments: readonly string[];
  /** The schema's default for each slicing argument that has one (by argument name). */
  readonly argumentDefaults: ReadonlyMap<string, unknown>;
  readonly sizedFields: ReadonlySet<string> | undefined;
}

interface InputWeight {
  readonly typeName: string;
  readonly isInputObject: boolean;
  /** `@cost` on the argument or input field, else on its type; undefined when neither has one. */
  readonly weight: number | undefined;
}

interface FieldWeight {
  readonly typeName: string;
  readonly isList: boolean;
  /** What one instance costs before its selections: `@cost`, else 1 for a composite type, 0 for a leaf. */
  readonly weight: number;
  readonly listSize: ListSizeRule | undefined;
  readonly arguments: ReadonlyMap<string, InputWeight>;
  /** False when no argument of this field can cost anything, so the walk skips its argument values. */
  readonly argumentsMayCost: boolean;
  /** The `@requires` selection, parsed; its cost is filled in once every field is known. */
  readonly requires: SelectionSetNode | undefined;
  requiresCost: number;
}

/** A `@listSize` with `sizedFields` hands its size to those child fields. */
interface Sizing {
  readonly size: number;
  readonly fields: ReadonlySet<string>;
}

interface Weights {
  readonly fields: ReadonlyMap<string, ReadonlyMap<string, FieldWeight>>;
  readonly inputFields: ReadonlyMap<string, ReadonlyMap<string, InputWeight>>;
  readonly queryType: string | undefined;
  readonly mutationType: string | undefined;
  readonly subscriptionType: string | undefined;
  readonly defaultListSize: number;
}

/**
 * Reads the supergraph once: every field's weight and list-size rule, every argument's and input field's weight.
 * Throws when the SDL does not parse.
 */
export function createCostModel(supergraphSdl: string, options: { defaultListSize: number }): CostModel {
  const schema = buildASTSchema(parse(supergraphSdl, { noLocation: true }), { assumeValidSDL: true });
  const weights = readWeights(schema, options.defaultListSize);
  return {
    costOf(document, operationName, variables) {
      return new CostWalk(weights, document, variables, true).operationCost(operationName);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The schema side, once per supergraph.

interface DirectiveNames {
  readonly cost: ReadonlySet<string>;
  readonly listSize: ReadonlySet<string>;
  readonly joinField: ReadonlySet<string>;
}

function readWeights(schema: GraphQLSchema, defaultListSize: number): Weights {
  const names = directiveNames(schema);
  const typeWeight = (type: GraphQLNamedType): number | undefined => costWeight(directivesOf(type), names);

  const inputWeight = (input: GraphQLArgument | GraphQLInputField): InputWeight => {
    const type = getNamedType(input.type);
    return {
      typeName: type.name,
      isInputObject: isInputObjectType(type),
      weight: costWeight(input.astNode?.directives, names) ?? typeWeight(type),
    };
  };

  const fields = new Map<string, Map<string, FieldWeight>>();
  const inputFields = new Map<string, Map<string, InputWeight>>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__')) continue;
    if (isInputObjectType(type)) {
      inputFields.set(
        type.name,
        new Map(Object.values(type.getFields()).map((field) => [field.name, inputWeight(field)])),
      );
      continue;
    }
    if (!isObjectType(type) && !isInterfaceType(type)) continue;
    const byName = new Map<string, FieldWeight>();
    for (const field of Object.values(type.getFields())) {
      const returned = getNamedType(field.type);
      const fieldDirectives = field.astNode?.directives;
      const argumentWeights = new Map(field.args.map((argument) => [argument.name, inputWeight(argument)]));
      byName.set(field.name, {
        typeName: returned.name,
        isList: isListOf(field.type),
        weight: costWeight(fieldDirectives, names) ?? typeWeight(returned) ?? (isCompositeType(returned) ? 1 : 0),
        listSize: listSizeRule(field, names),
        arguments: argumentWeights,
        argumentsMayCost: [...argumentWeights.values()].some(
          (input) => input.weight !== undefined || input.isInputObject,
        ),
        requires: requiresSelection(fieldDirectives, names),
        requiresCost: 0,
      });
    }
    fields.set(type.name, byName);
  }

  const weights: Weights = {
    fields,
    inputFields,
    queryType: schema.getQueryType()?.name,
    mutationType: schema.getMutationType()?.name,
    subscriptionType: schema.getSubscriptionType()?.name,
    defaultListSize,
  };
  // A required selection is costed without the `@requires` of the fields it names, so the order in which
  // fields are filled in does not matter and a field that requires itself cannot recurse.
  const requiresWalk = new CostWalk(weights, { kind: Kind.DOCUMENT, definitions: [] }, undefined, false);
  for (const [typeName, byName] of fields) {
    for (const field of byName.values()) {
      if (field.requires)
        field.requiresCost = requiresWalk.selectionSetCost(field.requires, typeName, undefined, false);
    }
  }
  return weights;
}

/**
 * The names the cost and join directives go by in this supergraph. Composition links the cost spec as
 * `@link(url: "https://specs.apollo.dev/cost/v0.1", import: [...])`; a subgraph-style schema gets them from the
 * federation spec (`@federation__cost` unless imported). Imported elements take their `as` name; the rest are
 * `namespace__element`, except the element named like the spec (`@cost` of the cost spec), which is
 * `@namespace`. A schema that links neither spec uses the plain names.
 */
function directiveNames(schema: GraphQLSchema): DirectiveNames {
  const cost = new Set<string>();
  const listSize = new Set<string>();
  const joinField = new Set<string>();
  for (const definition of [schema.astNode, ...schema.extensionASTNodes]) {
    for (const directive of definition?.directives ?? []) {
      const url = stringArgument(directive, 'url');
      if (url === undefined) continue;
      if (url.startsWith(COST_SPEC) || url.startsWith(FEDERATION_SPEC)) {
        cost.add(linkedName(directive, url, 'cost'));
        listSize.add(linkedName(directive, url, 'listSize'));
      } else if (url.startsWith(JOIN_SPEC)) {
        joinField.add(linkedName(directive, url, 'field'));
      }
    }
  }
  if (cost.size === 0) cost.add('cost');
  if (listSize.size === 0) listSize.add('listSize');
  if (joinField.size === 0) joinField.add('join__field');
  return { cost, listSize, joinField };
}

function linkedName(link: ConstDirectiveNode, url: string, element: string): string {
  const specName = url.split('/').at(-2) ?? '';
  const namespace = stringArgument(link, 'as') ?? specName;
  const imports = link.arguments?.find((argument) => argument.name.value === 'import')?.value;
  if (imports?.kind === Kind.LIST) {
    for (const entry of imports.values) {
      const imported = valueFromASTUntyped(entry) as unknown;
      if (imported === `@${element}`) return element;
      if (isRecord(imported) && imported.name === `@${element}`) {
        return typeof imported.as === 'string' ? imported.as.replace(/^@/, '') : element;
      }
    }
  }
  return element === specName ? namespace : `${namespace}__${element}`;
}

function directivesOf(type: GraphQLNamedType): readonly ConstDirectiveNode[] {
  const extensions: readonly { readonly directives?: readonly ConstDirectiveNode[] }[] = type.extensionASTNodes;
  return [...(type.astNode?.directives ?? []), ...extensions.flatMap((extension) => extension.directives ?? [])];
}

function costWeight(directives: readonly ConstDirectiveNode[] | undefined, names: DirectiveNames): number | undefined {
  for (const directive of directives ?? []) {
    if (!names.cost.has(directive.name.value)) continue;
    const weight = directive.arguments?.find((argument) => argument.name.value === 'weight')?.value;
    if (weight?.kind === Kind.INT) return Number(weight.value);
    if (weight?.kind === Kind.STRING || weight?.kind === Kind.FLOAT) {
      // The IBM draft spells weights as strings ("2.0"); the Apollo spec as Int.
      const parsed = Number(weight.value);
      if (Number.isFinite(parsed)) return parsed;
    }
  }
  return undefined;
}

function listSizeRule(field: GraphQLField<unknown, unknown>, names: DirectiveNames): ListSizeRule | undefined {
  const directive = field.astNode?.directives?.find((candidate) => names.listSize.has(candidate.name.value));
  if (!directive) return undefined;
  const argument = (name: string) => {
    const value = directive.arguments?.find((candidate) => candidate.name.value === name)?.value;
    return value ? (valueFromASTUntyped(value) as unknown) : undefined;
  };
  const assumedSize = argument('assumedSize');
  const slicing = stringList(argument('slicingArguments'));
  const sizedFields = stringList(argument('sizedFields'));
  const argumentDefaults = new Map<string, unknown>();
  for (const name of slicing) {
    const definition = field.args.find((candidate) => candidate.name === name);
    if (definition?.astNode?.defaultValue) {
      argumentDefaults.set(definition.name, valueFromASTUntyped(definition.astNode.defaultValue));
    }
  }
  return {
    assumedSize:
      typeof assumedSize === 'number' && Number.isInteger(assumedSize) ? Math.max(0, assumedSize) : undefined,
    slicingArguments: slicing,
    argumentDefaults,
    sizedFields: sizedFields.length > 0 ? new Set(sizedFields) : undefined,
  };
}

/** The selection a field `@requires`, from any of its `@join__field(requires:)`; undefined when none parses. */
function requiresSelection(
  directives: readonly ConstDirectiveNode[] | undefined,
  names: DirectiveNames,
): SelectionSetNode | undefined {
  for (const directive of directives ?? []) {
    if (!names.joinField.has(directive.name.value)) continue;
    const fieldSet = stringArgument(directive, 'requires');
    if (fieldSet === undefined) continue;
    try {
      const [definition] = parse(`{ ${fieldSet} }`, { noLocation: true }).definitions;
      if (definition?.kind === Kind.OPERATION_DEFINITION) return definition.selectionSet;
    } catch {
      // Composition validated the field set; one we cannot read costs nothing rather than failing the schema.
    }
  }
  return undefined;
}

function isListOf(type: GraphQLType): boolean {
  return isListType(isNonNullType(type) ? type.ofType : type);
}

function stringArgument(directive: DirectiveNode, name: string): string | undefined {
  const value = directive.arguments?.find((argument) => argument.name.value === name)?.value;
  return value?.kind === Kind.STRING ? value.value : undefined;
}

function stringList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

// ---------------------------------------------------------------------------------------------------------
// The operation side, once per request.

/** Fragment costs are remembered per sizing context; these stand for "no sizing" at the root and below it. */
const AT_MUTATION_ROOT = {};
const UNSIZED = {};

class CostWalk {
  private readonly fragments = new Map<string, FragmentDefinitionNode>();
  private readonly fragmentCosts = new Map<object, Map<string, number>>();
  private readonly expanding = new Set<string>();
  private variableDefaults: ReadonlyMap<string, ValueNode> = new Map();

  constructor(
    private readonly weights: Weights,
    private readonly document: DocumentNode,
    private readonly variables: Record<string, unknown> | undefined,
    private readonly withRequires: boolean,
  ) {}

  operationCost(operationName: string | undefined): number {
    const operation = this.selectOperation(operationName);
    if (!operation) return 0;
    const rootType = {
      query: this.weights.queryType,
      mutation: this.weights.mutationType,
      subscription: this.weights.subscriptionType,
    }[operation.operation];
    if (rootType === undefined) return 0;
    this.variableDefaults = new Map(
      (operation.variableDefinitions ?? []).flatMap((definition) =>
        definition.defaultValue ? [[definition.variable.name.value, definition.defaultValue] as const] : [],
      ),
    );
    if (operation.operation === 'query') {
      const entities = this.entitiesCost(operation.selectionSet);
      if (entities !== undefined) return entities;
    }
    return this.selectionSetCost(operation.selectionSet, rootType, undefined, operation.operation === 'mutation');
  }

  /**
   * A subgraph's `_entities(representations:)` fetch (what the gateway sends; the field is not in the
   * schema's SDL): each representation costs 1 plus its type's selection, so the list is sized by the
   * representations actually sent. Undefined for any other operation.
   */
  private entitiesCost(selectionSet: SelectionSetNode): number | undefined {
    const [field, ...others] = selectionSet.selections;
    if (others.length > 0 || field?.kind !== Kind.FIELD || field.name.value !== '_entities') return undefined;
    const argument = field.arguments?.find((candidate) => candidate.name.value === 'representations');
    const value = argument?.value;
    const representations =
      value?.kind === Kind.VARIABLE ? this.variables?.[value.name.value] : value ? valueFromASTUntyped(value) : [];
    if (!Array.isArray(representations)) return 0;
    const byType = new Map<string, number>();
    for (const representation of representations) {
      const typename = (representation as { __typename?: unknown } | null)?.__typename;
      if (typeof typename === 'string') byType.set(typename, (byType.get(typename) ?? 0) + 1);
    }
    let cost = representations.length;
    for (const selection of field.selectionSet?.selections ?? []) {
      if (selection.kind !== Kind.INLINE_FRAGMENT || !selection.typeCondition) continue;
      const typeName = selection.typeCondition.name.value;
      const count = byType.get(typeName) ?? 0;
      if (count > 0) cost += count * this.selectionSetCost(selection.selectionSet, typeName, undefined, false);
    }
    return cost;
  }

  /** Like GraphQL execution: the named operation, or the only one when no name is given. */
  private selectOperation(operationName: string | undefined): OperationDefinitionNode | undefined {
    let selected: OperationDefinitionNode | undefined;
    let operations = 0;
    for (const definition of this.document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) {
        if (!this.fragments.has(definition.name.value)) this.fragments.set(definition.name.value, definition);
      } else if (definition.kind === Kind.OPERATION_DEFINITION) {
        operations += 1;
        // `== null`: a JSON request may send `operationName: null` for "the only one".
        if (operationName == null ? selected === undefined : definition.name?.value === operationName) {
          selected ??= definition;
        }
      }
    }
    return operationName == null && operations > 1 ? undefined : selected;
  }

  selectionSetCost(
    selectionSet: SelectionSetNode,
    typeName: string,
    sizing: Sizing | undefined,
    mutationRoot: boolean,
  ): number {
    let cost = 0;
    for (const selection of selectionSet.selections) {
      if (this.excluded(selection.directives)) continue;
      switch (selection.kind) {
        case Kind.FIELD:
          cost += this.fieldCost(selection, typeName, sizing, mutationRoot);
          break;
        case Kind.INLINE_FRAGMENT:
          cost += this.selectionSetCost(
            selection.selectionSet,
            selection.typeCondition?.name.value ?? typeName,
            sizing,
            mutationRoot,
          );
          break;
        case Kind.FRAGMENT_SPREAD:
          cost += this.fragmentCost(selection.name.value, sizing, mutationRoot);
          break;
      }
    }
    return cost;
  }

  private fragmentCost(name: string, sizing: Sizing | undefined, mutationRoot: boolean): number {
    const context = sizing ?? (mutationRoot ? AT_MUTATION_ROOT : UNSIZED);
    let known = this.fragmentCosts.get(context);
    const remembered = known?.get(name);
    if (remembered !== undefined) return remembered;
    const fragment = this.fragments.get(name);
    if (!fragment || this.expanding.has(name)) return 0;
    this.expanding.add(name);
    const cost = this.selectionSetCost(fragment.selectionSet, fragment.typeCondition.name.value, sizing, mutationRoot);
    this.expanding.delete(name);
    if (!known) this.fragmentCosts.set(context, (known = new Map()));
    known.set(name, cost);
    return cost;
  }

  private fieldCost(node: FieldNode, typeName: string, sizing: Sizing | undefined, mutationRoot: boolean): number {
    const name = node.name.value;
    if (name.startsWith('__')) return 0;
    const field = this.weights.fields.get(typeName)?.get(name);
    if (!field) return 0;

    const expectedSize = field.listSize ? this.expectedSize(field.listSize, node) : undefined;
    let count = 1;
    if (field.isList) {
      count = sizing?.fields.has(name) ? sizing.size : (expectedSize ?? this.weights.defaultListSize);
    }
    const childSizing =
      field.listSize?.sizedFields && expectedSize !== undefined
        ? { size: expectedSize, fields: field.listSize.sizedFields }
        : undefined;

    let instanceCost = field.weight;
    if (node.selectionSet) instanceCost += this.selectionSetCost(node.selectionSet, field.typeName, childSizing, false);
    let cost = count * instanceCost;
    if (field.argumentsMayCost) cost += this.argumentsCost(node, field);
    if (this.withRequires) cost += field.requiresCost;
    if (mutationRoot) cost += MUTATION_FIELD_COST;
    return cost;
  }

  /** The largest slicing argument given (or defaulted), else the assumed size; undefined when neither is known. */
  private expectedSize(rule: ListSizeRule, node: FieldNode): number | undefined {
    let size: number | undefined;
    for (const argumentName of rule.slicingArguments) {
      let value: unknown = undefined;
      const given = node.arguments?.find((argument) => argument.name.value === argumentName)?.value;
      if (given) value = this.valueOf(given);
      // An argument that is absent, or a variable with neither a value nor a default, takes the schema default.
      if (value === undefined) value = rule.argumentDefaults.get(argumentName);
      if (typeof value === 'number' && Number.isInteger(value)) size = Math.max(size ?? 0, value, 0);
    }
    return size ?? rule.assumedSize;
  }

  private argumentsCost(node: FieldNode, field: FieldWeight): number {
    let cost = 0;
    for (const argument of node.arguments ?? []) {
      const input = field.arguments.get(argument.name.value);
      if (input) cost += this.inputCost(this.valueOf(argument.value), input, 0);
    }
    return cost;
  }

  /** Apollo Router's argument rule: an input object costs 1 plus its fields, a list its items, a leaf its weight. */
  private inputCost(value: unknown, input: InputWeight, depth: number): number {
    if (value === null || value === undefined || depth > MAX_INPUT_DEPTH) return 0;
    if (Array.isArray(value)) {
      let cost = input.weight ?? 0;
      for (const item of value) cost += this.inputCost(item, input, depth + 1);
      return cost;
    }
    if (input.isInputObject && isRecord(value)) {
      let cost = input.weight ?? INPUT_OBJECT_COST;
      const fields = this.weights.inputFields.get(input.typeName);
      for (const [key, fieldValue] of Object.entries(value)) {
        const fieldInput = fields?.get(key);
        if (fieldInput) cost += this.inputCost(fieldValue, fieldInput, depth + 1);
      }
      return cost;
    }
    return input.weight ?? 0;
  }

  /** A literal as a plain value, variables resolved (the request's value, else the operation's default). */
  private valueOf(value: ValueNode): unknown {
    switch (value.kind) {
      case Kind.VARIABLE:
        return this.variable(value.name.value);
      case Kind.INT:
        return Number(value.value);
      case Kind.LIST:
        return value.values.map((item) => this.valueOf(item));
      case Kind.OBJECT:
        return Object.fromEntries(value.fields.map((field) => [field.name.value, this.valueOf(field.value)]));
      default:
        return valueFromASTUntyped(value);
    }
  }

  private variable(name: string): unknown {
    if (this.variables && Object.prototype.hasOwnProperty.call(this.variables, name)) return this.variables[name];
    const defaultValue = this.variableDefaults.get(name);
    return defaultValue ? valueFromASTUntyped(defaultValue) : undefined;
  }

  /** `@skip(if: true)` or `@include(if: false)`; a condition we cannot read (validation will) excludes nothing. */
  private excluded(directives: readonly DirectiveNode[] | undefined): boolean {
    if (!directives || directives.length === 0) return false;
    for (const directive of directives) {
      const name = directive.name.value;
      if (name !== 'skip' && name !== 'include') continue;
      const condition = directive.arguments?.find((argument) => argument.name.value === 'if')?.value;
      const value = condition ? this.valueOf(condition) : undefined;
      if (typeof value !== 'boolean') continue;
      if (name === 'skip' ? value : !value) return true;
    }
    return false;
  }
}
