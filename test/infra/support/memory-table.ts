import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';

/**
 * A DynamoDB table in memory behind a DocumentClient, for
 * simulations with thousands of items in virtual time (dynalite answers in real time). It
 * understands the expressions the stores write on the scheduled-backup path: conditions with
 * `attribute_exists`, `attribute_not_exists`, comparisons, AND/OR/NOT and parentheses; updates
 * with SET (`a = :v`, `a = a + :v`), ADD and REMOVE. Anything else fails loudly.
 */

type Item = Record<string, unknown>;
type Names = Record<string, string> | undefined;
type Values = Record<string, unknown> | undefined;

const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

const tokenize = (expression: string): string[] =>
  expression.match(/<>|<=|>=|[()=<>,+-]|[#:]?[A-Za-z_][\w.]*|\d+/g) ?? [];

class Expr {
  private at = 0;
  constructor(
    private readonly tokens: string[],
    private readonly names: Names,
    private readonly values: Values,
  ) {}

  private peek = (): string | undefined => this.tokens[this.at];
  private next = (): string => {
    const token = this.tokens[this.at++];
    if (token === undefined) throw new Error('memory table: the expression ends too soon');
    return token;
  };
  private expect(token: string) {
    const got = this.next();
    if (got !== token) throw new Error(`memory table: expected ${token}, got ${got}`);
  }

  path(token: string): string {
    if (token.startsWith('#')) {
      const name = this.names?.[token];
      if (!name) throw new Error(`memory table: no name for ${token}`);
      return name;
    }
    return token;
  }

  operand(item: Item): unknown {
    const token = this.next();
    if (token.startsWith(':')) {
      if (!this.values || !(token in this.values)) throw new Error(`memory table: no value for ${token}`);
      return this.values[token];
    }
    return item[this.path(token)];
  }

  condition(item: Item): boolean {
    let result = this.conjunction(item);
    while (this.peek() === 'OR') {
      this.next();
      result = this.conjunction(item) || result;
    }
    return result;
  }

  private conjunction(item: Item): boolean {
    let result = this.negation(item);
    while (this.peek() === 'AND') {
      this.next();
      result = this.negation(item) && result;
    }
    return result;
  }

  private negation(item: Item): boolean {
    if (this.peek() === 'NOT') {
      this.next();
      return !this.negation(item);
    }
    if (this.peek() === '(') {
      this.next();
      const result = this.condition(item);
      this.expect(')');
      return result;
    }
    const head = this.peek();
    if (head === 'attribute_exists' || head === 'attribute_not_exists' || head === 'begins_with') {
      this.next();
      this.expect('(');
      const path = this.path(this.next());
      if (head === 'begins_with') {
        this.expect(',');
        const prefix = this.operand(item) as string;
        this.expect(')');
        return typeof item[path] === 'string' && (item[path] as string).startsWith(prefix);
      }
      this.expect(')');
      return head === 'attribute_exists' ? item[path] !== undefined : item[path] === undefined;
    }
    const left = this.operand(item);
    const op = this.next();
    const right = this.operand(item);
    if (left === undefined && op !== '<>') return false;
    switch (op) {
      case '=':
        return left === right;
      case '<>':
        return left !== right;
      case '<':
        return (left as number) < (right as number);
      case '>':
        return (left as number) > (right as number);
      case '<=':
        return (left as number) <= (right as number);
      case '>=':
        return (left as number) >= (right as number);
      default:
        throw new Error(`memory table: operator ${op}`);
    }
  }

  done(): boolean {
    return this.at >= this.tokens.length;
  }

  update(item: Item): void {
    let clause = '';
    while (!this.done()) {
      const token = this.peek() as string;
      if (token === 'SET' || token === 'ADD' || token === 'REMOVE') {
        clause = this.next();
        continue;
      }
      if (token === ',') {
        this.next();
        continue;
      }
      const path = this.path(this.next());
      if (clause === 'REMOVE') {
        delete item[path];
      } else if (clause === 'ADD') {
        item[path] = ((item[path] as number | undefined) ?? 0) + (this.operand(item) as number);
      } else if (clause === 'SET') {
        this.expect('=');
        let value = this.operand(item);
        while (this.peek() === '+' || this.peek() === '-') {
          const sign = this.next() === '+' ? 1 : -1;
          value = (value as number) + sign * (this.operand(item) as number);
        }
        item[path] = value;
      } else {
        throw new Error(`memory table: update clause ${clause || token}`);
      }
    }
  }
}

const holds = (item: Item, expression: string | undefined, names: Names, values: Values): boolean =>
  expression === undefined || new Expr(tokenize(expression), names, values).condition(item);

export class MemoryTable {
  readonly items = new Map<string, Item>();
  /** Calls by command name, with the virtual time they were served at. */
  readonly calls: Array<{ command: string; at: number }> = [];

  private keyOf = (key: Item) => `${key.pk as string}\u0000${key.sk as string}`;

  /**
   * Serve `client` from this table: its `send` answers the document commands (a plain function:
   * aws-sdk-client-mock's sinon stub costs half a millisecond a call, too slow for the ~100,000
   * calls of a fan-out); `latencyMs` of virtual time per call; nothing once `alive` is false.
   */
  serve(client: DynamoDBDocumentClient, latencyMs = 0, alive = { value: true }) {
    const send = async (command: { input: object }) => {
      if (!alive.value) throw new Error('the execution environment was shut down');
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      const name = command.constructor.name;
      this.calls.push({ command: name, at: Date.now() });
      return this.answer(command, name);
    };
    Object.assign(client, { send });
  }

  private answer(command: { input: object }, name: string): unknown {
    const input = command.input as {
      Key: Item;
      Item: Item;
      ConditionExpression?: string;
      UpdateExpression: string;
      ReturnValues?: string;
      ExpressionAttributeNames?: Names;
      ExpressionAttributeValues?: Values;
    };
    const names = input.ExpressionAttributeNames as Names;
    const values = input.ExpressionAttributeValues as Values;
    if (command instanceof GetCommand) {
      const item = this.items.get(this.keyOf(input.Key));
      return { Item: item ? structuredClone(item) : undefined };
    }
    if (
      command instanceof PutCommand ||
      command instanceof UpdateCommand ||
      command instanceof DeleteCommand
    ) {
      const key = this.keyOf(command instanceof PutCommand ? input.Item : input.Key);
      const current = this.items.get(key) ?? {};
      if (!holds(current, input.ConditionExpression, names, values)) throw conditionFailed();
      if (command instanceof DeleteCommand) {
        this.items.delete(key);
        return {};
      }
      if (command instanceof PutCommand) {
        this.items.set(key, structuredClone(input.Item));
        return {};
      }
      const updated = { ...structuredClone(current), ...input.Key };
      new Expr(tokenize(input.UpdateExpression), names, values).update(updated);
      this.items.set(key, updated);
      return { Attributes: input.ReturnValues === 'ALL_NEW' ? structuredClone(updated) : undefined };
    }
    throw new Error(`memory table: ${name} is not on the scheduled-backup path`);
  }

  /** Items whose sort key starts with `prefix`. */
  withSortKeyPrefix(prefix: string): Item[] {
    return [...this.items.values()].filter((item) => (item.sk as string).startsWith(prefix));
  }
}
