/**
 * PostgreSQL text cannot hold the NUL character (SQLite's can), and a function's output tails
 * and error messages may contain one. On PostgreSQL every string parameter has its NULs replaced
 * with U+FFFD, the character bytes that are not text already become, so the same queries store
 * any output instead of failing.
 */
import {
  type KyselyPlugin,
  OperationNodeTransformer,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type PrimitiveValueListNode,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
  type ValueNode,
} from 'kysely';

const clean = (v: unknown): unknown =>
  typeof v === 'string' && v.includes('\0') ? v.replaceAll('\0', '\uFFFD') : v;

class NulTransformer extends OperationNodeTransformer {
  protected override transformValue(node: ValueNode): ValueNode {
    const value = clean(node.value);
    return value === node.value ? node : { ...node, value };
  }

  protected override transformPrimitiveValueList(node: PrimitiveValueListNode): PrimitiveValueListNode {
    return node.values.some((v) => clean(v) !== v) ? { ...node, values: node.values.map(clean) } : node;
  }
}

export class NulToReplacementPlugin implements KyselyPlugin {
  private readonly t = new NulTransformer();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return this.t.transformNode(args.node);
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}
