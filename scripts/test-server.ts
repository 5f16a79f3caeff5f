// Temporal's time-skipping test server, for the tests of the workflow's timed paths (a 7-day approval
// timeout takes no real time on it). @temporalio/testing downloads it at run time from temporal.download,
// which may not be reachable; it is published on Maven Central as a Java artifact, so we resolve it
// with Maven into .tools/test-server/<version>/ and write a launcher, run as `<launcher> <port>` (as
// createTimeSkipping runs an 'existing-path' executable).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isExecutable, onPath, startServerProcess } from './temporal.ts';
import { freePort } from './ports.ts';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
/** io.temporal:temporal-test-server; checked with @temporalio/* 1.24 (updates with validators, time skipping). */
export const TEST_SERVER_VERSION = '1.38.0';
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
const DIR = path.join(ROOT, '.tools', 'test-server', TEST_SERVER_VERSION);
const LAUNCHER = path.join(DIR, 'temporal-test-server');

const INSTALL_ADVICE =
  'Run `npm run setup -- --test-server` (it resolves io.temporal:temporal-test-server from Maven Central into .tools/test-server; ' +
  'needs a Java 11+ runtime and Maven, e.g. `apt-get install openjdk-17-jre-headless maven`), ' +
  'or set TEMPORAL_TEST_SERVER to an executable that runs the test server on the port given as its first argument.';

/** $TEMPORAL_TEST_SERVER, else the project's launcher; undefined when neither is there. */
export function findTestServer(): string | undefined {
  const fromEnv = process.env.TEMPORAL_TEST_SERVER;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TEMPORAL_TEST_SERVER=${fromEnv} is not an executable file. ${INSTALL_ADVICE}`);
    return fromEnv;
  }
  return isExecutable(LAUNCHER) ? LAUNCHER : undefined;
}

export function requireTestServer(): string {
  const found = findTestServer();
  if (!found) throw new Error(`Temporal's time-skipping test server is not installed. ${INSTALL_ADVICE}`);
  return found;
}

// A pom only for resolving the server and its runtime dependencies; slf4j-nop silences SLF4J's
// "no logger" warning that the server prints otherwise.
const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pgpromote.tools</groupId>
  <artifactId>temporal-test-server</artifactId>
  <version>${TEST_SERVER_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId><version>${TEST_SERVER_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-nop</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
`;

const shellQuote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

export async function installTestServer(): Promise<string> {
  const found = findTestServer();
  if (found) return found;
  const java = onPath('java');
  const mvn = onPath('mvn');
  if (!java || !mvn) throw new Error(`${[!java && 'java', !mvn && 'mvn'].filter(Boolean).join(' and ')} not found on PATH. ${INSTALL_ADVICE}`);
  console.error(`pgpromote setup: resolving io.temporal:temporal-test-server:${TEST_SERVER_VERSION} from Maven Central into ${path.relative(ROOT, DIR)}…`);
  mkdirSync(DIR, { recursive: true });
  writeFileSync(path.join(DIR, 'pom.xml'), POM);
  const classpathFile = path.join(DIR, 'classpath.txt');
  // The local repository stays inside .tools: nothing is written to ~/.m2.
  const args = ['-B', '-q', '-Dstyle.color=never', '-f', path.join(DIR, 'pom.xml'), `-Dmaven.repo.local=${path.join(DIR, 'm2')}`,
    `${DEPENDENCY_PLUGIN}:build-classpath`, '-DincludeScope=runtime', `-Dmdep.outputFile=${classpathFile}`];
  const result = spawnSync(mvn, args, { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`\`mvn ${args.join(' ')}\` failed (exit ${result.status ?? result.signal}). ${INSTALL_ADVICE}`);
  const classpath = readFileSync(classpathFile, 'utf8').trim();
  // `exec`: whoever stops the server kills the process it started, which must be the JVM itself.
  // Serial GC and the C1 compiler only: the JVM starts faster.
  writeFileSync(LAUNCHER, [
    '#!/bin/sh',
    `# Temporal's time-skipping test server ${TEST_SERVER_VERSION} (Maven Central), installed by \`npm run setup -- --test-server\`.`,
    '# Usage: temporal-test-server <port>',
    `exec ${shellQuote(java)} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp ${shellQuote(classpath)} io.temporal.testserver.TestServer "$@"`,
    '',
  ].join('\n'), { mode: 0o755 });
  return LAUNCHER;
}

/**
 * Starts the test server on a free port and waits until it answers. (createTimeSkipping waits only
 * 5 s, which the JVM misses on a busy machine: 6-7 s at load 15 on 2 cores.)
 */
export async function startTestServer(options: { logFile?: string } = {}): Promise<{ address: string; stop(): Promise<void> }> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const stop = await startServerProcess("Temporal's test server", requireTestServer(), [String(port)], address, options);
  return { address, stop };
}
