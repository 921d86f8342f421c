/**
 * The machine-readable results of each command. `--format json` prints these objects as they are, so their
 * shape is a public contract (documented in docs/schema-checks.md): add fields freely, but rename or remove
 * one only together with a new REPORT_VERSION.
 */
import type { CompositionIssue, Freshness } from './compose';
import type { HopCount } from './hops';
import type { OperationFileProblem } from './operations';
import type { ChangeCode, Severity } from './diff';

export const REPORT_VERSION = 1;

export type SectionStatus = 'pass' | 'fail' | 'skipped';

export interface OperationRef {
  readonly name: string;
  readonly file: string;
}

export interface ChangeEntry {
  readonly severity: Severity;
  readonly code: ChangeCode;
  readonly coordinate: string;
  readonly message: string;
}

export interface CheckedChangeEntry extends ChangeEntry {
  /** Client operations that use what changed; a breaking change with operations here fails the check. */
  readonly operations: readonly OperationRef[];
}

export interface ChangeSummary {
  readonly breaking: number;
  readonly dangerous: number;
  readonly safe: number;
}

export interface CompositionSection {
  readonly status: SectionStatus;
  readonly errors: readonly CompositionIssue[];
  readonly hints: readonly CompositionIssue[];
  /** The committed supergraph and whether it matches the SDLs; null when composition failed. */
  readonly supergraph: { readonly file: string; readonly freshness: Freshness } | null;
}

export interface ChangesSection {
  readonly status: SectionStatus;
  readonly skippedReason: string | null;
  readonly base: string | null;
  readonly summary: ChangeSummary;
  readonly changes: readonly CheckedChangeEntry[];
}

export interface OperationResult extends OperationRef {
  readonly kind: 'query' | 'mutation' | 'subscription';
  readonly status: 'pass' | 'fail';
  /** Validation errors against the new API schema. */
  readonly errors: readonly { readonly code: 'GRAPHQL_VALIDATION_FAILED'; readonly message: string }[];
  /** Coordinates of breaking changes this operation uses. */
  readonly breakingChanges: readonly string[];
}

export interface OperationsSection {
  readonly status: SectionStatus;
  readonly skippedReason: string | null;
  readonly directory: string;
  readonly operations: readonly OperationResult[];
  readonly problems: readonly OperationFileProblem[];
}

export interface HopResult extends OperationRef, HopCount {
  readonly status: 'pass' | 'fail';
  /** The same operation planned over the base supergraph; null when there is none or it did not plan there. */
  readonly base: HopCount | null;
  readonly budget: number | null;
  readonly regressed: boolean;
  readonly overBudget: boolean;
  /** Set when the operation could not be planned; then the counts are 0. */
  readonly error: string | null;
}

export interface HopsSection {
  readonly status: SectionStatus;
  readonly skippedReason: string | null;
  readonly defaultBudget: number | null;
  readonly operations: readonly HopResult[];
}

export interface CostResult extends OperationRef {
  readonly status: 'pass' | 'fail';
  /** Static cost from `@cost` and `@listSize`, as the gateway computes it (variables at their defaults). */
  readonly cost: number;
  /** The same operation costed over the base supergraph; null when there is none or it was not valid there. */
  readonly base: number | null;
  readonly budget: number | null;
  readonly overBudget: boolean;
}

export interface CostSection {
  readonly status: SectionStatus;
  readonly skippedReason: string | null;
  readonly defaultBudget: number | null;
  /** The list size assumed where the schema gives none (`checks.default_list_size`, the gateway's default 10). */
  readonly defaultListSize: number;
  readonly operations: readonly CostResult[];
}

export interface CheckReport {
  readonly version: typeof REPORT_VERSION;
  readonly command: 'check';
  readonly ok: boolean;
  readonly exitCode: 0 | 1;
  readonly config: string;
  readonly subgraphs: readonly string[];
  readonly checks: {
    readonly composition: CompositionSection;
    readonly changes: ChangesSection;
    readonly operations: OperationsSection;
    readonly hops: HopsSection;
    readonly cost: CostSection;
  };
}

export interface DiffReport {
  readonly version: typeof REPORT_VERSION;
  readonly command: 'diff';
  readonly ok: boolean;
  readonly exitCode: 0 | 1;
  readonly base: string;
  readonly target: string;
  /** Errors composing the target from the config; then there are no changes to report. */
  readonly compositionErrors: readonly CompositionIssue[];
  readonly summary: ChangeSummary;
  readonly changes: readonly ChangeEntry[];
}

export interface PlanReport extends HopCount {
  readonly version: typeof REPORT_VERSION;
  readonly command: 'plan';
  readonly operation: string;
  readonly file: string;
  readonly supergraph: string;
  /** The plan as the query planner prints it. */
  readonly plan: string;
}

export function summarise(changes: readonly { severity: Severity }[]): ChangeSummary {
  const count = (severity: Severity) => changes.filter((change) => change.severity === severity).length;
  return { breaking: count('breaking'), dangerous: count('dangerous'), safe: count('safe') };
}
