import { buildSchema, parse, print, validate } from 'graphql';
import { acceptsIncrementalDelivery } from '../../gateway/defer-transport';
import { DeferredDelivery, deferredDeliveryOf, withDeferredDelivery } from '../../gateway/execution/defer';
import { documentWithoutDefer, withDeferDirective } from '../../gateway/execution/defer-schema';

describe('incremental delivery, in process', () => {
  it.each([
    ['multipart/mixed;deferSpec=20220824,application/json', true],
    ['multipart/mixed; deferSpec="20220824", application/json', true],
    ['application/json, multipart/mixed', true],
    ['multipart/mixed; deferSpec=20220824; q=0, application/json', false],
    ['multipart/mixed; incrementalSpec=v0.2', false],
    ['multipart/mixed; deferSpec=20230621', false],
    ['application/json', false],
    [undefined, false],
  ])('Accept %s takes the multipart answer: %s', (accept, expected) => {
    expect(acceptsIncrementalDelivery(accept)).toBe(expected);
  });

  it('validates a deferred query once the schema has @defer, and only then', () => {
    const schema = buildSchema('type Query { a: Int b: Int }');
    const document = parse('{ a ... @defer(label: "later") { b } }');
    expect(validate(schema, document).map((error) => error.message)).toEqual(['Unknown directive "@defer".']);
    const extended = withDeferDirective(schema);
    expect(validate(extended, document)).toEqual([]);
    expect(withDeferDirective(schema)).toBe(extended);
    expect(withDeferDirective(extended)).toBe(extended);
  });

  it('strips @defer for an executor that cannot defer, and leaves other documents as they are', () => {
    const deferred = parse('{ a ... @defer(label: "later") { b } ... on Query @include(if: true) @defer { c } }');
    expect(print(documentWithoutDefer(deferred))).toBe(
      print(parse('{ a ... { b } ... on Query @include(if: true) { c } }')),
    );
    const plain = parse('{ a }');
    expect(documentWithoutDefer(plain)).toBe(plain);
  });

  it('hands the executor the delivery through a shallow copy of the context, as Apollo Server makes one', () => {
    const delivery = new DeferredDelivery();
    const context = withDeferredDelivery({ caller: 'x' }, delivery);
    const copy = Object.assign(Object.create(Object.getPrototypeOf(context) as object) as object, context);
    expect(deferredDeliveryOf(copy)).toBe(delivery);
    expect(deferredDeliveryOf({ caller: 'x' })).toBeUndefined();
  });

  it('yields what was pushed, in order, waiting for more until it ends', async () => {
    const delivery = new DeferredDelivery();
    const seen: unknown[] = [];
    const reading = (async () => {
      for await (const payload of delivery) seen.push(payload.incremental[0]?.label);
    })();
    delivery.push({ incremental: [{ data: {}, path: [], label: 'one' }] });
    await Promise.resolve();
    delivery.push({ incremental: [{ data: {}, path: [], label: 'two' }] });
    delivery.end();
    await reading;
    expect(seen).toEqual(['one', 'two']);
  });
});
