// What the command line gets wrong, kept apart from the Temporal client so that the CLI can load it at
// start-up for nothing (`pgpromote --help` loads no Temporal, drizzle-kit or Postgres module).
import { readFileSync } from 'node:fs';
import type { Answers } from '../activities/schema/questions.ts';

/** Something the user asked for cannot be done as asked; the message says what to do. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** An argument or option is wrong as written (empty, unreadable, at odds with another): the command exits 2, as for commander's own usage errors. */
export class ArgumentError extends UsageError {
  override name = 'ArgumentError';
}

/** Reads a `{questionId: answer}` JSON file. */
export function readAnswers(file: string): Answers {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ArgumentError(`cannot read answers from ${file}: ${(error as Error).message}; expected JSON like {"column:public.users.name": "public.users.full_name"}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
    throw new ArgumentError(`answers file ${file} must hold one JSON object of question id → answer (a candidate or "drop")`);
  }
  return parsed as Answers;
}
