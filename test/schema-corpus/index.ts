import type { CorpusCase } from './case.ts';
import { access } from './access.ts';
import { combinations } from './combinations.ts';
import { constraints } from './constraints.ts';
import { online } from './online.ts';
import { routines } from './routines.ts';
import { storage } from './storage.ts';
import { tables } from './tables.ts';
import { types } from './types.ts';
import { views } from './views.ts';

export const corpus: CorpusCase[] = [...tables, ...constraints, ...types, ...routines, ...views, ...access, ...storage, ...combinations, ...online];

const names = corpus.map((corpusCase) => corpusCase.name);
const repeated = names.filter((name, index) => names.indexOf(name) !== index);
if (repeated.length) throw new Error(`corpus case names must be unique: ${repeated.join(', ')}`);
