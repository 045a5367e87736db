import Ajv2020 from 'ajv/dist/2020';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
}

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/**
 * Checks a gateway answer against the OpenAPI document that gateway serves: the route and the status must be
 * documented, and a JSON body must match the response's schema (JSON Schema 2020-12, as OpenAPI 3.1 writes it, with
 * its `$ref`s into the document's components). Returns what is wrong, or undefined.
 */
export function openApiContract(
  doc: unknown,
): (method: string, path: string, status: number, body: unknown) => string | undefined {
  const d = doc as Document;
  const ajv = new Ajv2020({ strict: false, validateFormats: false, validateSchema: false, allErrors: true });
  ajv.addSchema(d, 'openapi');
  const templates = Object.keys(d.paths).map((t) => ({
    template: t,
    pattern: new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }));
  return (method, path, status, body) => {
    const route = path.split('?')[0] ?? path;
    const template = templates.find((t) => t.pattern.test(route))?.template;
    // What the document does not describe must be refused as such, with the documented error body.
    const refused = (expected: number, what: string) =>
      status !== expected
        ? `${method} ${route}: ${what}, answered ${status} instead of ${expected}`
        : validateAt(`openapi#/${pointer('components', 'schemas', 'Error')}`, `${method} ${route} ${status}`, body);
    if (template === undefined) return refused(404, 'no such path in the document');
    const op = d.paths[template]?.[method.toLowerCase()];
    if (!op) return refused(405, 'method not documented');
    const response = op.responses[String(status)];
    if (!response) return `${method} ${template}: status ${status} not documented`;
    const schema = response.content?.['application/json']?.schema;
    if (body === undefined) return undefined;
    if (schema === undefined) return `${method} ${template} ${status}: a JSON body, but none documented`;
    const ref = `openapi#/${pointer('paths', template, method.toLowerCase(), 'responses', String(status), 'content', 'application/json', 'schema')}`;
    return validateAt(ref, `${method} ${template} ${status}`, body);
  };

  function validateAt(ref: string, what: string, body: unknown): string | undefined {
    const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
    return validate(body)
      ? undefined
      : `${what}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(body).slice(0, 300)}`;
  }
}

/** One answer a gateway gave a test. */
export interface RecordedAnswer {
  method: string;
  path: string;
  status: number;
  body: unknown;
}

/**
 * Collects every answer a suite's clients get (pass `record` to `httpClient`), so that the suite can end by checking
 * them all against the OpenAPI document: `violations(doc)` lists what the document does not say, each once.
 */
export function answerRecorder(): {
  answers: RecordedAnswer[];
  record: (request: { method: string; path: string }, reply: { status: number; body: unknown }) => void;
  violations: (doc: unknown) => string[];
} {
  const answers: RecordedAnswer[] = [];
  return {
    answers,
    record: ({ method, path }, reply) => answers.push({ method, path, status: reply.status, body: reply.body }),
    violations(doc) {
      const check = openApiContract(doc);
      return [...new Set(answers.map((a) => check(a.method, a.path, a.status, a.body)).filter((e) => e !== undefined))];
    },
  };
}
