import type { CorpusCase } from './case.ts';
import { tables } from './tables.ts';

export const corpus: CorpusCase[] = [...tables];

const names = corpus.map((corpusCase) => corpusCase.name);
const repeated = names.filter((name, index) => names.indexOf(name) !== index);
if (repeated.length) throw new Error(`corpus case names must be unique: ${repeated.join(', ')}`);
