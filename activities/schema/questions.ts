// The questions a plan asks (rename or drop?) and how answers name them. Pure and deterministic: the
// planner uses it for answers given at deploy time, the workflow's `answer` validator for answers given
// while the promotion waits, so both read an answer the same way.

export type QuestionKind = 'schema' | 'role' | 'policy' | 'enum' | 'sequence' | 'table' | 'view' | 'column';

/** An object that is in prod but not in dev while new objects of its kind appear: renamed, or dropped? */
export interface Question {
  /** `kind:object`, stable for the same pair of schemas. */
  id: string;
  kind: QuestionKind;
  /** The object prod has and dev lacks, qualified (`public.users.name`). */
  object: string;
  /** New objects of the same kind it may have been renamed to, qualified the same way. */
  candidates: string[];
  /** The chosen candidate, or `drop`; absent while the question is open. */
  answer?: string;
}

/** `{questionId: candidate | 'drop'}` */
export type Answers = Record<string, string>;

/** The answer that drops the object (and creates the candidates as new objects). */
export const DROP = 'drop';

/** Answers as people give them: by question id, as `old=new` renames, or as objects to drop. */
export interface AnswerRequest {
  answers?: Answers;
  renames?: string[];
  drops?: string[];
}

export const openQuestions = (questions: Question[]) => questions.filter((question) => !question.answer);

/** `{id: answer}` of the questions already answered. */
export const answersOf = (questions: Question[]): Answers =>
  Object.fromEntries(questions.flatMap((question) => (question.answer ? [[question.id, question.answer]] : [])));

/** `old=new`, or why it is not. */
export function parseRename(text: string): { from: string; to: string } | string {
  const [from, to, ...rest] = typeof text === 'string' ? text.split('=') : [];
  if (!from?.trim() || !to?.trim() || rest.length) return `--rename ${JSON.stringify(text)}: expected old=new, e.g. users.name=users.full_name`;
  return { from: from.trim(), to: to.trim() };
}

/** `users.name` names `public.users.name`: an object is named by a suffix of its qualified name. */
const names = (qualified: string, suffix: string) => qualified === suffix || qualified.endsWith(`.${suffix}`);

/** The open question about `from` whose candidates include `to`. */
export function matchRename(rename: { from: string; to: string }, questions: Question[]): { questionId: string; answer: string } | undefined {
  for (const question of openQuestions(questions)) {
    if (!names(question.object, rename.from)) continue;
    const answer = question.candidates.find((candidate) => names(candidate, rename.to));
    if (answer) return { questionId: question.id, answer };
  }
  return undefined;
}

/** The open question about the object named `object`. */
export function matchDrop(object: unknown, questions: Question[]): Question | undefined {
  return typeof object === 'string' && object.trim() ? openQuestions(questions).find((question) => names(question.object, object.trim())) : undefined;
}

/** Why an answer by id does not fit the questions, if it does not. */
export function answerProblem(id: string, answer: unknown, questions: Question[]): string | undefined {
  const question = questions.find((candidate) => candidate.id === id);
  if (!question) return `answer for unknown question ${id}: the questions of this plan are ${questions.map((q) => q.id).join(', ') || '(none)'}`;
  if (answer !== DROP && !question.candidates.includes(answer as string)) {
    return `answer ${id}=${JSON.stringify(answer)}: choose one of ${[...question.candidates, DROP].join(', ')}`;
  }
  return undefined;
}

/**
 * Turns answers given by id, rename or drop into `{questionId: answer}` for the plan's open questions,
 * or says why it cannot. Each answer must close an open question, and none may be given twice.
 */
export function resolveAnswers(request: AnswerRequest, questions: Question[]): { answers: Answers } | { problem: string } {
  const open = openQuestions(questions);
  const answers: Answers = {};
  const give = (questionId: string, answer: string) => {
    if (questionId in answers) return `question ${questionId} is answered twice in one message`;
    answers[questionId] = answer;
    return undefined;
  };
  const asList = (value: unknown, name: string) => (value === undefined ? [] : Array.isArray(value) ? value : `${name} must be a list`);
  const renames = asList(request.renames, 'renames');
  const drops = asList(request.drops, 'drops');
  if (typeof renames === 'string') return { problem: renames };
  if (typeof drops === 'string') return { problem: drops };
  if (request.answers !== undefined && (typeof request.answers !== 'object' || request.answers === null || Array.isArray(request.answers))) {
    return { problem: 'answers must be one object of question id → answer, e.g. {"column:public.users.name": "public.users.full_name"}' };
  }
  for (const [id, answer] of Object.entries(request.answers ?? {})) {
    const problem = answerProblem(id, answer, questions) ?? (open.some((question) => question.id === id) ? undefined : `question ${id} is already answered`) ?? give(id, answer);
    if (problem) return { problem };
  }
  for (const text of renames) {
    const rename = parseRename(text);
    if (typeof rename === 'string') return { problem: rename };
    const match = matchRename(rename, open);
    if (!match) return { problem: `--rename ${text}: no open question is about an object named ${rename.from} with a candidate named ${rename.to}; the open questions are ${describe(open)}` };
    const problem = give(match.questionId, match.answer);
    if (problem) return { problem };
  }
  for (const object of drops) {
    const question = matchDrop(object, open);
    if (!question) return { problem: `--drop ${JSON.stringify(object)}: no open question is about an object of that name; the open questions are ${describe(open)}` };
    const problem = give(question.id, DROP);
    if (problem) return { problem };
  }
  if (!Object.keys(answers).length) return { problem: `give at least one answer (--rename old=new, --drop <object> or --answers FILE); the open questions are ${describe(open)}` };
  return { answers };
}

const describe = (questions: Question[]) =>
  questions.map((question) => `${question.object} (renamed to ${question.candidates.join(' or ')}, or dropped?)`).join('; ') || '(none)';
