/** `SET #a = :a, #b = :b` from a patch object; undefined fields are left alone. */
export const setExpression = (patch: Record<string, unknown>) => {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const sets: string[] = [];
  for (const [field, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    names[`#${field}`] = field;
    values[`:${field}`] = value;
    sets.push(`#${field} = :${field}`);
  }
  return { names, values, sets };
};

/** Conditions that keep a terminal status final; adds their values to `values`. Needs `#status` in the names. */
export const notTerminal = (terminal: readonly string[], values: Record<string, unknown>): string[] =>
  terminal.map((status, index) => {
    values[`:t${index}`] = status;
    return `#status <> :t${index}`;
  });

export const isConditionFailure = (error: unknown): boolean =>
  error instanceof Error && error.name === 'ConditionalCheckFailedException';
