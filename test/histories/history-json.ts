// Histories as JSON in the form Temporal's own tools write (`temporal workflow show --output json`).
// @temporalio/common's historyToJSON/historyFromJSON would do, but they use their own copy of
// protobufjs, which does not recognise the types of @temporalio/proto's copy when npm installs two
// (as it does here: "type must be a Type"); this is the same conversion with @temporalio/proto's copy.
import { createRequire } from 'node:module';
import type { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
interface ProtoType { fromObject(value: unknown): unknown }
interface ProtoJson {
  toJson(type: ProtoType, message: unknown): unknown;
  fromJson(type: ProtoType, json: unknown, options: { ignoreUnknownFields: boolean }): unknown;
}

const fromHere = createRequire(import.meta.url);
const fromProto = createRequire(fromHere.resolve('@temporalio/proto'));
const { patchProtobufRoot } = fromProto('@temporalio/proto/lib/patch-protobuf-root') as { patchProtobufRoot<T>(root: T): T & { lookupType(name: string): ProtoType } };
const { toJson, fromJson } = fromProto('protobufjs/ext/protojson') as ProtoJson;
const historyType = patchProtobufRoot(fromProto('@temporalio/proto') as object).lookupType('temporal.api.history.v1.History');

export function historyToJSON(history: History): string {
  return `${JSON.stringify(toJson(historyType, historyType.fromObject(history)), null, 2)}\n`;
}

export function historyFromJSON(json: string): History {
  // Fields a newer server or SDK added are ignored, as Temporal's own loader does.
  return fromJson(historyType, JSON.parse(json), { ignoreUnknownFields: true }) as History;
}
