// The one quoting helper for SQL that pgpromote writes: dev's names and texts are untrusted input.

/** An identifier, always quoted: `a"b` → `"a""b"`. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `schema.name`, both quoted. */
export function qualified(schema: string, name: string): string {
  return `${ident(schema)}.${ident(name)}`;
}

/** A string literal. Quotes are doubled; a text with a backslash is written as an escape string
 * (`E'a\\b'`) with its backslashes doubled too, because a plain literal reads backslashes as escapes
 * when the session has standard_conforming_strings off, and pgpromote does not control the session's
 * settings of every server it plans for. */
export function literal(text: string): string {
  const quoted = text.replace(/'/g, "''");
  return text.includes('\\') ? `E'${quoted.replace(/\\/g, '\\\\')}'` : `'${quoted}'`;
}
