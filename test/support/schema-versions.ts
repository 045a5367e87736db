/**
 * A copy of `schema` without the named fields of the record named `record` wherever it is defined inside it: the
 * shape an earlier version of the schema had, for writing records as an earlier release did.
 */
export function withoutFields(schema: object, record: string, fields: readonly string[]): object {
  const copy = structuredClone(schema);
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      const n = node as { name?: unknown; fields?: { name: string }[] };
      if (n.name === record && Array.isArray(n.fields)) n.fields = n.fields.filter((f) => !fields.includes(f.name));
      Object.values(node).forEach(visit);
    }
  };
  visit(copy);
  return copy;
}
