// Types of cli-build.mjs (plain JS, so that bin/pgpromote.mjs runs it without tsx).
export declare const CLI_ENTRY: string;
export declare function cliBuildProblem(): string | undefined;
export declare function buildCli(): Promise<void>;
